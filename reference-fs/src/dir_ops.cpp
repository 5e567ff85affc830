// memfs directory handles: opendir/readdir/releasedir. readdir lists '.', '..' and then the
// entries newest first by cookie, resuming strictly past the cookie the kernel hands back,
// so concurrent inserts and unlinks never make it skip or repeat a surviving entry.
#include "state.hpp"

namespace memfs {

using fusepp::FileHandleT;

Reply<FileHandleT> MemFs::opendir(InodeT inode_id, fusepp::FlagT flags, const fusepp::RequestContext& ctx) {
  State& state = *state_;
  Caller caller(ctx);
  std::lock_guard lock(state.mutex);
  Inode* inode = state.find(inode_id);
  if (!inode) co_return FUSEError(ENOENT);
  if (!inode->is_dir()) co_return FUSEError(ENOTDIR);
  // The kernel opens directories for reading only (EISDIR for anything else before we hear).
  if (!state.may(*inode, R_OK, caller)) co_return FUSEError(EACCES);
  uint64_t fh = state.next_fh++;
  state.open_files.emplace(fh, OpenFile{inode->ino, flags | O_DIRECTORY});
  inode->open_count++;
  co_return FileHandleT{fh};
}

fusepp::Result<void> list_directory(State& state, FileHandleT fh, off_t start_id, const DirentSink& sink) {
  auto file = state.open_files.find(fh);
  if (file == state.open_files.end()) return FUSEError(EBADF);
  Inode& dir = *state.find(file->second.ino);
  if (dir.nlink == 0) return FUSEError(ENOENT);  // iterate_dir() on a removed directory
  if (!(file->second.flags & O_NOATIME)) state.touch_atime(dir);
  if (start_id < kDotCookie && !sink(".", state.attributes(dir), kDotCookie, nullptr)) return fusepp::ok;
  if (start_id < kDotDotCookie && !sink("..", state.attributes(*state.find(dir.dir->parent)), kDotDotCookie, nullptr)) {
    return fusepp::ok;
  }
  // Newest first, like tmpfs on this kernel. Resuming at cookie c lists the entries older
  // than c; names created meanwhile are newer and so are simply not part of this pass.
  uint64_t before = start_id <= kDotDotCookie ? UINT64_MAX : static_cast<uint64_t>(start_id);
  dir.dir->visit_newest_first(before, [&](uint64_t cookie, const DirEntry& entry) {
    Inode& child = *state.find(entry.ino);
    return sink(entry.name, state.attributes(child), static_cast<off_t>(cookie), &child);
  });
  return fusepp::ok;
}

Reply<void> MemFs::readdir(FileHandleT fh, off_t start_id, fusepp::ReaddirToken& token) {
  State& state = *state_;
  std::lock_guard lock(state.mutex);
  co_return list_directory(state, fh, start_id,
                           [&](std::string_view name, const fusepp::EntryAttributes& attr, off_t cookie, Inode* child) {
                             if (!fusepp::readdir_reply(token, name, attr, cookie)) return false;
                             if (child && token.plus() && count_readdirplus_)
                               child->lookup_count++;  // READDIRPLUS hands the kernel a reference
                             return true;
                           });
}

Reply<void> MemFs::releasedir(FileHandleT fh) { co_return co_await release(fh); }

Reply<void> MemFs::fsyncdir(FileHandleT, bool) { co_return fusepp::ok; }

}  // namespace memfs
