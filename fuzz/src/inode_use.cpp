// The liveness check behind accepting a reused inode number: the names of the tree, then the
// descriptors of every process (the actors that hold the oracle's files open are among them).
#include "inode_use.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <string_view>
#include <system_error>

namespace fusecheck::fuzz {
namespace {

bool is(const std::filesystem::path& path, dev_t dev, uint64_t ino, bool follow) {
  struct stat st {};
  const int rc = follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
  return rc == 0 && st.st_dev == dev && st.st_ino == ino;
}

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

bool held_open(dev_t dev, uint64_t ino) {
  std::error_code error;
  for (const auto& process : std::filesystem::directory_iterator("/proc", error)) {
    const std::string pid = process.path().filename();
    if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid[0]))) continue;
    std::error_code gone;  // a process that ended meanwhile
    for (const auto& fd : std::filesystem::directory_iterator(process.path() / "fd", gone))
      if (is(fd.path(), dev, ino, true)) return true;
  }
  return false;
}

}  // namespace

bool inode_in_use(const std::filesystem::path& tree, uint64_t ino) {
  struct stat root {};
  if (::lstat(tree.c_str(), &root) != 0) return true;  // cannot tell: keep the difference
  if (root.st_ino == ino) return true;
  const int fd = ::open(tree.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
  return (fd >= 0 && named_in(fd, root.st_dev, ino)) || held_open(root.st_dev, ino);
}

}  // namespace fusecheck::fuzz
