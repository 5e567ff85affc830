// The receive loop's two modes (blocking read(2) while the io_context is idle, Asio's epoll
// while work is outstanding), with one thread and several: what each must still guarantee. terminate() from
// another thread, unmount, timers and work-guarded posts all reach the loop blocked in read(2).
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <csignal>
#include <fstream>
#include <future>
#include <optional>
#include <sstream>
#include <thread>

#include "fusepp/testing.hpp"
#include "hello_fs.hpp"

namespace fusepp::test {
namespace {

using testing::run_in_child;
using namespace std::chrono_literals;

// A session served by main() on its own thread, whose return the test can watch.
class Served {
 public:
  explicit Served(Operations& ops, MainOptions options = {}) {
    dir_ = "/tmp/fusepp-loop-XXXXXX";
    if (!::mkdtemp(dir_.data())) throw std::runtime_error("mkdtemp failed");
    session_ = std::make_unique<Session>(ops, dir_);
    start(options);
  }
  Served(const Served&) = delete;
  Served& operator=(const Served&) = delete;
  ~Served() {
    if (server_.joinable()) {
      if (returned_.wait_for(0s) != std::future_status::ready) {
        ::umount2(dir_.c_str(), MNT_DETACH);
        session_->terminate();
      }
      server_.join();
    }
    session_->close(true);
    ::rmdir(dir_.c_str());
  }

  void start(MainOptions options = {}) {
    std::promise<void> done;
    returned_ = done.get_future();
    tid_ = 0;
    server_ = std::thread([this, options, done = std::move(done)]() mutable {
      tid_ = static_cast<pid_t>(::syscall(SYS_gettid));
      session_->main(options);
      done.set_value();
    });
  }
  bool returned_within(std::chrono::milliseconds d) {
    bool ok = returned_.wait_for(d) == std::future_status::ready;
    if (ok) server_.join();
    return ok;
  }
  // Waits until the serving thread sleeps in the idle loop's read(2) (its allocations are
  // over then, so the test may fork: GCC 12's ASan has no fork handlers).
  bool idle(std::chrono::milliseconds d = 5s) { return sleeps_in({SYS_read}, d); }
  bool in_epoll(std::chrono::milliseconds d = 5s) { return sleeps_in({SYS_epoll_wait, SYS_epoll_pwait}, d); }
  bool sleeps_in(std::initializer_list<long> syscalls, std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) {
      if (tid_ != 0) {
        std::ifstream f("/proc/self/task/" + std::to_string(tid_) + "/syscall");
        long current = -2;
        if (f >> current && std::find(syscalls.begin(), syscalls.end(), current) != syscalls.end()) return true;
      }
      std::this_thread::sleep_for(2ms);
    }
    return false;
  }
  std::filesystem::path path() const { return dir_; }
  Session& session() { return *session_; }

 private:
  std::string dir_;
  std::unique_ptr<Session> session_;
  std::thread server_;
  std::future<void> returned_;
  std::atomic<pid_t> tid_{0};
};

std::string stat_path(const std::filesystem::path& p) {
  struct stat st {};
  return testing::errno_name(::stat(p.c_str(), &st));
}

TEST(Loop, IdleLoopBlocksInReadAndTerminateFromAnotherThreadEndsIt) {
  HelloFs fs;
  Served s(fs);
  ASSERT_TRUE(s.idle()) << "the idle single-threaded loop does not block in read(2)";
  ASSERT_EQ(run_in_child([&] { return stat_path(s.path() / HelloFs::kFileName); }).output, "ok");
  ASSERT_TRUE(s.idle());
  s.session().terminate();
  EXPECT_TRUE(s.returned_within(5s)) << "terminate() did not wake the idle loop";
  struct sigaction sa {};
  ASSERT_EQ(::sigaction(SIGURG, nullptr, &sa), 0);
  EXPECT_EQ(sa.sa_handler, SIG_DFL) << "main() left its SIGURG handler installed";
}

// Threads of this process asleep in read(2) now (not this one, which reads their state).
int threads_in_read() {
  int n = 0;
  std::string self = std::to_string(::syscall(SYS_gettid));
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    if (task.path().filename() == self) continue;
    std::ifstream f(task.path() / "syscall");
    long current = -2;
    if (f >> current && current == SYS_read) ++n;
  }
  return n;
}

// With several threads, each idle one blocks in read(2) as libfuse's workers do (none sits in
// epoll_wait or on the scheduler's condition variable), and terminate() wakes them all.
TEST(Loop, SeveralIdleThreadsAllBlockInReadAndTerminateEndsThem) {
  HelloFs fs;
  Served s(fs, MainOptions{.threads = 2});
  auto until = std::chrono::steady_clock::now() + 5s;
  while (threads_in_read() < 2 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(2ms);
  ASSERT_EQ(threads_in_read(), 2) << "idle serving threads do not block in read(2)";
  ASSERT_EQ(run_in_child([&] { return stat_path(s.path() / HelloFs::kFileName); }).output, "ok");
  s.session().terminate();
  EXPECT_TRUE(s.returned_within(5s)) << "terminate() did not wake every blocked thread";
}

// An application that handles SIGURG itself keeps it: the loop then never blocks in read(2),
// and terminate() reaches it through Asio as before.
TEST(Loop, ApplicationsSigurgHandlerKeepsTheLoopInEpoll) {
  struct sigaction app {};
  app.sa_handler = [](int) {};
  sigemptyset(&app.sa_mask);
  app.sa_flags = SA_RESTART;
  ASSERT_EQ(::sigaction(SIGURG, &app, nullptr), 0);
  {
    HelloFs fs;
    Served s(fs);
    ASSERT_TRUE(s.in_epoll());
    ASSERT_EQ(run_in_child([&] { return stat_path(s.path() / HelloFs::kFileName); }).output, "ok");
    ASSERT_TRUE(s.in_epoll());
    s.session().terminate();
    EXPECT_TRUE(s.returned_within(5s));
  }
  struct sigaction after {};
  ASSERT_EQ(::sigaction(SIGURG, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, app.sa_handler) << "main() replaced the application's SIGURG handler";
  app.sa_handler = SIG_DFL;
  ::sigaction(SIGURG, &app, nullptr);
}

TEST(Loop, UnmountEndsIdleLoop) {
  HelloFs fs;
  Served s(fs);
  ASSERT_TRUE(s.idle());
  ASSERT_EQ(::umount2(s.path().c_str(), 0), 0);
  EXPECT_TRUE(s.returned_within(5s)) << "ENODEV did not end the loop";
}

// terminate() from another thread at random moments while a client keeps the loop busy, so
// it lands before, inside and after the loop's check-then-read(2): main() always returns.
TEST(Loop, TerminateRacingTheLoopAlwaysEndsIt) {
  HelloFs fs;
  Served s(fs);
  std::optional<testing::RunningChild> previous;
  for (int round = 0; round < 30; ++round) {
    if (round > 0) s.start();
    // The previous client may wait in a request nobody served: this round serves it. Fork
    // only once the loop is idle again.
    if (previous) {
      ASSERT_EQ(testing::finish_child(*previous, 30s).output, "ok");
    }
    ASSERT_TRUE(s.idle()) << "round " << round;
    auto file = s.path() / HelloFs::kFileName;
    previous = testing::start_child([file] {
      for (int i = 0; i < 3000; ++i)
        if (stat_path(file) != "ok") return std::string("stat failed");
      return std::string("ok");
    });
    std::this_thread::sleep_for(std::chrono::microseconds(round * 997 % 20000));
    s.session().terminate();
    ASSERT_TRUE(s.returned_within(5s)) << "round " << round;
  }
  s.start();
  EXPECT_EQ(testing::finish_child(*previous, 30s).output, "ok");
  ASSERT_TRUE(s.idle());
  s.session().terminate();
  EXPECT_TRUE(s.returned_within(5s));
}

// terminate() run by the loop itself just before it moves from read(2) into epoll: posted while
// the loop blocks in read(2), it runs when a request's handler has suspended, and the reader
// then finishes while the loop arms it. main() must still return, leaving the slow handler
// suspended (as terminate() leaves any), for the next main() to finish. Hung in CI before the
// loop restarted its io_context ahead of arming the reader.
TEST(Loop, TerminateAsTheLoopEntersEpollEndsIt) {
  HelloFs fs;
  fs.slow_delay = 300ms;
  Served s(fs);
  ASSERT_TRUE(s.idle());
  // The child has no descriptor of ours: a file outside the mount says "go".
  std::filesystem::path go = s.path().string() + ".go";
  auto client = testing::start_child([&] {
    int fd = ::open((s.path() / HelloFs::kSlowName).c_str(), O_PATH);  // its LOOKUP is quick
    if (fd < 0) return std::string("open failed");
    for (int i = 0; i < 5000 && !std::filesystem::exists(go); ++i) ::usleep(1000);
    struct stat st {};
    ::fstat(fd, &st);  // only the slow GETATTR: the first request after the post
    return std::string("done");
  });
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(s.idle());
  asio::post(s.session().io_context(), [&] { s.session().terminate(); });
  std::ofstream{go};
  bool returned = s.returned_within(5s);
  EXPECT_TRUE(returned) << "terminate() lost while the loop entered epoll";
  if (!returned) {
    s.session().io_context().stop();  // lets the failed test end
    ASSERT_TRUE(s.returned_within(5s));
  }
  s.start();  // the abandoned handler finishes: its request is answered and the client ends
  EXPECT_EQ(testing::finish_child(client, 10s).output, "done");
  s.session().terminate();
  EXPECT_TRUE(s.returned_within(5s));
  std::filesystem::remove(go);
}

// A suspended handler moves the loop into epoll (other requests keep flowing: see
// MountHello.SuspendedHandlerDoesNotDelayOthers); once it is done the loop goes back to
// read(2), and terminate() still reaches it there.
TEST(Loop, ReturnsToIdleModeAfterSuspendedHandler) {
  HelloFs fs;
  fs.slow_delay = 300ms;
  Served s(fs);
  ASSERT_TRUE(s.idle());
  auto r = run_in_child([&] {
    struct stat st {};
    if (::stat((s.path() / HelloFs::kSlowName).c_str(), &st) != 0) return std::string("slow stat failed");
    return stat_path(s.path() / HelloFs::kFileName);
  });
  ASSERT_EQ(r.output, "ok");
  EXPECT_TRUE(s.idle()) << "the loop stayed in epoll after the suspended handler";
  s.session().terminate();
  EXPECT_TRUE(s.returned_within(5s));
}

// Counts the getattr handlers running at once; "message"'s blocks the serving thread for
// block_message, so that requests sent meanwhile queue up in the kernel.
class CountingFs : public HelloFs {
 public:
  std::chrono::milliseconds block_message{0};
  std::atomic<int> running{0}, peak{0};
  Reply<EntryAttributes> getattr(InodeT inode, const RequestContext& ctx) override {
    int now = running.fetch_add(1) + 1;
    for (int seen = peak.load(); now > seen && !peak.compare_exchange_weak(seen, now);) {
    }
    if (inode == kFileInode) std::this_thread::sleep_for(block_message);
    auto attrs = co_await HelloFs::getattr(inode, ctx);
    running.fetch_sub(1);
    co_return attrs;
  }
};

// In epoll mode a read completion goes on reading the requests queued behind it; it must stop
// at max_tasks like a single read does. Six slow GETATTRs queue up while "message"'s handler
// holds the thread, behind one slow GETATTR already suspended.
TEST(Loop, QueuedRequestsReadInOneGoStopAtMaxTasks) {
  CountingFs fs;
  fs.slow_delay = 400ms;
  fs.block_message = 300ms;
  Served s(fs, MainOptions{.max_tasks = 3});
  ASSERT_TRUE(s.idle());
  auto r = run_in_child([&] {
    auto fstat_in_child = [](int fd) {
      pid_t pid = ::fork();
      if (pid == 0) {
        struct stat st {};
        ::_exit(::fstat(fd, &st) == 0 ? 0 : 1);
      }
      return pid;
    };
    int slow = ::open((s.path() / HelloFs::kSlowName).c_str(), O_PATH);
    int message = ::open((s.path() / HelloFs::kFileName).c_str(), O_PATH);
    std::vector<pid_t> children{fstat_in_child(slow)};
    ::usleep(50'000);
    children.push_back(fstat_in_child(message));
    ::usleep(50'000);
    for (int i = 0; i < 6; ++i) children.push_back(fstat_in_child(slow));
    int failed = 0;
    for (pid_t pid : children) {
      int status = 0;
      failed += ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    return std::to_string(failed) + " failed";
  });
  EXPECT_EQ(r.output, "0 failed");
  EXPECT_EQ(fs.peak.load(), 3) << "max_tasks is 3";
  s.session().terminate();
  EXPECT_TRUE(s.returned_within(5s));
}

// "d<k>" is a directory (node 2000+k) holding "n<k>", which is answered after a 20 ms timer
// with node 1000+k and, as its size, the caller's pid: both read from the request's name and
// context after the wait, so a handler whose receive buffer was reused meanwhile answers
// another request's. One directory each, as the kernel looks up one name per directory at a
// time.
class EchoAfterWaitFs : public HelloFs {
 public:
  static constexpr uint64_t kDirs = 2000, kNames = 1000;
  Reply<EntryAttributes> lookup(InodeT parent, std::string_view name, const RequestContext& ctx) override {
    if (parent == ROOT_INODE && name.starts_with("d")) co_return dir(InodeT{kDirs + number_in(name)});
    if (parent.value < kDirs) co_return co_await HelloFs::lookup(parent, name, ctx);
    asio::steady_timer timer(co_await asio::this_coro::executor, 20ms);
    co_await timer.async_wait(asio::use_awaitable);
    co_return file(InodeT{kNames + number_in(name)}, ctx);
  }
  // Asked for only when a cache drop (from elsewhere on the machine) made the kernel forget.
  Reply<EntryAttributes> getattr(InodeT inode, const RequestContext& ctx) override {
    if (inode.value >= kDirs) co_return dir(inode);
    if (inode.value >= kNames) co_return file(inode, ctx);
    co_return co_await HelloFs::getattr(inode, ctx);
  }

 private:
  static uint64_t number_in(std::string_view name) { return std::stoull(std::string(name.substr(1))); }
  EntryAttributes dir(InodeT inode) const {
    EntryAttributes a = attrs(inode);
    a.st_mode = ModeT{S_IFDIR | 0755};
    a.attr_timeout = 60;
    return a;
  }
  EntryAttributes file(InodeT inode, const RequestContext& ctx) const {
    EntryAttributes a = attrs(inode);
    a.st_size = ctx.pid();
    a.attr_timeout = 60;  // stat(2) then takes no GETATTR
    return a;
  }
};

// Sixteen processes look up sixteen names at once, so requests are read while others wait
// (the mount is not observed: the plain serving path): each must be answered from its own
// name and caller. Answers one digit per child: 0 right, 1 the stat failed, 2 another
// request's answer.
std::string look_up_sixteen_at_once(MainOptions options) {
  EchoAfterWaitFs fs;
  Served s(fs, options);
  auto dir = s.path();
  auto r = run_in_child([&] {
    int go[2];
    if (::pipe(go) != 0) return std::string("pipe failed");
    std::vector<pid_t> children;
    for (int k = 0; k < 16; ++k) {
      pid_t pid = ::fork();
      if (pid == 0) {
        char c;
        ::close(go[1]);
        [[maybe_unused]] ssize_t n = ::read(go[0], &c, 1);  // all start when the pipe closes
        struct stat st {};
        std::string k_name = std::to_string(k);
        if (::stat((dir / ("d" + k_name) / ("n" + k_name)).c_str(), &st) != 0) ::_exit(1);
        ::_exit(st.st_ino == EchoAfterWaitFs::kNames + k && st.st_size == ::getpid() ? 0 : 2);
      }
      children.push_back(pid);
    }
    ::close(go[0]);
    ::close(go[1]);
    std::string out;
    for (pid_t pid : children) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      out += std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    return out;
  });
  s.session().terminate();
  return r.ok() ? r.output : "child failed: " + r.output;
}

TEST(Loop, RequestsReadWhileOthersWaitKeepTheirNamesAndCallers) {
  const std::string all_right(16, '0');
  EXPECT_EQ(look_up_sixteen_at_once({}), all_right) << "one thread";
  EXPECT_EQ(look_up_sixteen_at_once({.threads = 2}), all_right) << "two threads";
  EXPECT_EQ(look_up_sixteen_at_once({.max_tasks = 4}), all_right) << "max_tasks 4";
}

// Work a handler leaves behind without staying in flight (a detached coroutine on a timer)
// keeps the loop in epoll, so it runs although no request follows.
class SpawningFs : public HelloFs {
 public:
  std::atomic<bool> fired{false};
  Reply<EntryAttributes> getattr(InodeT inode, const RequestContext& ctx) override {
    if (inode == kFileInode) {
      auto ex = co_await asio::this_coro::executor;
      asio::co_spawn(
          ex,
          [this, ex]() -> asio::awaitable<void> {
            asio::steady_timer timer(ex, 200ms);
            co_await timer.async_wait(asio::use_awaitable);
            fired = true;
          },
          asio::detached);
    }
    co_return co_await HelloFs::getattr(inode, ctx);
  }
};

TEST(Loop, TimerLeftByHandlerFiresWithoutFurtherRequests) {
  SpawningFs fs;
  Served s(fs);
  ASSERT_TRUE(s.idle());
  ASSERT_EQ(run_in_child([&] { return stat_path(s.path() / HelloFs::kFileName); }).output, "ok");
  auto until = std::chrono::steady_clock::now() + 5s;
  while (!fs.fired && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(fs.fired) << "a timer left by a handler starved while no request came";
  s.session().terminate();
  EXPECT_TRUE(s.returned_within(5s));
}

// With a work guard made before main(), the loop waits in epoll and a post from another thread
// runs at once, with no request to carry it.
TEST(Loop, WorkGuardKeepsPostsFromOtherThreadsPrompt) {
  HelloFs fs;
  std::string dir = "/tmp/fusepp-loop-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  {
    Session session(fs, dir);
    auto guard = asio::make_work_guard(session.io_context());
    std::thread server([&] { session.main(); });
    std::this_thread::sleep_for(100ms);
    std::promise<void> ran;
    asio::post(session.io_context(), [&] { ran.set_value(); });
    EXPECT_EQ(ran.get_future().wait_for(2s), std::future_status::ready);
    guard.reset();
    session.terminate();
    server.join();
    session.close(true);
  }
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace fusepp::test
