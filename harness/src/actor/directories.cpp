// Executors of the name-space and directory ops: links, renames, node creation and removal,
// getdents64, directory streams (with the listing each has collected), and the bulk helpers
// create_many and unlink_many.
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>

#include "actor.hpp"
#include "fusecheck/protocol.hpp"

namespace fusecheck::actor {

using nlohmann::json;

namespace {

json done(int rc) {
  check(rc == 0);
  return json::object();
}

json link_op(const json& request) {
  return done(::link(path_arg(request, "from").c_str(), path_arg(request, "to").c_str()));
}

json symlink_op(const json& request) {
  return done(::symlink(path_arg(request, "target").c_str(), path_arg(request).c_str()));
}

json readlink_op(const json& request) {
  std::string buffer(static_cast<size_t>(num(request, "size", 4096)), '\0');
  ssize_t got = ::readlink(path_arg(request).c_str(), buffer.data(), buffer.size());
  check(got >= 0);
  buffer.resize(static_cast<size_t>(got));
  return json{{"target", to_hex(buffer)}, {"size", got}};
}

json rename_op(const json& request) {
  return done(::rename(path_arg(request, "from").c_str(), path_arg(request, "to").c_str()));
}

json renameat2_op(const json& request) {
  return done(::renameat2(AT_FDCWD, path_arg(request, "from").c_str(), AT_FDCWD, path_arg(request, "to").c_str(),
                          static_cast<unsigned>(num(request, "flags", 0))));
}

json unlink_op(const json& request) { return done(::unlink(path_arg(request).c_str())); }

json mkdir_op(const json& request) {
  return done(::mkdir(path_arg(request).c_str(), static_cast<mode_t>(num(request, "mode", 0755))));
}

json rmdir_op(const json& request) { return done(::rmdir(path_arg(request).c_str())); }

mode_t node_type(const std::string& type) {
  if (type == "file") return S_IFREG;
  if (type == "chr") return S_IFCHR;
  if (type == "blk") return S_IFBLK;
  if (type == "sock") return S_IFSOCK;
  return S_IFIFO;
}

json mknod_op(const json& request) {
  mode_t kind = node_type(request.value("type", std::string("fifo")));
  // The parser allows only major 0 (no driver serves it); refused here too, whoever asks.
  if ((kind == S_IFCHR || kind == S_IFBLK) && num(request, "major", 0) != 0)
    throw BadRequest{"device nodes may only have major 0"};
  dev_t dev = makedev(static_cast<unsigned>(num(request, "major", 0)), static_cast<unsigned>(num(request, "minor", 0)));
  return done(::mknod(path_arg(request).c_str(), kind | static_cast<mode_t>(num(request, "mode", 0644)), dev));
}

json mkfifo_op(const json& request) {
  return done(::mknod(path_arg(request).c_str(), S_IFIFO | static_cast<mode_t>(num(request, "mode", 0644)), 0));
}

// One getdents64 call on `fd` with a buffer of `size` bytes.
json getdents_chunk(int fd, size_t size) {
  std::vector<char> buffer(size);
  long got = ::syscall(SYS_getdents64, fd, buffer.data(), buffer.size());
  check(got >= 0);
  struct Dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
  };
  json entries = json::array(), names = json::array();
  for (long at = 0; at < got;) {
    auto* entry = reinterpret_cast<Dirent64*>(buffer.data() + at);
    std::string name(entry->d_name);
    entries.push_back(
        {{"name", name}, {"ino", entry->d_ino}, {"type", dtype_name(entry->d_type)}, {"off", entry->d_off}});
    names.push_back(name);
    at += entry->d_reclen;
  }
  return json{{"entries", entries}, {"names", names}, {"count", names.size()}, {"eof", got == 0}};
}

json getdents_op(const json& request) {
  return getdents_chunk(fd_arg(request), static_cast<size_t>(num(request, "size", 32768)));
}

json opendir_op(const json& request) {
  DIR* dir = ::opendir(path_arg(request).c_str());
  check(dir != nullptr);
  bind_dir(request, dir);
  return json::object();
}

// The stream's next entry, recorded in its listing; nullptr at the end of the directory.
const struct dirent* next_entry(OpenDir& dir) {
  errno = 0;
  const struct dirent* entry = ::readdir(dir.stream);
  check(entry != nullptr || errno == 0);
  if (entry != nullptr) dir.listed.emplace_back(entry->d_name);
  return entry;
}

json readdir_op(const json& request) {
  const struct dirent* entry = next_entry(open_dir_arg(request));
  if (entry == nullptr) return json{{"name", ""}, {"ino", 0}, {"type", "unknown"}, {"end", true}};
  return json{{"name", entry->d_name}, {"ino", entry->d_ino}, {"type", dtype_name(entry->d_type)}, {"end", false}};
}

// `count` entries of the stream (0: to the end), and the stream's whole listing so far.
json readdir_many_op(const json& request) {
  OpenDir& dir = open_dir_arg(request);
  const long count = num(request, "count", 0);
  json entries = json::array(), names = json::array();
  bool end = false;
  while (count == 0 || static_cast<long>(names.size()) < count) {
    const struct dirent* entry = next_entry(dir);
    if ((end = entry == nullptr)) break;
    entries.push_back({{"name", entry->d_name}, {"ino", entry->d_ino}, {"type", dtype_name(entry->d_type)}});
    names.push_back(entry->d_name);
  }
  return json{{"entries", entries}, {"names", names}, {"count", names.size()}, {"end", end}, {"listed", dir.listed}};
}

json telldir_op(const json& request) {
  OpenDir& dir = open_dir_arg(request);
  long pos = ::telldir(dir.stream);
  check(pos >= 0);
  dir.listed_at[pos] = dir.listed.size();
  dir.last_told = pos;
  return json{{"pos", pos}};
}

// Without `pos`: back to where the stream's last telldir was (the start if none was), which
// a caller that cannot carry the number (the fuzzer, the same request to two filesystems) needs.
json seekdir_op(const json& request) {
  OpenDir& dir = open_dir_arg(request);
  const long pos = num(request, "pos", dir.last_told);
  ::seekdir(dir.stream, pos);
  dir.seek(pos);
  return json::object();
}

json rewinddir_op(const json& request) {
  OpenDir& dir = open_dir_arg(request);
  ::rewinddir(dir.stream);
  dir.listed.clear();
  dir.listed_at.clear();
  dir.last_told = 0;
  return json::object();
}

json closedir_op(const json& request) {
  close_dir(request);
  return json::object();
}

// listdir with `size`: getdents64 with that buffer until it returns 0, so a small buffer
// makes the filesystem answer many short READDIR requests.
json listdir_with_buffer(const json& request) {
  int fd = ::open(path_arg(request).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  check(fd >= 0);
  json entries = json::array(), names = json::array();
  for (;;) {
    json chunk;
    try {
      chunk = getdents_chunk(fd, static_cast<size_t>(num(request, "size", 32768)));
    } catch (...) {
      ::close(fd);
      throw;
    }
    if (chunk.at("eof").get<bool>()) break;
    for (auto& entry : chunk.at("entries")) {
      entry.erase("off");
      names.push_back(entry.at("name"));
      entries.push_back(std::move(entry));
    }
  }
  ::close(fd);
  return json{{"entries", entries}, {"names", names}, {"count", names.size()}};
}

json listdir_op(const json& request) {
  if (request.contains("size")) return listdir_with_buffer(request);
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

// The directory a bulk op's names go in, opened once (O_PATH: no read permission needed), so
// that each name is made or removed relative to it: on a FUSE mount with entry_timeout 0 a
// path walked again per name costs a LOOKUP and a GETATTR of every component on the way.
struct BulkDirectory {
  int fd = AT_FDCWD;
  std::string name_prefix;  // the prefix's last component
  explicit BulkDirectory(const std::string& prefix) {
    const auto slash = prefix.rfind('/');
    name_prefix = slash == std::string::npos ? prefix : prefix.substr(slash + 1);
    if (slash == std::string::npos) return;
    fd = ::open(slash == 0 ? "/" : prefix.substr(0, slash).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    check(fd >= 0);
  }
  ~BulkDirectory() {
    if (fd != AT_FDCWD) ::close(fd);
  }
  BulkDirectory(const BulkDirectory&) = delete;
  BulkDirectory& operator=(const BulkDirectory&) = delete;
};

enum class BulkKind { file, dir, node };

BulkKind bulk_kind(const json& request) {
  const auto kind = request.value("kind", std::string("file"));
  return kind == "dir" ? BulkKind::dir : kind == "node" ? BulkKind::node : BulkKind::file;
}

// A regular file made by open and close (a FUSE daemon sees CREATE, FLUSH, RELEASE).
void open_and_close(int dir, const char* name, mode_t mode) {
  int fd = ::openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
  check(fd >= 0);
  ::close(fd);
}

// kind node: a regular file made by mknod(2), one MKNOD request instead of three; a filesystem
// that does not make regular files that way (ENOSYS on FUSE without a mknod handler, EPERM or
// EOPNOTSUPP elsewhere) gets open and close for this name and the rest (`kind` becomes file).
void create_one(int dir, const std::string& name, BulkKind& kind, mode_t mode) {
  if (kind == BulkKind::dir) return check(::mkdirat(dir, name.c_str(), mode) == 0);
  if (kind == BulkKind::node) {
    if (::mknodat(dir, name.c_str(), S_IFREG | mode, 0) == 0) return;
    check(errno == ENOSYS || errno == EPERM || errno == EOPNOTSUPP);
    kind = BulkKind::file;
  }
  open_and_close(dir, name.c_str(), mode);
}

json create_many_op(const json& request) {
  const BulkDirectory dir(request.at("prefix").get<std::string>());
  long start = num(request, "start", 0), count = num(request, "count", 0);
  BulkKind kind = bulk_kind(request);
  auto mode = static_cast<mode_t>(num(request, "mode", kind == BulkKind::dir ? 0755 : 0644));
  for (long i = start; i < start + count; ++i) create_one(dir.fd, dir.name_prefix + std::to_string(i), kind, mode);
  return json{{"count", count}};
}

json unlink_many_op(const json& request) {
  const BulkDirectory dir(request.at("prefix").get<std::string>());
  long start = num(request, "start", 0), count = num(request, "count", 0);
  const int flags = bulk_kind(request) == BulkKind::dir ? AT_REMOVEDIR : 0;
  for (long i = start; i < start + count; ++i)
    check(::unlinkat(dir.fd, (dir.name_prefix + std::to_string(i)).c_str(), flags) == 0);
  return json{{"count", count}};
}

}  // namespace

const std::vector<Executor> directory_executors = {
    {"link", link_op},
    {"symlink", symlink_op},
    {"readlink", readlink_op},
    {"rename", rename_op},
    {"renameat2", renameat2_op},
    {"unlink", unlink_op},
    {"mkdir", mkdir_op},
    {"rmdir", rmdir_op},
    {"mknod", mknod_op},
    {"mkfifo", mkfifo_op},
    {"getdents", getdents_op},
    {"opendir", opendir_op},
    {"readdir", readdir_op},
    {"readdir_many", readdir_many_op},
    {"telldir", telldir_op},
    {"seekdir", seekdir_op},
    {"rewinddir", rewinddir_op},
    {"closedir", closedir_op},
    {"listdir", listdir_op},
    {"create_many", create_many_op},
    {"unlink_many", unlink_many_op},
};

}  // namespace fusecheck::actor
