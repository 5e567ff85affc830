// Client-side helpers from pyfuse3's module: get_sup_groups, listdir, syncfs and the xattr
// helpers. They act on paths (a test or a tool calls them), never inside a handler.
#include <dirent.h>
#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <system_error>

#include "fusepp/session.hpp"

namespace fusepp {

namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), "fusepp: " + what);
}

std::string qualified(std::string_view ns, std::string_view name) {
  std::string full(ns);
  full += '.';
  full += name;
  return full;
}

}  // namespace

std::set<gid_t> get_sup_groups(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  if (!status)
    throw std::system_error(ESRCH, std::generic_category(), "fusepp: no status for pid " + std::to_string(pid));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Groups:", 0) != 0) continue;
    std::istringstream fields(line.substr(7));
    std::set<gid_t> groups;
    gid_t gid;
    while (fields >> gid) groups.insert(gid);
    return groups;
  }
  throw std::runtime_error("fusepp: /proc/" + std::to_string(pid) + "/status has no Groups: line");
}

std::vector<std::string> listdir(const std::filesystem::path& path) {
  DIR* dir = ::opendir(path.c_str());
  if (!dir) throw_errno("opendir " + path.string());
  std::vector<std::string> names;
  errno = 0;
  while (dirent* entry = ::readdir(dir)) {
    std::string_view name(entry->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  int err = errno;
  ::closedir(dir);
  if (err) throw std::system_error(err, std::generic_category(), "fusepp: readdir " + path.string());
  return names;
}

void syncfs(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno("open " + path.string());
  int rc = ::syncfs(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) throw std::system_error(err, std::generic_category(), "fusepp: syncfs " + path.string());
}

void setxattr(const std::filesystem::path& path, std::string_view name, std::string_view value, std::string_view ns) {
  std::string full = qualified(ns, name);
  if (::setxattr(path.c_str(), full.c_str(), value.data(), value.size(), 0) != 0)
    throw_errno("setxattr " + full + " on " + path.string());
}

std::string getxattr(const std::filesystem::path& path, std::string_view name, size_t size_guess, std::string_view ns) {
  std::string full = qualified(ns, name);
  std::string buf(size_guess == 0 ? 1 : size_guess, '\0');
  for (;;) {
    ssize_t n = ::getxattr(path.c_str(), full.c_str(), buf.data(), buf.size());
    if (n >= 0) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    if (errno != ERANGE) throw_errno("getxattr " + full + " on " + path.string());
    // The value grew or the guess was small: ask for the size, then retry with room to spare.
    ssize_t needed = ::getxattr(path.c_str(), full.c_str(), nullptr, 0);
    if (needed < 0) throw_errno("getxattr " + full + " on " + path.string());
    buf.assign(static_cast<size_t>(needed) + size_guess, '\0');
  }
}

}  // namespace fusepp
