// Variants with one readdir bug each: no '.' and '..', d_ino differing from st_ino, d_type
// wrong in large directories, cookies that skip an entry, the pyfuse3#5 bug (ignoring
// readdir_reply()'s "buffer full" answer), and READDIRPLUS references not counted.
#include "catalog.hpp"

namespace memfs::variants {

using fusepp::FileHandleT;
using fusepp::FUSEError;
using fusepp::Reply;

namespace {

struct ReaddirQuirks {
  bool skip_dots = false;
  // Added to the d_ino of '.' and '..', and of every entry in a plain READDIR (fusepp ties a
  // READDIRPLUS entry's d_ino to its node id, so there it cannot differ).
  uint64_t ino_offset = 0;
  // Directories past the 64th entry ever made in a directory are listed as regular files
  // (under READDIRPLUS the kernel takes that type for the inode, as it would from a real
  // filesystem with this bug).
  bool late_dirs_as_files = false;
  // next_id one below the entry's cookie: resuming at a buffer boundary skips the next entry
  // (one above would repeat the last entry forever at the end of the directory).
  bool cookie_off_by_one = false;
  bool ignore_buffer_full = false;   // pyfuse3#5: keep offering entries after a refusal
  bool uncounted_plus = false;       // READDIRPLUS entries do not raise the lookup count
};

// memfs's readdir (src/dir_ops.cpp) with the quirks applied.
template <ReaddirQuirks kQuirks>
class QuirkyReaddirFs : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<void> readdir(FileHandleT fh, off_t start_id, fusepp::ReaddirToken& token) override {
    co_return with_state([&](State& state) { return list(state, fh, start_id, token); });
  }

 private:
  static constexpr off_t kDotCookie = 1;
  static constexpr off_t kDotDotCookie = 2;

  static fusepp::Result<void> list(State& state, FileHandleT fh, off_t start_id, fusepp::ReaddirToken& token) {
    auto file = state.open_files.find(fh);
    if (file == state.open_files.end()) return FUSEError(EBADF);
    Inode& dir = *state.find(file->second.ino);
    if (dir.nlink == 0) return FUSEError(ENOENT);
    state.touch_atime(dir);
    if (!kQuirks.skip_dots) {
      if (start_id < kDotCookie && !fusepp::readdir_reply(token, ".", dot_attributes(state, dir), kDotCookie)) {
        return fusepp::ok;
      }
      if (start_id < kDotDotCookie &&
          !fusepp::readdir_reply(token, "..", dot_attributes(state, *state.find(dir.dir->parent)), kDotDotCookie)) {
        return fusepp::ok;
      }
    }
    const auto& entries = dir.dir->by_cookie();
    auto it = start_id <= kDotDotCookie ? entries.end() : entries.lower_bound(static_cast<uint64_t>(start_id));
    while (it != entries.begin()) {
      --it;
      Inode& child = *state.find(it->second.ino);
      fusepp::EntryAttributes attr = state.attributes(child);
      if (!token.plus()) attr.st_ino = fusepp::InodeT{attr.st_ino + kQuirks.ino_offset};
      if (kQuirks.late_dirs_as_files && it->first >= kFirstEntryCookie + 64 && child.is_dir()) {
        attr.st_mode = fusepp::ModeT{S_IFREG | (child.mode & 07777)};
      }
      off_t next = static_cast<off_t>(it->first);
      if (kQuirks.cookie_off_by_one && next - 1 > kDotDotCookie) next -= 1;
      if (!fusepp::readdir_reply(token, it->second.name, attr, next)) {
        if (kQuirks.ignore_buffer_full) continue;
        break;
      }
      if (token.plus() && !kQuirks.uncounted_plus) child.lookup_count++;
    }
    return fusepp::ok;
  }

  static fusepp::EntryAttributes dot_attributes(State& state, const Inode& inode) {
    fusepp::EntryAttributes attr = state.attributes(inode);
    attr.st_ino = fusepp::InodeT{attr.st_ino + kQuirks.ino_offset};
    return attr;
  }
};

}  // namespace

std::vector<CatalogEntry> directory_variants() {
  return {
      entry<QuirkyReaddirFs<ReaddirQuirks{.skip_dots = true}>>("readdir-no-dots", "crude",
                                                                 "readdir lists neither '.' nor '..'"),
      entry<QuirkyReaddirFs<ReaddirQuirks{.ino_offset = 1000}>>(
          "readdir-ino-differs", "st_ino vs d_ino",
          "'.' and '..' (and entries of a plain READDIR) have d_ino = st_ino + 1000"),
      entry<QuirkyReaddirFs<ReaddirQuirks{.late_dirs_as_files = true}>>(
          "readdir-dtype-wrong", "readdir d_type in large directories",
          "directories past the 64th entry made in a directory are listed as regular files"),
      entry<QuirkyReaddirFs<ReaddirQuirks{.cookie_off_by_one = true}>>(
          "readdir-cookie-skips", "readdir cookies",
          "each entry's cookie is one too low, so resuming after a full buffer skips an entry"),
      entry<QuirkyReaddirFs<ReaddirQuirks{.ignore_buffer_full = true}>>(
          "readdir-ignores-buffer-full", "readdir buffer (pyfuse3#5)",
          "after readdir_reply() refuses an entry, shorter later ones are still offered, so the refused one is lost"),
      entry<QuirkyReaddirFs<ReaddirQuirks{.uncounted_plus = true}>>(
          "readdirplus-uncounted", "lookup counting", "READDIRPLUS entries do not raise the lookup count"),
  };
}

}  // namespace memfs::variants
