// Executors of the mapping ops: mmap, reads and writes through a mapping, msync, munmap, and
// the calls that move file data without read/write (sendfile, splice through a pipe). A
// SIGBUS or SIGSEGV raised by an access through a mapping is caught and answered as a result.
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>

#include "actor.hpp"
#include "fusecheck/protocol.hpp"

namespace fusecheck::actor {

using nlohmann::json;

namespace {

struct Mapping {
  char* address;
  size_t length;  // rounded up to whole pages: all of it is inside the mapping
};

std::map<std::string, Mapping> mappings;

Mapping& map_arg(const json& request) {
  auto found = mappings.find(request.at("map").get<std::string>());
  if (found == mappings.end()) throw SyscallFailed{EINVAL};  // like munmap of a range never mapped
  return found->second;
}

// The bytes [offset, offset + size) of a mapping; a range reaching outside it is the
// harness's mistake, never touched (it could hit the actor's own memory).
char* span(const Mapping& mapping, const json& request, size_t size) {
  auto offset = static_cast<size_t>(num(request, "offset", 0));
  if (offset > mapping.length || size > mapping.length - offset)
    throw BadRequest{"range " + std::to_string(offset) + "+" + std::to_string(size) + " is outside the mapping of " +
                     std::to_string(mapping.length) + " bytes"};
  return mapping.address + offset;
}

sigjmp_buf access_jump;
volatile sig_atomic_t access_guarded = 0;

void on_access_signal(int signal) {
  if (access_guarded) siglongjmp(access_jump, signal);
  ::signal(signal, SIG_DFL);  // not ours: die of it as we would have
  ::raise(signal);
}

// memcpy with SIGBUS/SIGSEGV turned into AccessSignalled for the step's reply.
void guarded_copy(char* to, const char* from, size_t size) {
  struct sigaction action {};
  action.sa_handler = on_access_signal;
  ::sigemptyset(&action.sa_mask);
  struct sigaction old_bus, old_segv;
  ::sigaction(SIGBUS, &action, &old_bus);
  ::sigaction(SIGSEGV, &action, &old_segv);
  int signal = sigsetjmp(access_jump, 1);
  if (signal == 0) {
    access_guarded = 1;
    std::memcpy(to, from, size);
  }
  access_guarded = 0;
  ::sigaction(SIGBUS, &old_bus, nullptr);
  ::sigaction(SIGSEGV, &old_segv, nullptr);
  if (signal != 0) throw AccessSignalled{signal};
}

json mmap_op(const json& request) {
  auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  auto length = static_cast<size_t>(num(request, "length", 0));
  void* address =
      ::mmap(nullptr, length, static_cast<int>(num(request, "prot", PROT_READ)),
             static_cast<int>(num(request, "flags", MAP_SHARED)), fd_arg(request), num(request, "offset", 0));
  check(address != MAP_FAILED);
  auto name = request.at("map").get<std::string>();
  auto old = mappings.find(name);
  if (old != mappings.end()) ::munmap(old->second.address, old->second.length);
  mappings[name] = Mapping{static_cast<char*>(address), (length + page - 1) / page * page};
  return json::object();
}

json map_read_op(const json& request) {
  auto size = static_cast<size_t>(num(request, "size", 0));
  const char* from = span(map_arg(request), request, size);
  std::string bytes(size, '\0');
  guarded_copy(bytes.data(), from, size);
  return json{{"data", to_hex(bytes)}, {"size", size}};
}

json map_write_op(const json& request) {
  std::string bytes = data_arg(request);
  guarded_copy(span(map_arg(request), request, bytes.size()), bytes.data(), bytes.size());
  return json{{"size", bytes.size()}};
}

json msync_op(const json& request) {
  const Mapping& mapping = map_arg(request);
  auto offset = static_cast<size_t>(num(request, "offset", 0));
  auto length = static_cast<size_t>(num(request, "length", static_cast<long>(mapping.length - offset)));
  char* start = span(mapping, request, length);
  check(::msync(start, length, static_cast<int>(num(request, "flags", MS_SYNC))) == 0);
  return json::object();
}

json munmap_op(const json& request) {
  Mapping mapping = map_arg(request);
  mappings.erase(request.at("map").get<std::string>());
  check(::munmap(mapping.address, mapping.length) == 0);
  return json::object();
}

json sendfile_op(const json& request) {
  std::optional<off_t> offset;
  if (request.contains("offset")) offset = num(request, "offset", 0);
  ssize_t sent = ::sendfile(fd_arg(request, "to"), fd_arg(request), offset ? &*offset : nullptr,
                            static_cast<size_t>(num(request, "size", 0)));
  check(sent >= 0);
  return json{{"size", sent}};
}

// A pipe big enough for `size` bytes, closed when it goes out of scope.
struct Pipe {
  int ends[2] = {-1, -1};
  explicit Pipe(size_t size) {
    check(::pipe2(ends, O_CLOEXEC) == 0);
    if (size > 65536) check(::fcntl(ends[1], F_SETPIPE_SZ, static_cast<int>(size)) >= 0);
  }
  ~Pipe() {
    ::close(ends[0]);
    ::close(ends[1]);
  }
};

json splice_to_pipe_op(const json& request) {
  auto size = static_cast<size_t>(num(request, "size", 0));
  Pipe pipe(size);
  loff_t offset = num(request, "offset", 0);
  ssize_t moved =
      ::splice(fd_arg(request), request.contains("offset") ? &offset : nullptr, pipe.ends[1], nullptr, size, 0);
  check(moved >= 0);
  std::string bytes(static_cast<size_t>(moved), '\0');
  for (size_t got = 0; got < bytes.size();) {
    ssize_t n = ::read(pipe.ends[0], bytes.data() + got, bytes.size() - got);
    check(n > 0);
    got += static_cast<size_t>(n);
  }
  return json{{"data", to_hex(bytes)}, {"size", moved}};
}

json splice_from_pipe_op(const json& request) {
  std::string bytes = data_arg(request);
  if (bytes.size() > (1u << 20)) throw BadRequest{"at most 1 MiB goes through one pipe"};
  Pipe pipe(bytes.size());
  check(::write(pipe.ends[1], bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  loff_t offset = num(request, "offset", 0);
  ssize_t moved =
      ::splice(pipe.ends[0], nullptr, fd_arg(request), request.contains("offset") ? &offset : nullptr, bytes.size(), 0);
  check(moved >= 0);
  return json{{"size", moved}};
}

}  // namespace

void unmap_everything() {
  for (auto& [name, mapping] : mappings) ::munmap(mapping.address, mapping.length);
  mappings.clear();
}

const std::vector<Executor> mapping_executors = {
    {"mmap", mmap_op},
    {"map_read", map_read_op},
    {"map_write", map_write_op},
    {"msync", msync_op},
    {"munmap", munmap_op},
    {"sendfile", sendfile_op},
    {"splice_to_pipe", splice_to_pipe_op},
    {"splice_from_pipe", splice_from_pipe_op},
};

}  // namespace fusecheck::actor
