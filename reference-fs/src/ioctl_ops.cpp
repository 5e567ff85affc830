// memfs's ioctls: FS_IOC_GETFLAGS and FS_IOC_SETFLAGS with tmpfs's rules. tmpfs keeps the
// append, immutable, nodump and noatime flags, refuses others with EOPNOTSUPP and updates
// ctime on a change. Owner and CAP_LINUX_IMMUTABLE checks are the kernel's (vfs_fileattr_set),
// which reads the old flags with FS_IOC_FSGETXATTR first, so that is answered too.
#include <cstring>

#include "state.hpp"

namespace memfs {

using fusepp::FileHandleT;
using fusepp::FUSEError;
using fusepp::IoctlReply;
using fusepp::Reply;

namespace {

// FS_IOC_FSGETXATTR's form of the flags memfs keeps (the kernel's fileattr_fill_flags()).
uint32_t xflags_of(uint32_t flags) {
  uint32_t xflags = 0;
  if (flags & FS_APPEND_FL) xflags |= FS_XFLAG_APPEND;
  if (flags & FS_IMMUTABLE_FL) xflags |= FS_XFLAG_IMMUTABLE;
  if (flags & FS_NODUMP_FL) xflags |= FS_XFLAG_NODUMP;
  if (flags & FS_NOATIME_FL) xflags |= FS_XFLAG_NOATIME;
  return xflags;
}

template <class T>
IoctlReply out_bytes(const T& value) {
  return IoctlReply{0, std::string(reinterpret_cast<const char*>(&value), sizeof value)};
}

}  // namespace

Reply<IoctlReply> MemFs::ioctl(FileHandleT fh, unsigned cmd, uint64_t, fusepp::FlagT, std::string_view in_buf,
                               size_t out_size) {
  State& state = *state_;
  std::lock_guard lock(state.mutex);
  auto file = state.open_files.find(fh);
  Inode* inode = file == state.open_files.end() ? nullptr : state.find(file->second.ino);
  if (!inode) co_return FUSEError(EBADF);
  // The kernel passes an int each way, whatever the command's size field says (fuse_priv_ioctl).
  uint32_t flags = 0;
  if (cmd == FS_IOC_GETFLAGS) {
    if (out_size < sizeof flags) co_return FUSEError(EINVAL);
    flags = inode->fsflags;
    co_return out_bytes(flags);
  }
  if (cmd == FS_IOC_FSGETXATTR) {
    fsxattr attributes{};
    if (out_size < sizeof attributes) co_return FUSEError(EINVAL);
    attributes.fsx_xflags = xflags_of(inode->fsflags);
    co_return out_bytes(attributes);
  }
  if (cmd != FS_IOC_SETFLAGS) co_return FUSEError(ENOTTY);
  if (in_buf.size() < sizeof flags) co_return FUSEError(EINVAL);
  std::memcpy(&flags, in_buf.data(), sizeof flags);
  if (flags & ~kTmpfsFsFlags) co_return FUSEError(EOPNOTSUPP);
  inode->fsflags = flags;
  inode->ctime_ns = now_ns();
  co_return IoctlReply{};
}

}  // namespace memfs
