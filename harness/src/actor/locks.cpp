// Executors of the `handles` ops: flock and fcntl record locks (process-owned and OFD),
// copy_file_range (a memfd stands for a file outside the mount), file handles saved by
// name_to_handle_at for a later open_by_handle_at, and the FS_IOC_GETFLAGS/SETFLAGS ioctls.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "actor.hpp"
#include "fusecheck/protocol.hpp"

namespace fusecheck::actor {

using nlohmann::json;

namespace {

// Handles by the name a scenario gave them: struct file_handle with its bytes after it.
std::map<std::string, std::string> saved_handles;

struct NamedValue {
  std::string_view name;
  int value;
};

constexpr NamedValue lock_commands[] = {
    {"F_SETLK", F_SETLK},         {"F_SETLKW", F_SETLKW},         {"F_GETLK", F_GETLK},
    {"F_OFD_SETLK", F_OFD_SETLK}, {"F_OFD_SETLKW", F_OFD_SETLKW}, {"F_OFD_GETLK", F_OFD_GETLK},
};
constexpr NamedValue lock_types[] = {{"F_RDLCK", F_RDLCK}, {"F_WRLCK", F_WRLCK}, {"F_UNLCK", F_UNLCK}};

template <size_t N>
int value_of(const NamedValue (&table)[N], const std::string& name) {
  for (const auto& entry : table)
    if (entry.name == name) return entry.value;
  throw BadRequest{"unknown name '" + name + "'"};
}

template <size_t N>
std::string name_of(const NamedValue (&table)[N], int value) {
  for (const auto& entry : table)
    if (entry.value == value) return std::string(entry.name);
  return std::to_string(value);
}

json flock_op(const json& request) {
  check(::flock(fd_arg(request), static_cast<int>(num(request, "operation", 0))) == 0);
  return json::object();
}

// The lock as the call left it: after F_GETLK/F_OFD_GETLK the conflicting lock (pid -1 for an
// OFD lock) or type F_UNLCK; after a set command, the request itself.
json fcntl_lock_op(const json& request) {
  struct flock lock {};
  lock.l_type = static_cast<short>(value_of(lock_types, request.at("type").get<std::string>()));
  lock.l_whence = static_cast<short>(num(request, "whence", SEEK_SET));
  lock.l_start = num(request, "start", 0);
  lock.l_len = num(request, "len", 0);
  int command = value_of(lock_commands, request.at("cmd").get<std::string>());
  check(::fcntl(fd_arg(request), command, &lock) == 0);
  return json{
      {"type", name_of(lock_types, lock.l_type)}, {"pid", lock.l_pid}, {"start", lock.l_start}, {"len", lock.l_len}};
}

// Offsets left out of the request are passed as NULL: the descriptors' positions are used.
json copy_file_range_op(const json& request) {
  loff_t offset_in = num(request, "off_in", 0), offset_out = num(request, "off_out", 0);
  ssize_t copied =
      ::copy_file_range(fd_arg(request, "fd_in"), request.contains("off_in") ? &offset_in : nullptr,
                        fd_arg(request, "fd_out"), request.contains("off_out") ? &offset_out : nullptr,
                        static_cast<size_t>(num(request, "len", 0)), static_cast<unsigned>(num(request, "flags", 0)));
  check(copied >= 0);
  return json{{"size", copied}};
}

// An anonymous file on the kernel's internal tmpfs: a file outside the mount that reaches
// nothing else, for copies across the mount boundary.
json memfd_create_op(const json& request) {
  int fd = ::memfd_create("fusecheck", MFD_CLOEXEC);
  check(fd >= 0);
  bind_fd(request, fd);
  return json{{"fd", fd}};
}

json name_to_handle_at_op(const json& request) {
  std::string buffer(sizeof(file_handle) + MAX_HANDLE_SZ, '\0');
  auto* handle = reinterpret_cast<file_handle*>(buffer.data());
  handle->handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  check(::name_to_handle_at(AT_FDCWD, path_arg(request).c_str(), handle, &mount_id,
                            static_cast<int>(num(request, "flags", 0))) == 0);
  buffer.resize(sizeof(file_handle) + handle->handle_bytes);
  saved_handles[request.at("handle").get<std::string>()] = buffer;
  return json{{"handle_type", handle->handle_type},
              {"handle_bytes", handle->handle_bytes},
              {"handle", to_hex(buffer.substr(sizeof(file_handle)))},
              {"mount_id", mount_id}};
}

// The mount is named by the workdir (the actor's current directory), so only the mount the
// test runs on can be reached, and only through handles this test's steps made.
json open_by_handle_at_op(const json& request) {
  auto found = saved_handles.find(request.at("handle").get<std::string>());
  if (found == saved_handles.end()) throw SyscallFailed{EBADF};
  // The kernel takes mount_fd with fdget(), which refuses O_PATH descriptors.
  int mount_fd = ::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  check(mount_fd >= 0);
  int fd = ::open_by_handle_at(mount_fd, reinterpret_cast<file_handle*>(found->second.data()),
                               static_cast<int>(num(request, "flags", 0)) | O_CLOEXEC);
  int err = errno;
  ::close(mount_fd);
  if (fd < 0) throw SyscallFailed{err};
  bind_fd(request, fd);
  return json{{"fd", fd}};
}

// The kernel reads and writes an int, whatever the ioctl number's size field says.
json ioctl_getflags_op(const json& request) {
  int flags = 0;
  check(::ioctl(fd_arg(request), FS_IOC_GETFLAGS, &flags) == 0);
  return json{{"flags", flags}};
}

json ioctl_setflags_op(const json& request) {
  int flags = static_cast<int>(num(request, "flags", 0));
  check(::ioctl(fd_arg(request), FS_IOC_SETFLAGS, &flags) == 0);
  return json::object();
}

}  // namespace

void forget_file_handles() { saved_handles.clear(); }

const std::vector<Executor> handle_executors = {
    {"flock", flock_op},
    {"fcntl_lock", fcntl_lock_op},
    {"copy_file_range", copy_file_range_op},
    {"memfd_create", memfd_create_op},
    {"name_to_handle_at", name_to_handle_at_op},
    {"open_by_handle_at", open_by_handle_at_op},
    {"ioctl_getflags", ioctl_getflags_op},
    {"ioctl_setflags", ioctl_setflags_op},
};

}  // namespace fusecheck::actor
