// The liveness check behind accepting a reused inode number: the names of the tree, then the
// descriptors of every process (the actors that hold the oracle's files open are among them),
// matched by mount and inode number.
#include "inode_use.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <string_view>
#include <system_error>

namespace fusecheck::fuzz {
namespace {

// Read with O_NOATIME: listing the oracle's directories must not mark their atime, which the
// fuzzer compares.
bool named_in(int dir_fd, dev_t dev, uint64_t ino) {
  DIR* dir = ::fdopendir(dir_fd);
  if (dir == nullptr) {
    ::close(dir_fd);
    return false;
  }
  bool found = false;
  while (const dirent* entry = found ? nullptr : ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    struct stat st {};
    if (name == "." || name == ".." || ::fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    found = (st.st_dev == dev && st.st_ino == ino) ||
            (S_ISDIR(st.st_mode) &&
             named_in(::openat(dir_fd, entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC), dev,
                      ino));
  }
  ::closedir(dir);
  return found;
}

// From /proc/PID/fdinfo (mnt_id, then ino), never through the descriptor itself: a stat()
// through another process's descriptor on a stalled FUSE mount would hang the fuzzer.
bool held_open(uint64_t mount_id, uint64_t ino) {
  std::error_code error;
  for (const auto& process : std::filesystem::directory_iterator("/proc", error)) {
    const std::string pid = process.path().filename();
    if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid[0]))) continue;
    std::error_code gone;  // a process that ended meanwhile
    for (const auto& fd : std::filesystem::directory_iterator(process.path() / "fdinfo", gone)) {
      std::ifstream info(fd.path());
      uint64_t fd_mount = 0, fd_ino = 0;
      for (std::string key; info >> key && key != "ino:";)
        if (key == "mnt_id:") info >> fd_mount;
      if (info >> fd_ino && fd_mount == mount_id && fd_ino == ino) return true;
    }
  }
  return false;
}

}  // namespace

bool inode_in_use(const std::filesystem::path& tree, uint64_t ino) {
  struct statx root {};
  if (::statx(AT_FDCWD, tree.c_str(), AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_MNT_ID, &root) != 0 ||
      !(root.stx_mask & STATX_MNT_ID))
    return true;  // cannot tell: keep the difference
  if (root.stx_ino == ino) return true;
  const dev_t dev = makedev(root.stx_dev_major, root.stx_dev_minor);
  const int fd = ::open(tree.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
  return (fd >= 0 && named_in(fd, dev, ino)) || held_open(root.stx_mnt_id, ino);
}

}  // namespace fusecheck::fuzz
