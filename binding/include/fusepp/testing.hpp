// Test support for filesystems written on fusepp: ScopedMount mounts an Operations object on a
// fresh directory, serves it on a background thread, observes it (request trace, fault rules,
// lookup balance) and always unmounts; the child helpers run syscalls against it from a forked
// process, so the kernel never waits on the serving thread.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <sys/types.h>
#include <time.h>

#include <chrono>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fusepp/observe.hpp"
#include "fusepp/session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

namespace fusepp::testing {

class ScopedMount {
 public:
  // Mounts ops on a new directory under $TMPDIR (or /tmp) and waits until the mount is
  // visible in /proc/self/mountinfo. Throws std::runtime_error naming the mountpoint.
  explicit ScopedMount(Operations& ops, std::set<std::string> options = default_options, MainOptions main_options = {});
  ScopedMount(const ScopedMount&) = delete;
  ScopedMount& operator=(const ScopedMount&) = delete;
  ~ScopedMount();  // unmounts (lazily and by aborting the connection if it must), removes dir

  const std::filesystem::path& path() const { return mountpoint_; }
  Session& session();
  // Unmounts now and waits for main() to return. The kernel sends no FORGET at unmount: the
  // Observer counts every reference it held as forgotten (Observer::connection_ended), and a
  // filesystem that counts lookups must do the same.
  void unmount();
  // Unmounts and mounts the same Operations again on the same directory: INIT-time settings
  // (Operations::readdirplus, enable_writeback_cache...) take effect, the kernel's caches
  // and references start empty, the trace and the balance go on. A filesystem that counts
  // lookups resets its counts in between (memfs: MemFs::forget_all_references), as the
  // kernel forgot them without a FORGET.
  void remount();

  // ----- kernel interaction: the mount is always observed (fusepp/observe.hpp) -----
  Observer& observer() { return observer_; }
  uint64_t mark() const { return observer_.mark(); }
  // The requests since mark, optionally only those of one opcode ("LOOKUP").
  std::vector<TraceRecord> requests(uint64_t since_mark, std::string_view op = {}) const;
  size_t count(uint64_t since_mark, std::string_view op) const { return requests(since_mark, op).size(); }
  unsigned fault(FaultRule rule) { return observer_.add_rule(std::move(rule)); }
  bool wait_held(const std::string& gate, size_t count = 1,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    return observer_.wait_held(gate, count, timeout);
  }
  void release(const std::string& gate) { observer_.release(gate); }
  // Writes what to /proc/sys/vm/drop_caches (1: pages, 2: dentries and inodes, 3: both) and
  // waits until the requests it caused (FORGETs) have arrived: no request for 50 ms.
  void drop_caches(int what = 3);
  // The kernel's references and open handles as seen on the wire (see BalanceReport).
  BalanceReport lookup_balance() const { return observer_.lookup_balance(); }

 private:
  void mount();
  void wait_until_serving(unsigned threads);

  Operations& ops_;
  std::set<std::string> options_;
  MainOptions main_options_;
  Observer observer_;  // outlives every session below
  std::filesystem::path mountpoint_;
  struct State;
  std::unique_ptr<State> state_;
};

// What a child's body returned (or its exception text), and how the child ended.
struct ChildResult {
  bool timed_out = false;
  int exit_code = -1;  // -1 when killed by a signal
  std::string output;
  bool ok() const { return !timed_out && exit_code == 0; }
};

// A forked child running a body; finish_child() collects its result.
struct RunningChild {
  pid_t pid = -1;
  int output_fd = -1;
};

// Forks a child that runs body with only its result pipe open (on descriptor 100), so the
// parent's descriptors, the /dev/fuse of an in-process mount above all, never leak into the
// syscalls under test. Fork only while no other thread of the test allocates: GCC 12's ASan
// has no fork handlers, and a child forked while another thread holds its allocator lock
// hangs. ScopedMount returns only once its serving threads are idle for that reason.
RunningChild start_child(const std::function<std::string()>& body);

// Waits for the child's result. A child still running at the deadline is killed, so a hung
// syscall becomes a failed test, not a hung one; a child stuck in a FUSE request cannot die
// until its connection is aborted, so the wait for its exit is bounded too (timed_out then).
ChildResult finish_child(RunningChild child, std::chrono::milliseconds deadline = std::chrono::seconds(60));

// The wait status (waitpid's) of a child of this process once it has ended, or nullopt if it
// is still running after `limit`; it is reaped, never killed, here. Polls, quickly at first.
std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds limit);

// Returns once the kernel's tick has moved `coarse_clock` past this moment
// (fusepp/kernel_tick.hpp): with CLOCK_REALTIME_COARSE a change made next is stamped later
// than any so far on tmpfs; with CLOCK_MONOTONIC_COARSE the jiffy has moved on, so FUSE's
// entry and attribute timeouts of 0 have expired. Throws std::runtime_error when the clock
// has not moved in 5 s.
void wait_for_tick(clockid_t coarse_clock);

inline ChildResult run_in_child(const std::function<std::string()>& body,
                                std::chrono::milliseconds deadline = std::chrono::seconds(60)) {
  return finish_child(start_child(body), deadline);
}

// A client of a control channel (docs/control-protocol.md): one JSON request, one answer.
class ControlClient {
 public:
  // Connects, retrying for up to 5 s while the daemon creates its socket; throws
  // std::runtime_error when it cannot.
  explicit ControlClient(const std::filesystem::path& socket_path);
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;
  nlohmann::json send_line(const std::string& line);  // throws std::runtime_error on a lost connection
  nlohmann::json operator()(const nlohmann::json& request) { return send_line(request.dump()); }

 private:
  int fd_ = -1;
};

// "ok" when rc is 0, else the description of errno ("No such file or directory").
std::string errno_name(int rc);

// ----- calling handlers directly, without a mount -----

// Runs one handler coroutine to completion on a private io_context and returns its result,
// for unit tests: `auto attr = run_handler(fs.getattr(inode, ctx));`. What the handler throws
// (a FUSEError too) is rethrown here; `run_handler(fusepp::call(...))` turns a thrown FUSEError
// into the Result. (Result<T> has no default constructor, which co_spawn's use_future needs;
// this keeps it in an optional.)
template <class T>
T run_handler(asio::awaitable<T> handler) {
  asio::io_context io;
  std::optional<T> result;
  std::exception_ptr failure;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { result.emplace(co_await std::move(handler)); },
      [&](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) std::rethrow_exception(failure);
  return std::move(*result);
}

inline void run_handler(asio::awaitable<void> handler) {
  asio::io_context io;
  std::exception_ptr failure;
  asio::co_spawn(io, std::move(handler), [&](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) std::rethrow_exception(failure);
}

// One entry a readdir handler accepted, as the kernel would decode it.
struct ReaddirEntry {
  std::string name;
  uint64_t ino = 0;
  unsigned type = 0;  // DT_* from st_mode, as the kernel's dirent carries it
  off_t next_id = 0;  // what the handler passed to readdir_reply()
  friend bool operator==(const ReaddirEntry&, const ReaddirEntry&) = default;
};

// Calls ops.readdir(fh, start_id, token) as a READDIR (plus=false) or READDIRPLUS request
// with a reply buffer of buffer_size bytes would, outside any mount, and decodes the entries
// the handler accepted, or returns its errno. Lets a unit test check cookies and the
// buffer-full contract of readdir_reply() without the kernel.
Result<std::vector<ReaddirEntry>> readdir_directly(Operations& ops, FileHandleT fh, off_t start_id,
                                                   size_t buffer_size = 4096, bool plus = false);

}  // namespace fusepp::testing
