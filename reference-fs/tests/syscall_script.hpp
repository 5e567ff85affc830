// A tiny language for syscall sequences run on a mountpoint: each step is a call (as root or
// as another uid) plus the paths whose stat it should report, and running a sequence yields
// a transcript (return value, errno, data, and per path mode/nlink/size/blocks/rdev and
// whether each of a/m/ctime moved) that two filesystems must produce identically.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fusepp/testing.hpp"

namespace memfs::test {

struct Outcome {
  long ret = 0;
  int err = 0;
  std::string data;  // what the call read back, if anything
};

inline Outcome sys_outcome(long ret) { return Outcome{ret, ret < 0 ? errno : 0, {}}; }

// State of one run: descriptors the steps keep open, by name.
struct Script {
  std::map<std::string, int> fds;
  int fd(const std::string& name) const {
    auto it = fds.find(name);
    return it == fds.end() ? -1 : it->second;
  }
  long keep(const std::string& name, long fd) {
    if (fd >= 0) fds[name] = static_cast<int>(fd);
    return fd;
  }
};

struct Step {
  std::string text;
  std::function<Outcome(Script&)> call;
  std::vector<std::string> observe;  // paths to lstat, or "#name" for fstat of a kept fd
  uid_t uid = 0;                     // run the call as this uid (gid = uid), 0 = root
};

// SYS(expr): a step body that evaluates a syscall expression (which may use `s`, the
// Script) and records its result and errno.
#define SYS(expr)                                          \
  [](::memfs::test::Script& s) -> ::memfs::test::Outcome { \
    (void)s;                                               \
    errno = 0;                                             \
    long ret__ = static_cast<long>(expr);                  \
    return ::memfs::test::sys_outcome(ret__);              \
  }

inline std::string errno_name(int err) {
  if (err == 0) return "0";
  const char* name = strerrorname_np(err);
  return name ? name : std::to_string(err);
}

inline std::string escape(std::string_view data) {
  std::string out;
  for (unsigned char c : data) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

// ----- calls that return data -----

inline Outcome read_at(Script& s, const std::string& name, off_t off, size_t size) {
  std::string buf(size, '\0');
  errno = 0;
  ssize_t n = ::pread(s.fd(name), buf.data(), size, off);
  Outcome out = sys_outcome(n);
  if (n > 0) out.data = escape(buf.substr(0, static_cast<size_t>(n)));
  return out;
}

inline Outcome read_file(const std::string& path, size_t size = 256) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return sys_outcome(fd);
  std::string buf(size, '\0');
  ssize_t n = ::read(fd, buf.data(), size);
  Outcome out = sys_outcome(n);
  if (n > 0) out.data = escape(buf.substr(0, static_cast<size_t>(n)));
  ::close(fd);
  return out;
}

// Names in readdir order, '.' and '..' included.
inline Outcome list_dir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (!dir) return sys_outcome(-1);
  Outcome out;
  while (dirent* entry = ::readdir(dir)) {
    out.data += entry->d_name;
    out.data += '/';
    out.data += std::to_string(entry->d_type);
    out.data += ' ';
  }
  ::closedir(dir);
  return out;
}

inline Outcome get_xattr(const std::string& path, const std::string& name, size_t size = 256) {
  std::string buf(size, '\0');
  errno = 0;
  ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), size ? buf.data() : nullptr, size);
  Outcome out = sys_outcome(n);
  if (n > 0 && size) out.data = escape(buf.substr(0, static_cast<size_t>(n)));
  return out;
}

inline Outcome list_xattr(const std::string& path, size_t size = 1024) {
  std::string buf(size, '\0');
  errno = 0;
  ssize_t n = ::llistxattr(path.c_str(), size ? buf.data() : nullptr, size);
  Outcome out = sys_outcome(n);
  if (n > 0 && size) out.data = escape(buf.substr(0, static_cast<size_t>(n)));
  return out;
}

inline Outcome read_link(const std::string& path) {
  char buf[8192];
  errno = 0;
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  Outcome out = sys_outcome(n);
  if (n > 0) out.data = escape(std::string_view(buf, static_cast<size_t>(n)));
  return out;
}

inline Outcome stat_fs(const std::string& path) {
  struct statvfs st;
  Outcome out = sys_outcome(::statvfs(path.c_str(), &st));
  if (out.ret == 0) {
    std::ostringstream text;
    text << "bsize=" << st.f_bsize << " blocks=" << st.f_blocks << " bfree=" << st.f_bfree << " bavail=" << st.f_bavail
         << " files=" << st.f_files << " ffree=" << st.f_ffree << " namemax=" << st.f_namemax;
    out.data = text.str();
  }
  return out;
}

inline Outcome seek(Script& s, const std::string& name, off_t off, int whence) {
  errno = 0;
  return sys_outcome(::lseek(s.fd(name), off, whence));
}

inline Outcome utimens(const std::string& path, timespec atime, timespec mtime, int flags = 0) {
  timespec times[2] = {atime, mtime};
  return sys_outcome(::utimensat(AT_FDCWD, path.c_str(), times, flags));
}

inline long stat_path(const char* path) {
  struct stat st;
  return ::stat(path, &st);
}

inline std::string long_name(size_t length, char fill = 'n') { return std::string(length, fill); }

// ----- running -----

struct Observation {
  bool exists = false;
  struct stat st {};
};

inline Observation observe(const Script& s, const std::string& what) {
  Observation o;
  int rc = what.starts_with("#") ? ::fstat(s.fd(what.substr(1)), &o.st) : ::lstat(what.c_str(), &o.st);
  o.exists = rc == 0;
  return o;
}

inline char moved(const timespec& before, const timespec& after) {
  auto key = [](const timespec& t) { return std::pair(t.tv_sec, t.tv_nsec); };
  return key(after) > key(before) ? '+' : key(after) == key(before) ? '=' : '-';
}

inline std::string describe(const std::string& what, const Observation& before, const Observation& after) {
  std::ostringstream text;
  text << what << ":";
  if (!after.exists) return text.str() + " absent";
  const struct stat& st = after.st;
  text << std::oct << " mode=" << st.st_mode << std::dec << " nlink=" << st.st_nlink << " size=" << st.st_size
       << " blocks=" << st.st_blocks << " uid=" << st.st_uid << " gid=" << st.st_gid;
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) text << " rdev=" << major(st.st_rdev) << ":" << minor(st.st_rdev);
  if (!before.exists) return text.str() + " new";
  text << " amc=" << moved(before.st.st_atim, st.st_atim) << moved(before.st.st_mtim, st.st_mtim)
       << moved(before.st.st_ctim, st.st_ctim);
  return text.str();
}

// Runs the call as another user in a grandchild and brings its outcome back.
inline Outcome run_as(uid_t uid, const std::function<Outcome(Script&)>& call, Script& s) {
  int fds[2];
  if (::pipe(fds) != 0) return Outcome{-1, EIO, "pipe"};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    gid_t gid = uid;
    Outcome out;
    if (::setgroups(1, &gid) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
      out = Outcome{-1, EPERM, "cannot switch user"};
    } else {
      out = call(s);
    }
    std::string message = std::to_string(out.ret) + "\n" + std::to_string(out.err) + "\n" + out.data;
    if (::write(fds[1], message.data(), message.size()) < 0) ::_exit(2);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string message;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) message.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  std::istringstream in(message);
  Outcome out;
  in >> out.ret >> out.err;
  in.get();
  std::getline(in, out.data, '\0');
  return out;
}

// Runs all steps in the current directory; one transcript line per step.
inline std::vector<std::string> run_steps(const std::vector<Step>& steps) {
  ::umask(022);
  Script script;
  std::vector<std::string> transcript;
  for (const Step& step : steps) {
    std::vector<Observation> before;
    for (const auto& path : step.observe) before.push_back(observe(script, path));
    fusepp::testing::wait_for_tick(CLOCK_REALTIME_COARSE);  // so "updated" never reads as "unchanged"
    Outcome out = step.uid ? run_as(step.uid, step.call, script) : step.call(script);
    std::string line = step.text + " -> " + std::to_string(out.ret) + " " + errno_name(out.err);
    if (!out.data.empty()) line += " [" + out.data + "]";
    for (size_t i = 0; i < step.observe.size(); ++i) {
      line += " | " + describe(step.observe[i], before[i], observe(script, step.observe[i]));
    }
    transcript.push_back(line);
  }
  return transcript;
}

}  // namespace memfs::test
