// Default Operations handlers: every request answers ENOSYS (as in pyfuse3, so the kernel stops
// sending ops a filesystem does not implement) except forget, which has nothing to answer.
// Also PollHandle, which owns a libfuse poll handle.
#include <fuse_lowlevel.h>

#include "fusepp/operations.hpp"

namespace fusepp {

namespace {
const FUSEError kNotImplemented{ENOSYS};
}

PollHandle& PollHandle::operator=(PollHandle&& o) noexcept {
  if (this != &o) {
    if (ph_) fuse_pollhandle_destroy(ph_);
    ph_ = std::exchange(o.ph_, nullptr);
  }
  return *this;
}

PollHandle::~PollHandle() {
  if (ph_) fuse_pollhandle_destroy(ph_);
}

void PollHandle::notify() {
  if (ph_) fuse_lowlevel_notify_poll(ph_);
}

Reply<EntryAttributes> Operations::lookup(InodeT, std::string_view, const RequestContext&) {
  co_return kNotImplemented;
}
asio::awaitable<void> Operations::forget(std::vector<ForgetRequest>) { co_return; }
Reply<EntryAttributes> Operations::mknod(InodeT, std::string_view, ModeT, dev_t, const RequestContext&) {
  co_return kNotImplemented;
}
Reply<EntryAttributes> Operations::mkdir(InodeT, std::string_view, ModeT, const RequestContext&) {
  co_return kNotImplemented;
}
Reply<void> Operations::unlink(InodeT, std::string_view, const RequestContext&) { co_return kNotImplemented; }
Reply<void> Operations::rmdir(InodeT, std::string_view, const RequestContext&) { co_return kNotImplemented; }
Reply<EntryAttributes> Operations::symlink(InodeT, std::string_view, std::string_view, const RequestContext&) {
  co_return kNotImplemented;
}
Reply<void> Operations::rename(InodeT, std::string_view, InodeT, std::string_view, FlagT, const RequestContext&) {
  co_return kNotImplemented;
}
Reply<EntryAttributes> Operations::link(InodeT, InodeT, std::string_view, const RequestContext&) {
  co_return kNotImplemented;
}
Reply<EntryAttributes> Operations::getattr(InodeT, const RequestContext&) { co_return kNotImplemented; }
Reply<EntryAttributes> Operations::setattr(InodeT, const EntryAttributes&, const SetattrFields&,
                                           std::optional<FileHandleT>, const RequestContext&) {
  co_return kNotImplemented;
}
Reply<std::string> Operations::readlink(InodeT, const RequestContext&) { co_return kNotImplemented; }
Reply<bool> Operations::access(InodeT, int, const RequestContext&) { co_return kNotImplemented; }
Reply<StatvfsData> Operations::statfs(const RequestContext&) { co_return kNotImplemented; }
Reply<FileInfo> Operations::open(InodeT, FlagT, const RequestContext&) { co_return kNotImplemented; }
Reply<std::pair<FileInfo, EntryAttributes>> Operations::create(InodeT, std::string_view, ModeT, FlagT,
                                                               const RequestContext&) {
  co_return kNotImplemented;
}
Reply<std::string> Operations::read(FileHandleT, off_t, size_t) { co_return kNotImplemented; }
Reply<std::string> Operations::read(FileHandleT fh, off_t off, size_t size, const RequestContext&) {
  return read(fh, off, size);
}
ReadData::ReadData(std::string bytes) {
  auto owned = std::make_shared<const std::string>(std::move(bytes));
  add(*owned);
  keep_alive = std::move(owned);
}
Reply<ReadData> Operations::read_data(FileHandleT fh, off_t off, size_t size, const RequestContext& ctx) {
  Result<std::string> bytes = co_await read(fh, off, size, ctx);
  if (!bytes.ok()) co_return FUSEError(bytes.error());
  co_return ReadData(std::move(*bytes));
}
Reply<size_t> Operations::write(FileHandleT, off_t, std::string_view) { co_return kNotImplemented; }
// Not a coroutine: it hands over the other overload's awaitable, so forwarding costs no frame.
Reply<size_t> Operations::write(FileHandleT fh, off_t off, std::string_view buf, const RequestContext&) {
  return write(fh, off, buf);
}
Reply<void> Operations::flush(FileHandleT) { co_return kNotImplemented; }
Reply<void> Operations::release(FileHandleT) { co_return kNotImplemented; }
Reply<void> Operations::fsync(FileHandleT, bool) { co_return kNotImplemented; }
Reply<void> Operations::flush(FileHandleT fh, const RequestContext&) { return flush(fh); }
Reply<void> Operations::release(FileHandleT fh, const RequestContext&) { return release(fh); }
Reply<void> Operations::fsync(FileHandleT fh, bool datasync, const RequestContext&) { return fsync(fh, datasync); }
Reply<void> Operations::fallocate(FileHandleT, int, off_t, off_t) { co_return kNotImplemented; }
Reply<off_t> Operations::lseek(FileHandleT, off_t, int) { co_return kNotImplemented; }
Reply<size_t> Operations::copy_file_range(FileHandleT, off_t, FileHandleT, off_t, size_t, FlagT) {
  co_return kNotImplemented;
}
Reply<LockRequest> Operations::getlk(FileHandleT, LockRequest) { co_return kNotImplemented; }
Reply<void> Operations::setlk(FileHandleT, LockRequest, bool) { co_return kNotImplemented; }
Reply<void> Operations::flock(FileHandleT, uint64_t, int) { co_return kNotImplemented; }
Reply<unsigned> Operations::poll(FileHandleT, PollHandle) { co_return kNotImplemented; }
Reply<IoctlReply> Operations::ioctl(FileHandleT, unsigned, uint64_t, FlagT, std::string_view, size_t) {
  co_return kNotImplemented;
}
Reply<FileHandleT> Operations::opendir(InodeT, const RequestContext&) { co_return kNotImplemented; }
Reply<FileHandleT> Operations::opendir(InodeT inode, FlagT, const RequestContext& ctx) { return opendir(inode, ctx); }
Reply<void> Operations::readdir(FileHandleT, off_t, ReaddirToken&) { co_return kNotImplemented; }
Reply<void> Operations::releasedir(FileHandleT) { co_return kNotImplemented; }
Reply<void> Operations::fsyncdir(FileHandleT, bool) { co_return kNotImplemented; }
Reply<void> Operations::setxattr(InodeT, std::string_view, std::string_view, FlagT, const RequestContext&) {
  co_return kNotImplemented;
}
Reply<std::string> Operations::getxattr(InodeT, std::string_view, const RequestContext&) { co_return kNotImplemented; }
Reply<std::vector<std::string>> Operations::listxattr(InodeT, const RequestContext&) { co_return kNotImplemented; }
Reply<void> Operations::removexattr(InodeT, std::string_view, const RequestContext&) { co_return kNotImplemented; }

}  // namespace fusepp
