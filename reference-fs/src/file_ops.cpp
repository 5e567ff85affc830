// memfs regular-file operations: open/create/release, read and write over sparse page
// maps, fallocate (allocate, KEEP_SIZE, PUNCH_HOLE), SEEK_DATA/SEEK_HOLE and
// copy_file_range, with tmpfs's timestamp and accounting rules.
#include <fcntl.h>
#include <linux/falloc.h>

#include "state.hpp"

namespace memfs {

using fusepp::FileHandleT;
using fusepp::FileInfo;

namespace {

int access_mask(int flags) {
  int mask = 0;
  int mode = flags & O_ACCMODE;
  if (mode == O_RDONLY || mode == O_RDWR) mask |= R_OK;
  if (mode == O_WRONLY || mode == O_RDWR) mask |= W_OK;
  if (flags & O_TRUNC) mask |= W_OK;  // may_open(): truncating needs write access
  return mask;
}

FileInfo open_handle(State& state, Inode& inode, int flags) {
  uint64_t fh = state.next_fh++;
  state.open_files.emplace(fh, OpenFile{inode.ino, flags});
  inode.open_count++;
  FileInfo info;
  info.fh = FileHandleT{fh};
  // Reads must reach memfs so that atime follows tmpfs's relatime rule; the kernel's
  // page cache would otherwise answer repeated reads.
  info.keep_cache = false;
  return info;
}

}  // namespace

Reply<FileInfo> MemFs::open(InodeT inode_id, fusepp::FlagT flags, const RequestContext& ctx) {
  State& state = *state_;
  Caller caller(ctx);
  std::lock_guard lock(state.mutex);
  Inode* inode = state.find(inode_id);
  if (!inode) co_return FUSEError(ENOENT);
  if (inode->is_dir()) co_return FUSEError(EISDIR);
  if (!state.may(*inode, access_mask(flags), caller)) co_return FUSEError(EACCES);
  if ((flags & O_TRUNC) && inode->is_reg()) {
    // With atomic_o_trunc the kernel leaves truncation, and so the setuid/setgid removal
    // that goes with it (do_truncate), to us; a caller with CAP_FSETID keeps them.
    state.resize(*inode, 0);
    inode->mtime_ns = inode->ctime_ns = now_ns();
    state.drop_setid_after_change(*inode, caller);
  }
  co_return open_handle(state, *inode, flags);
}

Reply<std::pair<FileInfo, EntryAttributes>> MemFs::create(InodeT parent_inode, std::string_view name,
                                                          fusepp::ModeT mode, fusepp::FlagT flags,
                                                          const RequestContext& ctx) {
  State& state = *state_;
  Caller caller(ctx);
  std::lock_guard lock(state.mutex);
  auto parent = state.parent_for_new_name(parent_inode, name, caller);
  if (!parent) co_return FUSEError(parent.error());
  auto created = state.create_inode(**parent, name, S_IFREG | (mode & 07777), caller);
  if (!created) co_return FUSEError(created.error());
  Inode& inode = **created;
  (*parent)->mtime_ns = (*parent)->ctime_ns = inode.ctime_ns;
  FileInfo info = open_handle(state, inode, flags);
  co_return std::pair{info, state.reference(inode)};
}

namespace {

// The inode behind a handle being read, its atime moved as tmpfs would. The caller holds the
// lock.
fusepp::Result<Inode*> inode_to_read(State& state, FileHandleT fh, off_t off) {
  auto file = state.open_files.find(fh);
  if (file == state.open_files.end()) return FUSEError(EBADF);
  if (off < 0) return FUSEError(EINVAL);
  Inode& inode = *state.find(file->second.ino);
  // The flags are the ones open() saw: FUSE does not tell memfs about a later
  // fcntl(F_SETFL, O_NOATIME), which tmpfs would honour.
  if (!(file->second.flags & O_NOATIME)) state.touch_atime(inode);
  return &inode;
}

}  // namespace

Reply<std::string> MemFs::read(FileHandleT fh, off_t off, size_t size) {
  State& state = *state_;
  std::lock_guard lock(state.mutex);
  auto inode = inode_to_read(state, fh, off);
  if (!inode) co_return FUSEError(inode.error());
  co_return state.load(**inode, static_cast<uint64_t>(off), size);
}

Reply<fusepp::ReadData> MemFs::read_data(FileHandleT fh, off_t off, size_t size, const RequestContext&) {
  State& state = *state_;
  auto lock = std::make_shared<std::unique_lock<StateMutex>>(state.mutex);
  auto inode = inode_to_read(state, fh, off);
  if (!inode) co_return FUSEError(inode.error());
  fusepp::ReadData data;
  state.view(**inode, static_cast<uint64_t>(off), size, data);
  data.keep_alive = std::move(lock);  // held until the binding has written the reply
  co_return data;
}

Reply<size_t> MemFs::write(FileHandleT fh, off_t off, std::string_view buf, const RequestContext& ctx) {
  State& state = *state_;
  Caller caller(ctx);
  std::lock_guard lock(state.mutex);
  auto file = state.open_files.find(fh);
  if (file == state.open_files.end()) co_return FUSEError(EBADF);
  Inode& inode = *state.find(file->second.ino);
  // The kernel computes O_APPEND offsets from its cached size; our size is the truth when
  // another mount user wrote in between, and appends must land at the real end.
  // With the writeback cache the kernel places appends itself and flushes pages later
  // through any open handle, so the offset it sends is the one to use.
  if ((file->second.flags & O_APPEND) && !options_.writeback_cache) off = inode.size;
  if (off < 0) co_return FUSEError(EINVAL);
  if (buf.empty()) co_return size_t{0};
  if (static_cast<uint64_t>(off) + buf.size() > static_cast<uint64_t>(kMaxFileSize)) {
    co_return FUSEError(EFBIG);
  }
  // tmpfs stamps the file (file_modified()) before copying, so a write that then fails
  // with ENOSPC still moves mtime and ctime.
  inode.mtime_ns = inode.ctime_ns = now_ns();
  // The kernel's kill-priv SETATTR before a write misses one case tmpfs covers (a writer
  // outside the file's group, setgid without group execute); the rule applied whole is
  // idempotent with what the kernel already did.
  state.drop_setid_after_change(inode, caller);
  auto stored = state.store(inode, static_cast<uint64_t>(off), buf);
  if (!stored) co_return FUSEError(stored.error());
  co_return *stored;
}

Reply<void> MemFs::flush(FileHandleT) { co_return fusepp::ok; }

Reply<void> MemFs::release(FileHandleT fh) {
  State& state = *state_;
  std::lock_guard lock(state.mutex);
  auto file = state.open_files.find(fh);
  if (file == state.open_files.end()) co_return FUSEError(EBADF);
  Inode& inode = *state.find(file->second.ino);
  state.open_files.erase(file);
  inode.open_count--;
  state.release_if_unreferenced(inode);
  co_return fusepp::ok;
}

Reply<void> MemFs::fsync(FileHandleT, bool) { co_return fusepp::ok; }  // memory is the medium

Reply<void> MemFs::fallocate(FileHandleT fh, int mode, off_t offset, off_t length) {
  State& state = *state_;
  std::lock_guard lock(state.mutex);
  auto file = state.open_files.find(fh);
  if (file == state.open_files.end()) co_return FUSEError(EBADF);
  Inode& inode = *state.find(file->second.ino);
  if (!inode.is_reg()) co_return FUSEError(ENODEV);
  // tmpfs supports exactly these: allocate, allocate without growing, punch a hole.
  if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) co_return FUSEError(EOPNOTSUPP);
  if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE)) co_return FUSEError(EOPNOTSUPP);
  if (offset < 0 || length <= 0) co_return FUSEError(EINVAL);
  if (offset > kMaxFileSize - length) co_return FUSEError(EFBIG);
  uint64_t begin = static_cast<uint64_t>(offset);
  uint64_t end = begin + static_cast<uint64_t>(length);

  if (mode & FALLOC_FL_PUNCH_HOLE) {
    // Whole pages go; partial pages at either edge are zeroed in place.
    uint64_t first_whole = (begin + kPageSize - 1) / kPageSize;
    uint64_t end_whole = end / kPageSize;
    auto zero = [&](uint64_t from, uint64_t to) {
      if (from >= to || !inode.pages) return;
      auto page = inode.pages->find(from / kPageSize);
      if (page == inode.pages->end()) return;
      char* bytes = page->second.bytes();
      std::fill(bytes + from % kPageSize, bytes + (to - 1) % kPageSize + 1, '\0');
    };
    if (first_whole > end_whole) {  // inside one page
      zero(begin, end);
    } else {
      zero(begin, first_whole * kPageSize);
      zero(end_whole * kPageSize, end);
      state.free_pages(inode, first_whole, end_whole);
    }
  } else {
    uint64_t first = begin / kPageSize;
    uint64_t last = (end - 1) / kPageSize;
    uint64_t missing = last - first + 1;
    if (inode.pages) {
      missing -= static_cast<uint64_t>(std::distance(inode.pages->lower_bound(first), inode.pages->upper_bound(last)));
    }
    // tmpfs checks the whole reservation up front and fails without allocating anything.
    if (state.pages_in_use() + missing > state.max_pages) co_return FUSEError(ENOSPC);
    // A page an earlier fallocate reserved turns into data when reserved again: tmpfs's
    // shmem_get_folio() zeroes an existing !uptodate folio for SGP_FALLOC and marks it
    // uptodate, so SEEK_DATA then stops there (seen on Linux 6.18).
    for (uint64_t index = first; index <= last; ++index) {
      const bool reserved = inode.pages && inode.pages->count(index) != 0;
      auto page = state.page_for_write(inode, index);
      if (reserved && page) page.value()->written = true;
    }
    if (!(mode & FALLOC_FL_KEEP_SIZE)) {
      inode.size = std::max<int64_t>(inode.size, static_cast<int64_t>(end));
    }
  }
  inode.mtime_ns = inode.ctime_ns = now_ns();
  co_return fusepp::ok;
}

Reply<off_t> MemFs::lseek(FileHandleT fh, off_t off, int whence) {
  State& state = *state_;
  std::lock_guard lock(state.mutex);
  auto file = state.open_files.find(fh);
  if (file == state.open_files.end()) co_return FUSEError(EBADF);
  const Inode& inode = *state.find(file->second.ino);
  if (whence != SEEK_DATA && whence != SEEK_HOLE) co_return FUSEError(EINVAL);
  if (off < 0 || off >= inode.size) co_return FUSEError(ENXIO);
  uint64_t pos = static_cast<uint64_t>(off);
  auto is_data = [](const auto& entry) { return entry.second.written; };
  if (whence == SEEK_DATA) {
    if (inode.pages) {
      for (auto it = inode.pages->lower_bound(pos / kPageSize); it != inode.pages->end(); ++it) {
        if (!is_data(*it)) continue;
        uint64_t found = std::max(pos, it->first * kPageSize);
        if (static_cast<int64_t>(found) >= inode.size) break;
        co_return static_cast<off_t>(found);
      }
    }
    co_return FUSEError(ENXIO);
  }
  uint64_t index = pos / kPageSize;
  if (inode.pages) {
    for (auto it = inode.pages->find(index); it != inode.pages->end() && it->first == index && is_data(*it);
         it = inode.pages->find(++index)) {
    }
  }
  uint64_t hole = std::max(pos, index * kPageSize);
  co_return static_cast<off_t>(std::min<uint64_t>(hole, static_cast<uint64_t>(inode.size)));
}

Reply<size_t> MemFs::copy_file_range(FileHandleT fh_in, off_t off_in, FileHandleT fh_out, off_t off_out, size_t length,
                                     fusepp::FlagT flags) {
  State& state = *state_;
  std::lock_guard lock(state.mutex);
  if (flags != 0) co_return FUSEError(EINVAL);
  auto in = state.open_files.find(fh_in);
  auto out = state.open_files.find(fh_out);
  if (in == state.open_files.end() || out == state.open_files.end()) co_return FUSEError(EBADF);
  if (off_in < 0 || off_out < 0) co_return FUSEError(EINVAL);
  Inode& source = *state.find(in->second.ino);
  Inode& dest = *state.find(out->second.ino);
  // tmpfs has no copy_file_range of its own: the kernel splices, i.e. reads and writes
  // every byte, holes included, so the copy allocates pages like a write would.
  std::string data = state.load(source, static_cast<uint64_t>(off_in), length);
  if (!(in->second.flags & O_NOATIME)) state.touch_atime(source);
  if (data.empty()) co_return size_t{0};
  if (static_cast<uint64_t>(off_out) + data.size() > static_cast<uint64_t>(kMaxFileSize)) {
    co_return FUSEError(EFBIG);
  }
  auto stored = state.store(dest, static_cast<uint64_t>(off_out), data);
  if (!stored) co_return FUSEError(stored.error());
  dest.mtime_ns = dest.ctime_ns = now_ns();
  co_return *stored;
}

}  // namespace memfs
