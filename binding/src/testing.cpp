// fusepp::testing::ScopedMount: mounts an Operations object on a fresh temporary directory,
// serves it on a background thread and always unmounts: normally, or by aborting the FUSE
// connection and detaching the mount when the daemon is stuck. Never leaves a mount behind.
#include "fusepp/testing.hpp"

#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "fusepp/cache_lock.hpp"
#include "fusepp/fuse_connection.hpp"
#include "fusepp/mountinfo.hpp"

namespace fusepp::testing {

namespace {

using namespace std::chrono_literals;

std::filesystem::path make_temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/fusepp-XXXXXX";
  if (!::mkdtemp(pattern.data()))
    throw std::runtime_error("fusepp: cannot create a mountpoint like " + pattern + ": " + std::strerror(errno));
  return pattern;
}

}  // namespace

struct ScopedMount::State {
  std::unique_ptr<Session> session;
  std::thread server;
  std::mutex mutex;
  std::condition_variable cv;
  bool served = false;  // main() returned
  std::string connection;
  bool unmounted = false;
  // Outstanding work from before main() starts until the start-up rendezvous has run: a
  // single-threaded loop with no work blocks in read(2), where a post from this thread would
  // wait for the next request (see Session::io_context()).
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> startup_work;

  bool wait_served(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, timeout, [this] { return served; });
  }
};

ScopedMount::ScopedMount(Operations& ops, std::set<std::string> options, MainOptions main_options)
    : ops_(ops), options_(std::move(options)), main_options_(main_options), mountpoint_(make_temp_dir()) {
  try {
    mount();
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(mountpoint_, ec);
    throw;
  }
}

void ScopedMount::mount() {
  state_ = std::make_unique<State>();
  try {
    state_->session = std::make_unique<Session>(ops_, mountpoint_, options_);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("fusepp: mounting on ") + mountpoint_.string() + " failed: " + e.what());
  }
  state_->session->observe(&observer_);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((state_->connection = connection_id(mountpoint_)).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  State* state = state_.get();
  state_->startup_work.emplace(state_->session->io_context().get_executor());
  state_->server = std::thread([state, main_options = main_options_] {
    try {
      state->session->main(main_options);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fusepp: ScopedMount's main() failed: %s\n", e.what());
    }
    std::lock_guard lock(state->mutex);
    state->served = true;
    state->cv.notify_all();
  });
  if (!state_->connection.empty()) wait_until_serving(main_options_.threads == 0 ? 1 : main_options_.threads);
  if (state_->connection.empty()) {
    unmount();
    throw std::runtime_error("fusepp: " + mountpoint_.string() + " never appeared in /proc/self/mountinfo");
  }
}

void ScopedMount::remount() {
  unmount();
  mount();
}

std::vector<TraceRecord> ScopedMount::requests(uint64_t since_mark, std::string_view op) const {
  std::vector<TraceRecord> all = observer_.trace(since_mark);
  if (op.empty()) return all;
  std::erase_if(all, [op](const TraceRecord& r) { return r.op != op; });
  return all;
}

// Twice, with a pause: an inode whose last user (a just-answered RELEASE) lets go while the
// first pass runs stays unused in the inode cache, and only a later pass evicts it and sends
// its FORGET; with one pass, 1 run in 6 here kept such a reference.
void ScopedMount::drop_caches(int what) {
  ::sync();
  for (int pass = 0; pass < 2; ++pass) {
    {
      CacheDrop exclusive;  // not while another process runs a kernel scenario
      std::ofstream drop("/proc/sys/vm/drop_caches");
      drop << what;
      if (!drop.flush()) throw std::runtime_error("fusepp: cannot write /proc/sys/vm/drop_caches (needs root)");
    }
    observer_.wait_quiet(50ms, 5s);
  }
}

// Returns once every serving thread has entered main()'s loop and the loop runs posted work,
// so their start-up allocations are over before a test forks: a fork while another thread
// holds an allocator lock (ASan's allocator has no fork handlers in GCC 12) leaves the child
// deadlocked. Threads that block in read(2) run no posted work, so they are counted instead.
void ScopedMount::wait_until_serving(unsigned threads) {
  struct Rendezvous {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
  };
  auto r = std::make_shared<Rendezvous>();
  State* state = state_.get();
  asio::post(state_->session->io_context(), [r, threads, state] {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (state->session->serving_threads() < threads && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    state->startup_work.reset();  // on a serving thread
    std::lock_guard lock(r->mutex);
    r->done = true;
    r->cv.notify_all();
  });
  std::unique_lock lock(r->mutex);
  r->cv.wait_for(lock, 10s, [&] { return r->done; });
}

Session& ScopedMount::session() { return *state_->session; }

void ScopedMount::unmount() {
  State& s = *state_;
  if (s.unmounted) return;
  s.unmounted = true;
  observer_.clear_rules();  // a held request must not keep the unmount waiting
  bool served = false;
  if (::umount2(mountpoint_.c_str(), 0) == 0) served = s.wait_served(10s);
  if (!served) {
    // Busy or stuck: abort the connection (every pending and future request fails with
    // ENOTCONN, the reader sees ENODEV) and detach the mount from the namespace.
    abort_connection(s.connection);
    ::umount2(mountpoint_.c_str(), MNT_DETACH);
    s.session->terminate();
    served = s.wait_served(10s);
  }
  if (!served) {
    // A handler blocks the serving thread for good. Leak the session rather than hang.
    std::fprintf(stderr, "fusepp: the daemon for %s does not stop; leaving its thread behind\n", mountpoint_.c_str());
    s.server.detach();
    s.session->observe(nullptr);  // the observer dies with this ScopedMount
    (void)s.session.release();
    return;
  }
  s.server.join();
  // Already unmounted above; libfuse sees the dead connection (POLLERR), skips its own
  // umount and only closes the device and frees the session.
  s.session->close(true);
}

ScopedMount::~ScopedMount() {
  try {
    unmount();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fusepp: unmounting %s failed: %s\n", mountpoint_.c_str(), e.what());
  }
  std::error_code ec;
  std::filesystem::remove(mountpoint_, ec);
}

}  // namespace fusepp::testing
