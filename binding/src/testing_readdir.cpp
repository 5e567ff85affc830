// fusepp::testing::readdir_directly: runs a filesystem's readdir handler against a reply
// buffer of a chosen size without the kernel, then decodes what readdir_reply() wrote the
// way the kernel would (struct fuse_dirent / fuse_direntplus from <linux/fuse.h>).
#include <linux/fuse.h>

#include <cstddef>
#include <cstring>

#include "fusepp/testing.hpp"

namespace fusepp::testing {

namespace {

// Decodes a READDIR or READDIRPLUS reply body; malformed records end the list (libfuse wrote
// them, so that would be a fusepp bug, and the test comparing entries would show it).
std::vector<ReaddirEntry> decode(const std::string& body, bool plus) {
  std::vector<ReaddirEntry> entries;
  size_t pos = 0;
  const size_t header = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
  while (pos + header <= body.size()) {
    fuse_dirent dirent;
    std::memcpy(&dirent, body.data() + pos + (plus ? offsetof(fuse_direntplus, dirent) : 0), sizeof dirent);
    size_t record = FUSE_DIRENT_ALIGN(header + dirent.namelen);
    if (pos + header + dirent.namelen > body.size()) break;
    entries.push_back(ReaddirEntry{.name = body.substr(pos + header, dirent.namelen),
                                   .ino = dirent.ino,
                                   .type = dirent.type,
                                   .next_id = static_cast<off_t>(dirent.off)});
    pos += record;
  }
  return entries;
}

}  // namespace

Result<std::vector<ReaddirEntry>> readdir_directly(Operations& ops, FileHandleT fh, off_t start_id, size_t buffer_size,
                                                   bool plus) {
  // libfuse's fuse_add_direntry*() never look at the request, so a token without one is safe.
  ReaddirToken token(nullptr, buffer_size, plus);
  token.buffer_.reserve(buffer_size);
  Result<void> result = run_handler(ops.readdir(fh, start_id, token));
  if (!result.ok()) return FUSEError(result.error());
  return decode(token.buffer_, plus);
}

}  // namespace fusepp::testing
