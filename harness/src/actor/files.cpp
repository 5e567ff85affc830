// Executors of the file ops: open, read, write, seek, truncate, sync, fallocate and the
// whole-file helpers create_file and read_file. read/write buffers are page-aligned, so the
// same steps work on descriptors opened with O_DIRECT.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "actor.hpp"
#include "fusecheck/protocol.hpp"

namespace fusecheck::actor {

using nlohmann::json;

namespace {

json open_op(const json& request) {
  int fd = ::open(path_arg(request).c_str(), static_cast<int>(num(request, "flags", 0)) | O_CLOEXEC,
                  static_cast<mode_t>(num(request, "mode", 0644)));
  check(fd >= 0);
  bind_fd(request, fd);
  return json{{"fd", fd}};
}

json creat_op(const json& request) {
  int fd = ::open(path_arg(request).c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC,
                  static_cast<mode_t>(num(request, "mode", 0644)));
  check(fd >= 0);
  bind_fd(request, fd);
  return json{{"fd", fd}};
}

json close_op(const json& request) {
  close_fd(request);
  return json::object();
}

// A page-aligned buffer of at least one page: O_DIRECT on most filesystems needs the
// memory aligned as well as the offset and the size.
struct AlignedBuffer {
  static constexpr size_t kAlign = 4096;
  explicit AlignedBuffer(size_t size)
      : size(size), bytes(static_cast<char*>(std::aligned_alloc(kAlign, (size / kAlign + 1) * kAlign)), std::free) {
    if (!bytes) throw std::bad_alloc();
  }
  size_t size;
  std::unique_ptr<char, decltype(&std::free)> bytes;
};

json read_result(const AlignedBuffer& buffer, ssize_t got) {
  check(got >= 0);
  return json{{"data", to_hex(std::string(buffer.bytes.get(), static_cast<size_t>(got)))}, {"size", got}};
}

json read_op(const json& request) {
  AlignedBuffer buffer(static_cast<size_t>(num(request, "size", 0)));
  return read_result(buffer, ::read(fd_arg(request), buffer.bytes.get(), buffer.size));
}

json pread_op(const json& request) {
  AlignedBuffer buffer(static_cast<size_t>(num(request, "size", 0)));
  return read_result(buffer, ::pread(fd_arg(request), buffer.bytes.get(), buffer.size, num(request, "offset", 0)));
}

AlignedBuffer data_buffer(const json& request) {
  std::string data = data_arg(request);
  AlignedBuffer buffer(data.size());
  std::memcpy(buffer.bytes.get(), data.data(), data.size());
  return buffer;
}

json write_op(const json& request) {
  AlignedBuffer data = data_buffer(request);
  ssize_t done = ::write(fd_arg(request), data.bytes.get(), data.size);
  check(done >= 0);
  return json{{"size", done}};
}

json pwrite_op(const json& request) {
  AlignedBuffer data = data_buffer(request);
  ssize_t done = ::pwrite(fd_arg(request), data.bytes.get(), data.size, num(request, "offset", 0));
  check(done >= 0);
  return json{{"size", done}};
}

json lseek_op(const json& request) {
  off_t at = ::lseek(fd_arg(request), num(request, "offset", 0), static_cast<int>(num(request, "whence", SEEK_SET)));
  check(at >= 0);
  return json{{"offset", at}};
}

json truncate_op(const json& request) {
  check(::truncate(path_arg(request).c_str(), num(request, "size", 0)) == 0);
  return json::object();
}

json ftruncate_op(const json& request) {
  check(::ftruncate(fd_arg(request), num(request, "size", 0)) == 0);
  return json::object();
}

json fsync_op(const json& request) {
  check(::fsync(fd_arg(request)) == 0);
  return json::object();
}

json fdatasync_op(const json& request) {
  check(::fdatasync(fd_arg(request)) == 0);
  return json::object();
}

json fallocate_op(const json& request) {
  check(::fallocate(fd_arg(request), static_cast<int>(num(request, "mode", 0)), num(request, "offset", 0),
                    num(request, "len", 0)) == 0);
  return json::object();
}

json create_file_op(const json& request) {
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

json read_file_op(const json& request) {
  int fd = ::open(path_arg(request).c_str(), O_RDONLY | O_CLOEXEC);
  check(fd >= 0);
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
  ::close(fd);
  return json{{"data", to_hex(content)}, {"size", content.size()}};
}

}  // namespace

const std::vector<Executor> file_executors = {
    {"open", open_op},           {"creat", creat_op},
    {"close", close_op},         {"read", read_op},
    {"pread", pread_op},         {"write", write_op},
    {"pwrite", pwrite_op},       {"lseek", lseek_op},
    {"truncate", truncate_op},   {"ftruncate", ftruncate_op},
    {"fsync", fsync_op},         {"fdatasync", fdatasync_op},
    {"fallocate", fallocate_op}, {"create_file", create_file_op},
    {"read_file", read_file_op},
};

}  // namespace fusecheck::actor
