// Dispatch of open-file requests: open, create, read, write (the payload is a view into the
// pinned receive buffer), flush, release, fsync, fallocate, lseek, copy_file_range, POSIX and
// BSD locks, poll and restricted ioctl.
#include <fcntl.h>
#include <limits.h>

#include <algorithm>

#include "dispatcher.hpp"

namespace fusepp::ll {

namespace {

// pyfuse3 strips the creation bits the kernel already handled.
FlagT open_flags(int flags) { return FlagT{flags & ~(O_CREAT | O_EXCL | O_NOCTTY)}; }

}  // namespace

void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  start<FileInfo>(
      req, "open", ino,
      [&ops = dispatcher_of(req).ops, ino, flags = open_flags(fi->flags)](const RequestContext& ctx) {
        return ops.open(InodeT{ino}, flags, ctx);
      },
      [](fuse_req_t r, Result<FileInfo>& res) {
        Dispatcher& d = dispatcher_of(r);  // r is freed by the reply
        undo_open_if_unanswered(d, reply_open(r, *res), res->fh, false);
      });
}

void create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  start<std::pair<FileInfo, EntryAttributes>>(
      req, "create", parent,
      [&ops = dispatcher_of(req).ops, parent, n = std::string_view(name), mode, flags = open_flags(fi->flags)](
          const RequestContext& ctx) { return ops.create(InodeT{parent}, n, ModeT{mode}, flags, ctx); },
      [](fuse_req_t r, Result<std::pair<FileInfo, EntryAttributes>>& res) {
        Dispatcher& d = dispatcher_of(r);  // r is freed by the reply
        int rc = reply_create(r, res->second, res->first);
        undo_open_if_unanswered(d, rc, res->first.fh, false);
        undo_entry_if_unanswered(d, rc, res->second.st_ino);
      });
}

namespace {

// Answers a READ with the pieces' first `size` bytes (a longer answer is cut, as the kernel
// asked for no more).
void reply_read(fuse_req_t req, const ReadData& data, size_t size) {
  const std::vector<iovec>& pieces = data.pieces();
  if (pieces.size() >= IOV_MAX) {  // more than one writev takes (with the reply header): copy
    std::string joined;
    for (const iovec& piece : pieces) joined.append(static_cast<const char*>(piece.iov_base), piece.iov_len);
    fuse_reply_buf(req, joined.data(), std::min(size, joined.size()));
    return;
  }
  if (data.size() <= size) {
    fuse_reply_iov(req, pieces.data(), static_cast<int>(pieces.size()));
    return;
  }
  std::vector<iovec> cut;
  for (size_t i = 0, left = size; i < pieces.size() && left > 0; ++i) {
    cut.push_back({pieces[i].iov_base, std::min(left, pieces[i].iov_len)});
    left -= cut.back().iov_len;
  }
  fuse_reply_iov(req, cut.data(), static_cast<int>(cut.size()));
}

}  // namespace

void read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  start<ReadData>(
      req, "read", ino,
      [&ops = dispatcher_of(req).ops, fh = FileHandleT{fi->fh}, off, size](const RequestContext& ctx) {
        return ops.read_data(fh, off, size, ctx);
      },
      [size](fuse_req_t r, Result<ReadData>& res) { reply_read(r, *res, size); });
}

void write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  start<size_t>(
      req, "write", ino,
      [&ops = dispatcher_of(req).ops, fh = FileHandleT{fi->fh}, off,
       data = std::string_view(buf, size)](const RequestContext& ctx) { return ops.write(fh, off, data, ctx); },
      [](fuse_req_t r, Result<size_t>& res) { fuse_reply_write(r, *res); });
}

void flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  start<void>(
      req, "flush", ino,
      [&ops = dispatcher_of(req).ops, fh = FileHandleT{fi->fh}](const RequestContext& ctx) {
        return ops.flush(fh, ctx);
      },
      reply_ok);
}

namespace {
// The kernel ignores RELEASE's answer, so an error is only worth a log line.
struct ReleaseReply {
  void operator()(fuse_req_t req, Result<void>& res) const { reply_ok(req, res); }
  static void failed(int err, uint64_t ino) {
    if (err != ENOSYS)  // the filesystem keeps no open state
      std::fprintf(stderr, "fusepp: release(inode %llu) failed: %s\n", static_cast<unsigned long long>(ino),
                   FUSEError(err).what());
  }
};
}  // namespace

void release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  start<void>(
      req, "release", ino,
      [&ops = dispatcher_of(req).ops, fh = FileHandleT{fi->fh}](const RequestContext& ctx) {
        return ops.release(fh, ctx);
      },
      ReleaseReply{});
}

void fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  start<void>(
      req, "fsync", ino,
      [&ops = dispatcher_of(req).ops, fh = FileHandleT{fi->fh}, datasync](const RequestContext& ctx) {
        return ops.fsync(fh, datasync != 0, ctx);
      },
      reply_ok);
}

void fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, fuse_file_info* fi) {
  start<void>(
      req, "fallocate", ino,
      [&ops = dispatcher_of(req).ops, fh = FileHandleT{fi->fh}, mode, offset, length](const RequestContext&) {
        return ops.fallocate(fh, mode, offset, length);
      },
      reply_ok);
}

void lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info* fi) {
  start<off_t>(
      req, "lseek", ino,
      [&ops = dispatcher_of(req).ops, fh = FileHandleT{fi->fh}, off, whence](const RequestContext&) {
        return ops.lseek(fh, off, whence);
      },
      [](fuse_req_t r, Result<off_t>& res) { fuse_reply_lseek(r, *res); });
}

void copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, fuse_file_info* fi_in, fuse_ino_t, off_t off_out,
                     fuse_file_info* fi_out, size_t len, int flags) {
  start<size_t>(
      req, "copy_file_range", ino_in,
      [&ops = dispatcher_of(req).ops, in = FileHandleT{fi_in->fh}, off_in, out = FileHandleT{fi_out->fh}, off_out, len,
       flags](const RequestContext&) { return ops.copy_file_range(in, off_in, out, off_out, len, FlagT{flags}); },
      [](fuse_req_t r, Result<size_t>& res) { fuse_reply_write(r, *res); });
}

void getlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock) {
  start<LockRequest>(
      req, "getlk", ino,
      [&ops = dispatcher_of(req).ops, fh = FileHandleT{fi->fh},
       request = LockRequest{*lock, fi->lock_owner}](const RequestContext&) { return ops.getlk(fh, request); },
      [](fuse_req_t r, Result<LockRequest>& res) { fuse_reply_lock(r, &res->lock); });
}

void setlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock, int sleep) {
  start<void>(
      req, "setlk", ino,
      [&ops = dispatcher_of(req).ops, fh = FileHandleT{fi->fh}, request = LockRequest{*lock, fi->lock_owner},
       sleep](const RequestContext&) { return ops.setlk(fh, request, sleep != 0); },
      reply_ok);
}

void flock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, int op) {
  start<void>(
      req, "flock", ino,
      [&ops = dispatcher_of(req).ops, fh = FileHandleT{fi->fh}, owner = fi->lock_owner, op](const RequestContext&) {
        return ops.flock(fh, owner, op);
      },
      reply_ok);
}

void poll(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, fuse_pollhandle* ph) {
  // The handler owns the poll handle (PollHandle destroys it) and may keep it to notify later.
  start<unsigned>(
      req, "poll", ino,
      [&ops = dispatcher_of(req).ops, fh = FileHandleT{fi->fh}, ph](const RequestContext&) {
        return ops.poll(fh, PollHandle(ph));
      },
      [](fuse_req_t r, Result<unsigned>& res) { fuse_reply_poll(r, *res); });
}

void ioctl(fuse_req_t req, fuse_ino_t ino, unsigned cmd, void* arg, fuse_file_info* fi, unsigned flags,
           const void* in_buf, size_t in_bufsz, size_t out_bufsz) {
  // Unrestricted ioctls (argument buffers discovered by retries) exist only for CUSE.
  if (flags & FUSE_IOCTL_UNRESTRICTED) {
    fuse_reply_err(req, ENOSYS);
    return;
  }
  start<IoctlReply>(
      req, "ioctl", ino,
      [&ops = dispatcher_of(req).ops, fh = FileHandleT{fi->fh}, cmd, a = reinterpret_cast<uint64_t>(arg), flags,
       in = std::string_view(static_cast<const char*>(in_buf), in_bufsz), out_bufsz](const RequestContext&) {
        return ops.ioctl(fh, cmd, a, FlagT{static_cast<int32_t>(flags)}, in, out_bufsz);
      },
      [out_bufsz](fuse_req_t r, Result<IoctlReply>& res) {
        fuse_reply_ioctl(r, res->result, res->out.data(), std::min(out_bufsz, res->out.size()));
      });
}

}  // namespace fusepp::ll
