// fusecheck-actor: the process that makes a scenario's system calls. Started by the harness
// as root, it drops to the identity given on its command line (setgroups, setgid, setuid, in
// that order), then answers length-prefixed JSON requests on stdin with results on stdout.
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fusecheck/protocol.hpp"

using nlohmann::json;
using namespace fusecheck;

namespace {

// A request the harness built wrongly: answered as a protocol error, never as an errno.
struct BadRequest {
  std::string message;
};

// Carries the errno of a failed call out of the op handlers.
struct SyscallFailed {
  int err;
};

std::map<std::string, int> open_fds;
std::map<std::string, DIR*> open_dirs;

void check(bool ok) {
  if (!ok) throw SyscallFailed{errno};
}

int fd_arg(const json& request) {
  auto name = request.at("fd").get<std::string>();
  auto found = open_fds.find(name);
  // A name closed earlier (or never opened because an earlier step failed) acts like a
  // closed descriptor, so cleanup steps stay harmless.
  if (found == open_fds.end()) throw SyscallFailed{EBADF};
  return found->second;
}

DIR* dir_arg(const json& request) {
  auto name = request.at("dir").get<std::string>();
  auto found = open_dirs.find(name);
  if (found == open_dirs.end()) throw SyscallFailed{EBADF};
  return found->second;
}

std::string path_arg(const json& request, const char* key = "path") {
  return request.at(key).get<std::string>();
}

std::string data_arg(const json& request) {
  auto bytes = from_hex(request.value("data", std::string()));
  if (!bytes) throw BadRequest{"data is not hex"};
  return *bytes;
}

long num(const json& request, const char* key, long fallback) {
  return request.contains(key) ? request.at(key).get<long>() : fallback;
}

const char* type_name(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "file";
    case S_IFDIR: return "dir";
    case S_IFLNK: return "symlink";
    case S_IFIFO: return "fifo";
    case S_IFCHR: return "chr";
    case S_IFBLK: return "blk";
    case S_IFSOCK: return "sock";
  }
  return "unknown";
}

const char* dtype_name(unsigned char type) {
  switch (type) {
    case DT_REG: return "file";
    case DT_DIR: return "dir";
    case DT_LNK: return "symlink";
    case DT_FIFO: return "fifo";
    case DT_CHR: return "chr";
    case DT_BLK: return "blk";
    case DT_SOCK: return "sock";
  }
  return "unknown";
}

json stat_result(const struct stat& st) {
  auto ns = [](const timespec& ts) { return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec; };
  return json{{"dev", st.st_dev},
              {"ino", st.st_ino},
              {"mode", st.st_mode},
              {"type", type_name(st.st_mode)},
              {"perm", st.st_mode & 07777},
              {"nlink", st.st_nlink},
              {"uid", st.st_uid},
              {"gid", st.st_gid},
              {"rdev", st.st_rdev},
              {"rdev_major", major(st.st_rdev)},
              {"rdev_minor", minor(st.st_rdev)},
              {"size", st.st_size},
              {"blksize", st.st_blksize},
              {"blocks", st.st_blocks},
              {"atime", ns(st.st_atim)},
              {"mtime", ns(st.st_mtim)},
              {"ctime", ns(st.st_ctim)},
              {"atime_sec", st.st_atim.tv_sec},
              {"atime_nsec", st.st_atim.tv_nsec},
              {"mtime_sec", st.st_mtim.tv_sec},
              {"mtime_nsec", st.st_mtim.tv_nsec},
              {"ctime_sec", st.st_ctim.tv_sec},
              {"ctime_nsec", st.st_ctim.tv_nsec}};
}

json statvfs_result(const struct statvfs& sv) {
  return json{{"bsize", sv.f_bsize},   {"frsize", sv.f_frsize}, {"blocks", sv.f_blocks},
              {"bfree", sv.f_bfree},   {"bavail", sv.f_bavail}, {"files", sv.f_files},
              {"ffree", sv.f_ffree},   {"favail", sv.f_favail}, {"fsid", sv.f_fsid},
              {"flag", sv.f_flag},     {"namemax", sv.f_namemax}};
}

timespec time_arg(const json& spec) {
  auto kind = spec.at("kind").get<std::string>();
  if (kind == "now") return timespec{0, UTIME_NOW};
  if (kind == "omit") return timespec{0, UTIME_OMIT};
  // {sec, nsec} as the scenario wrote them, unnormalised: an invalid tv_nsec is the point.
  if (kind == "ts") return timespec{spec.at("sec").get<time_t>(), spec.at("nsec").get<long>()};
  int64_t ns = spec.at("ns").get<int64_t>();
  int64_t sec = ns / 1000000000, rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    --sec;
  }
  return timespec{sec, rem};
}

void bind_fd(const json& request, int fd) {
  auto name = request.at("fd").get<std::string>();
  auto old = open_fds.find(name);
  if (old != open_fds.end()) ::close(old->second);
  open_fds[name] = fd;
}

std::string read_all_fd(int fd) {
  std::string content;
  char buffer[65536];
  for (;;) {
    ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0) {
      int err = errno;
      ::close(fd);
      throw SyscallFailed{err};
    }
    if (got == 0) break;
    content.append(buffer, static_cast<size_t>(got));
  }
  return content;
}

json list_names(const char* buffer, ssize_t size) {
  json names = json::array();
  for (ssize_t at = 0; at < size;) {
    std::string name(buffer + at);
    names.push_back(name);
    at += static_cast<ssize_t>(name.size()) + 1;
  }
  return names;
}

int remove_entry(const char* path, const struct stat*, int typeflag, struct FTW*) {
  int rc = (typeflag == FTW_DP) ? ::rmdir(path) : ::unlink(path);
  return rc == 0 ? 0 : -1;
}

void close_everything() {
  for (auto& [name, fd] : open_fds) ::close(fd);
  for (auto& [name, dir] : open_dirs) ::closedir(dir);
  open_fds.clear();
  open_dirs.clear();
}

json handle(const json& request) {
  const auto op = request.at("op").get<std::string>();
  struct stat st;
  struct statvfs sv;

  if (op == "stat") {
    check(::stat(path_arg(request).c_str(), &st) == 0);
    return stat_result(st);
  }
  if (op == "lstat") {
    check(::lstat(path_arg(request).c_str(), &st) == 0);
    return stat_result(st);
  }
  if (op == "fstat") {
    check(::fstat(fd_arg(request), &st) == 0);
    return stat_result(st);
  }
  if (op == "open" || op == "creat") {
    int flags = op == "creat" ? (O_CREAT | O_WRONLY | O_TRUNC) : static_cast<int>(num(request, "flags", 0));
    int fd = ::open(path_arg(request).c_str(), flags | O_CLOEXEC, static_cast<mode_t>(num(request, "mode", 0644)));
    check(fd >= 0);
    bind_fd(request, fd);
    return json{{"fd", fd}};
  }
  if (op == "close") {
    int fd = fd_arg(request);
    open_fds.erase(request.at("fd").get<std::string>());
    check(::close(fd) == 0);
    return json::object();
  }
  if (op == "read" || op == "pread") {
    std::string buffer(static_cast<size_t>(num(request, "size", 0)), '\0');
    ssize_t got = op == "read" ? ::read(fd_arg(request), buffer.data(), buffer.size())
                               : ::pread(fd_arg(request), buffer.data(), buffer.size(), num(request, "offset", 0));
    check(got >= 0);
    buffer.resize(static_cast<size_t>(got));
    return json{{"data", to_hex(buffer)}, {"size", got}};
  }
  if (op == "write" || op == "pwrite") {
    std::string data = data_arg(request);
    ssize_t done = op == "write" ? ::write(fd_arg(request), data.data(), data.size())
                                 : ::pwrite(fd_arg(request), data.data(), data.size(), num(request, "offset", 0));
    check(done >= 0);
    return json{{"size", done}};
  }
  if (op == "lseek") {
    off_t at = ::lseek(fd_arg(request), num(request, "offset", 0), static_cast<int>(num(request, "whence", SEEK_SET)));
    check(at >= 0);
    return json{{"offset", at}};
  }
  if (op == "truncate") {
    check(::truncate(path_arg(request).c_str(), num(request, "size", 0)) == 0);
    return json::object();
  }
  if (op == "ftruncate") {
    check(::ftruncate(fd_arg(request), num(request, "size", 0)) == 0);
    return json::object();
  }
  if (op == "fsync") {
    check(::fsync(fd_arg(request)) == 0);
    return json::object();
  }
  if (op == "fdatasync") {
    check(::fdatasync(fd_arg(request)) == 0);
    return json::object();
  }
  if (op == "fallocate") {
    check(::fallocate(fd_arg(request), static_cast<int>(num(request, "mode", 0)), num(request, "offset", 0),
                      num(request, "len", 0)) == 0);
    return json::object();
  }
  if (op == "chmod") {
    check(::chmod(path_arg(request).c_str(), static_cast<mode_t>(num(request, "mode", 0))) == 0);
    return json::object();
  }
  if (op == "fchmod") {
    check(::fchmod(fd_arg(request), static_cast<mode_t>(num(request, "mode", 0))) == 0);
    return json::object();
  }
  if (op == "chown" || op == "lchown" || op == "fchown") {
    auto uid = static_cast<uid_t>(num(request, "uid", -1));
    auto gid = static_cast<gid_t>(num(request, "gid", -1));
    if (op == "chown") check(::chown(path_arg(request).c_str(), uid, gid) == 0);
    if (op == "lchown") check(::lchown(path_arg(request).c_str(), uid, gid) == 0);
    if (op == "fchown") check(::fchown(fd_arg(request), uid, gid) == 0);
    return json::object();
  }
  if (op == "utimensat" || op == "futimens") {
    timespec times[2];
    const timespec* times_arg = nullptr;
    if (!request.value("times_null", false)) {
      times[0] = time_arg(request.at("atime"));
      times[1] = time_arg(request.at("mtime"));
      times_arg = times;
    }
    if (op == "utimensat")
      check(::utimensat(AT_FDCWD, path_arg(request).c_str(), times_arg, static_cast<int>(num(request, "flags", 0))) == 0);
    else
      check(::futimens(fd_arg(request), times_arg) == 0);
    return json::object();
  }
  if (op == "link") {
    check(::link(path_arg(request, "from").c_str(), path_arg(request, "to").c_str()) == 0);
    return json::object();
  }
  if (op == "symlink") {
    check(::symlink(path_arg(request, "target").c_str(), path_arg(request).c_str()) == 0);
    return json::object();
  }
  if (op == "readlink") {
    std::string buffer(static_cast<size_t>(num(request, "size", 4096)), '\0');
    ssize_t got = ::readlink(path_arg(request).c_str(), buffer.data(), buffer.size());
    check(got >= 0);
    buffer.resize(static_cast<size_t>(got));
    return json{{"target", to_hex(buffer)}, {"size", got}};
  }
  if (op == "rename") {
    check(::rename(path_arg(request, "from").c_str(), path_arg(request, "to").c_str()) == 0);
    return json::object();
  }
  if (op == "renameat2") {
    check(::renameat2(AT_FDCWD, path_arg(request, "from").c_str(), AT_FDCWD, path_arg(request, "to").c_str(),
                      static_cast<unsigned>(num(request, "flags", 0))) == 0);
    return json::object();
  }
  if (op == "unlink") {
    check(::unlink(path_arg(request).c_str()) == 0);
    return json::object();
  }
  if (op == "mkdir") {
    check(::mkdir(path_arg(request).c_str(), static_cast<mode_t>(num(request, "mode", 0755))) == 0);
    return json::object();
  }
  if (op == "rmdir") {
    check(::rmdir(path_arg(request).c_str()) == 0);
    return json::object();
  }
  if (op == "mknod" || op == "mkfifo") {
    auto type = request.value("type", std::string("fifo"));
    mode_t kind = type == "file" ? S_IFREG : type == "chr" ? S_IFCHR : type == "blk" ? S_IFBLK
                : type == "sock" ? S_IFSOCK : S_IFIFO;
    dev_t dev = makedev(static_cast<unsigned>(num(request, "major", 0)), static_cast<unsigned>(num(request, "minor", 0)));
    check(::mknod(path_arg(request).c_str(), kind | static_cast<mode_t>(num(request, "mode", 0644)), dev) == 0);
    return json::object();
  }
  if (op == "access") {
    check(::access(path_arg(request).c_str(), static_cast<int>(num(request, "mode", 0))) == 0);
    return json::object();
  }
  if (op == "faccessat") {
    check(::faccessat(AT_FDCWD, path_arg(request).c_str(), static_cast<int>(num(request, "mode", 0)),
                      static_cast<int>(num(request, "flags", 0))) == 0);
    return json::object();
  }
  if (op == "statvfs") {
    check(::statvfs(path_arg(request).c_str(), &sv) == 0);
    return statvfs_result(sv);
  }
  if (op == "fstatvfs") {
    check(::fstatvfs(fd_arg(request), &sv) == 0);
    return statvfs_result(sv);
  }
  if (op == "getdents") {
    std::vector<char> buffer(static_cast<size_t>(num(request, "size", 32768)));
    long got = ::syscall(SYS_getdents64, fd_arg(request), buffer.data(), buffer.size());
    check(got >= 0);
    json entries = json::array(), names = json::array();
    for (long at = 0; at < got;) {
      struct Dirent64 {
        uint64_t d_ino;
        int64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[];
      };
      auto* entry = reinterpret_cast<Dirent64*>(buffer.data() + at);
      std::string name(entry->d_name);
      entries.push_back({{"name", name}, {"ino", entry->d_ino}, {"type", dtype_name(entry->d_type)}, {"off", entry->d_off}});
      names.push_back(name);
      at += entry->d_reclen;
    }
    return json{{"entries", entries}, {"names", names}, {"count", names.size()}, {"eof", got == 0}};
  }
  if (op == "opendir") {
    DIR* dir = ::opendir(path_arg(request).c_str());
    check(dir != nullptr);
    auto name = request.at("dir").get<std::string>();
    if (open_dirs.count(name)) ::closedir(open_dirs[name]);
    open_dirs[name] = dir;
    return json::object();
  }
  if (op == "readdir") {
    DIR* dir = dir_arg(request);
    errno = 0;
    struct dirent* entry = ::readdir(dir);
    if (entry == nullptr) {
      check(errno == 0);
      return json{{"name", ""}, {"ino", 0}, {"type", "unknown"}, {"end", true}};
    }
    return json{{"name", entry->d_name}, {"ino", entry->d_ino}, {"type", dtype_name(entry->d_type)}, {"end", false}};
  }
  if (op == "telldir") {
    long pos = ::telldir(dir_arg(request));
    check(pos >= 0);
    return json{{"pos", pos}};
  }
  if (op == "seekdir") {
    ::seekdir(dir_arg(request), num(request, "pos", 0));
    return json::object();
  }
  if (op == "rewinddir") {
    ::rewinddir(dir_arg(request));
    return json::object();
  }
  if (op == "closedir") {
    DIR* dir = dir_arg(request);
    open_dirs.erase(request.at("dir").get<std::string>());
    check(::closedir(dir) == 0);
    return json::object();
  }
  if (op == "listdir") {
    DIR* dir = ::opendir(path_arg(request).c_str());
    check(dir != nullptr);
    json entries = json::array(), names = json::array();
    for (;;) {
      errno = 0;
      struct dirent* entry = ::readdir(dir);
      if (entry == nullptr) {
        int err = errno;
        ::closedir(dir);
        if (err != 0) throw SyscallFailed{err};
        break;
      }
      entries.push_back({{"name", entry->d_name}, {"ino", entry->d_ino}, {"type", dtype_name(entry->d_type)}});
      names.push_back(entry->d_name);
    }
    return json{{"entries", entries}, {"names", names}, {"count", names.size()}};
  }
  if (op == "setxattr" || op == "lsetxattr" || op == "fsetxattr") {
    std::string value = data_arg(request);
    auto name = request.at("name").get<std::string>();
    int flags = static_cast<int>(num(request, "flags", 0));
    int rc = op == "setxattr"    ? ::setxattr(path_arg(request).c_str(), name.c_str(), value.data(), value.size(), flags)
             : op == "lsetxattr" ? ::lsetxattr(path_arg(request).c_str(), name.c_str(), value.data(), value.size(), flags)
                                 : ::fsetxattr(fd_arg(request), name.c_str(), value.data(), value.size(), flags);
    check(rc == 0);
    return json::object();
  }
  if (op == "getxattr" || op == "lgetxattr" || op == "fgetxattr") {
    std::string buffer(static_cast<size_t>(num(request, "size", 65536)), '\0');
    auto name = request.at("name").get<std::string>();
    ssize_t got = op == "getxattr"    ? ::getxattr(path_arg(request).c_str(), name.c_str(), buffer.data(), buffer.size())
                  : op == "lgetxattr" ? ::lgetxattr(path_arg(request).c_str(), name.c_str(), buffer.data(), buffer.size())
                                      : ::fgetxattr(fd_arg(request), name.c_str(), buffer.data(), buffer.size());
    check(got >= 0);
    buffer.resize(buffer.empty() ? 0 : static_cast<size_t>(got));
    return json{{"data", to_hex(buffer)}, {"size", got}};
  }
  if (op == "listxattr" || op == "llistxattr" || op == "flistxattr") {
    std::string buffer(static_cast<size_t>(num(request, "size", 65536)), '\0');
    ssize_t got = op == "listxattr"    ? ::listxattr(path_arg(request).c_str(), buffer.data(), buffer.size())
                  : op == "llistxattr" ? ::llistxattr(path_arg(request).c_str(), buffer.data(), buffer.size())
                                       : ::flistxattr(fd_arg(request), buffer.data(), buffer.size());
    check(got >= 0);
    json names = buffer.empty() ? json::array() : list_names(buffer.data(), got);
    return json{{"names", names}, {"size", got}};
  }
  if (op == "removexattr" || op == "lremovexattr" || op == "fremovexattr") {
    auto name = request.at("name").get<std::string>();
    int rc = op == "removexattr"    ? ::removexattr(path_arg(request).c_str(), name.c_str())
             : op == "lremovexattr" ? ::lremovexattr(path_arg(request).c_str(), name.c_str())
                                    : ::fremovexattr(fd_arg(request), name.c_str());
    check(rc == 0);
    return json::object();
  }
  if (op == "create_file") {
    int fd = ::open(path_arg(request).c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC,
                    static_cast<mode_t>(num(request, "mode", 0644)));
    check(fd >= 0);
    std::string data = data_arg(request);
    if (!data.empty() && ::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
      int err = errno;
      ::close(fd);
      throw SyscallFailed{err != 0 ? err : EIO};
    }
    check(::close(fd) == 0);
    return json::object();
  }
  if (op == "read_file") {
    int fd = ::open(path_arg(request).c_str(), O_RDONLY | O_CLOEXEC);
    check(fd >= 0);
    std::string content = read_all_fd(fd);
    ::close(fd);
    return json{{"data", to_hex(content)}, {"size", content.size()}};
  }
  if (op == "create_many" || op == "unlink_many") {
    auto prefix = request.at("prefix").get<std::string>();
    long start = num(request, "start", 0), count = num(request, "count", 0);
    bool dirs = request.value("kind", std::string("file")) == "dir";
    for (long i = start; i < start + count; ++i) {
      std::string name = prefix + std::to_string(i);
      if (op == "unlink_many") {
        check((dirs ? ::rmdir(name.c_str()) : ::unlink(name.c_str())) == 0);
      } else if (dirs) {
        check(::mkdir(name.c_str(), static_cast<mode_t>(num(request, "mode", 0755))) == 0);
      } else {
        int fd = ::open(name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, static_cast<mode_t>(num(request, "mode", 0644)));
        check(fd >= 0);
        ::close(fd);
      }
    }
    return json{{"count", count}};
  }
  // Harness-internal requests, never reachable from a scenario.
  if (op == "chdir") {
    close_everything();
    check(::chdir(path_arg(request).c_str()) == 0);
    return json::object();
  }
  if (op == "reset") {
    close_everything();
    check(::chdir("/") == 0);
    return json::object();
  }
  if (op == "prepare_workdir") {
    // mkdir, then chown and chmod: the mode must not be filtered by our umask.
    std::string path = path_arg(request);
    check(::mkdir(path.c_str(), 0700) == 0);
    check(::chown(path.c_str(), static_cast<uid_t>(num(request, "uid", 0)), static_cast<gid_t>(num(request, "gid", 0))) == 0);
    check(::chmod(path.c_str(), static_cast<mode_t>(num(request, "mode", 0777))) == 0);
    return json::object();
  }
  if (op == "rmtree") {
    // FTW_MOUNT: never cross into another filesystem; FTW_PHYS: never follow symlinks.
    check(::nftw(path_arg(request).c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0);
    return json::object();
  }
  if (op == "identity") {
    std::vector<gid_t> groups(static_cast<size_t>(::getgroups(0, nullptr)));
    ::getgroups(static_cast<int>(groups.size()), groups.data());
    mode_t mask = ::umask(0);
    ::umask(mask);
    return json{{"uid", ::geteuid()}, {"gid", ::getegid()}, {"groups", groups}, {"umask", mask}};
  }
  throw BadRequest{"unknown op '" + op + "'"};
}

std::vector<gid_t> parse_groups(const std::string& text) {
  std::vector<gid_t> groups;
  size_t at = 0;
  while (at < text.size()) {
    size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    if (comma > at) groups.push_back(static_cast<gid_t>(std::stoul(text.substr(at, comma - at))));
    at = comma + 1;
  }
  return groups;
}

}  // namespace

int main(int argc, char** argv) {
  // Die with the harness: an orphaned actor must not keep a mount busy.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::signal(SIGPIPE, SIG_IGN);
  if (argc != 5) {
    std::fprintf(stderr, "usage: fusecheck-actor UID GID GROUPS(a,b,..) UMASK(octal)\n");
    return 2;
  }
  try {
    auto uid = static_cast<uid_t>(std::stoul(argv[1]));
    auto gid = static_cast<gid_t>(std::stoul(argv[2]));
    auto groups = parse_groups(argv[3]);
    auto mask = static_cast<mode_t>(std::stoul(argv[4], nullptr, 8));
    if (::geteuid() == 0) {
      if (::setgroups(groups.size(), groups.data()) != 0) throw std::runtime_error(std::string("setgroups: ") + std::strerror(errno));
      if (::setresgid(gid, gid, gid) != 0) throw std::runtime_error(std::string("setresgid: ") + std::strerror(errno));
      if (::setresuid(uid, uid, uid) != 0) throw std::runtime_error(std::string("setresuid: ") + std::strerror(errno));
      // setuid clears the dumpable flag and with it nothing we need; PDEATHSIG survives it
      // only for same-credential changes, so set it again.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    } else if (uid != ::geteuid() || gid != ::getegid()) {
      throw std::runtime_error("not root: cannot become uid " + std::to_string(uid));
    }
    ::umask(mask);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fusecheck-actor: %s\n", error.what());
    return 3;
  }
  if (::getppid() == 1) return 3;  // the harness died before we armed PDEATHSIG

  std::string payload;
  while (read_frame(STDIN_FILENO, payload) == FrameStatus::ok) {
    json reply;
    try {
      json request = json::parse(payload);
      if (request.at("op") == "exit") break;
      reply = json{{"ok", true}, {"r", handle(request)}};
    } catch (const SyscallFailed& failed) {
      reply = json{{"ok", false}, {"errno", failed.err}};
    } catch (const BadRequest& bad) {
      reply = json{{"ok", false}, {"protocol_error", bad.message}};
    } catch (const std::exception& error) {
      reply = json{{"ok", false}, {"protocol_error", error.what()}};
    }
    if (!write_frame(STDOUT_FILENO, reply.dump(-1, ' ', false, json::error_handler_t::replace))) break;
  }
  close_everything();
  return 0;
}
