// pyfuse3's kernel-interaction tests (test_fs.py) ported: entry_timeout and attr_timeout caching
// counted in handler calls, invalidate_entry (sync, and async from inside a handler),
// invalidate_inode, notify_store, and terminate() from inside a handler ending main().
// Also: several serving threads, and max_tasks holding back new requests.
#include <fcntl.h>
#include <signal.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>
#include <mutex>
#include <thread>

#include "fusepp/testing.hpp"
#include "hello_fs.hpp"

namespace fusepp::test {
namespace {

using namespace testing;  // run_in_child, start_child, finish_child, errno_name

using namespace std::chrono_literals;

// pyfuse3's test Fs: one file "message", handler calls counted, timeouts configurable, and
// commands sent by setting xattrs on the root (as test_fs.py does).
class CountingFs : public Operations {
 public:
  static constexpr InodeT kFile{2};
  inline static const std::string kName = "message";

  double entry_timeout = 300;
  double attr_timeout = 300;
  std::atomic<int> lookups{0}, getattrs{0}, reads{0};
  // Set by the test thread while the serving thread may read them: only the kernel orders
  // the two, which TSan cannot see.
  std::atomic<Session*> session{nullptr};

  std::string data() const {
    std::lock_guard lock(data_mutex_);
    return data_;
  }
  void set_data(std::string data) {
    std::lock_guard lock(data_mutex_);
    data_ = std::move(data);
  }

  EntryAttributes attrs(InodeT ino) const {
    EntryAttributes a{.st_ino = ino, .entry_timeout = entry_timeout, .attr_timeout = attr_timeout};
    if (ino == ROOT_INODE)
      a.st_mode = ModeT{S_IFDIR | 0755};
    else
      a.st_size = static_cast<int64_t>(data().size());
    return a;
  }
  Reply<EntryAttributes> lookup(InodeT parent, std::string_view name, const RequestContext&) override {
    if (parent == ROOT_INODE && name == kName) {
      lookups.fetch_add(1);
      co_return attrs(kFile);
    }
    co_return FUSEError(ENOENT);
  }
  Reply<EntryAttributes> getattr(InodeT ino, const RequestContext&) override {
    if (ino == kFile) getattrs.fetch_add(1);
    co_return attrs(ino);
  }
  Reply<FileInfo> open(InodeT, FlagT, const RequestContext&) override { co_return FileInfo{.fh = FileHandleT{2}}; }
  Reply<void> release(FileHandleT) override { co_return ok; }
  Reply<std::string> read(FileHandleT, off_t off, size_t size) override {
    reads.fetch_add(1);
    std::string contents = data();
    if (off >= static_cast<off_t>(contents.size())) co_return std::string();
    co_return contents.substr(static_cast<size_t>(off), size);
  }
  Reply<void> setxattr(InodeT ino, std::string_view name, std::string_view, FlagT, const RequestContext&) override {
    if (ino != ROOT_INODE || name != "user.command") co_return FUSEError(ENOTSUP);
    // Inside a handler: the synchronous form could deadlock, the async one never does.
    session.load()->invalidate_entry_async(ROOT_INODE, kName);
    co_return ok;
  }

 private:
  mutable std::mutex data_mutex_;
  std::string data_ = "hello world\n";
};

std::string stat_file(const std::filesystem::path& p) {
  struct stat st {};
  return errno_name(::stat(p.c_str(), &st));
}

std::string read_file(const std::filesystem::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) return "open: " + errno_name(-1);
  char buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  return n < 0 ? "read: " + errno_name(-1) : std::string(buf, static_cast<size_t>(n));
}

TEST(KernelInteraction, EntryTimeoutCachesLookups) {
  CountingFs fs;
  fs.entry_timeout = 1;
  testing::ScopedMount mnt(fs);
  auto file = mnt.path() / CountingFs::kName;
  ASSERT_EQ(run_in_child([&] { return stat_file(file) + stat_file(file); }).output, "okok");
  EXPECT_EQ(fs.lookups.load(), 1);
  std::this_thread::sleep_for(1500ms);  // pyfuse3 waits 1.1 s; jiffies rounding made that flaky here
  ASSERT_EQ(run_in_child([&] { return stat_file(file); }).output, "ok");
  EXPECT_EQ(fs.lookups.load(), 2);
}

TEST(KernelInteraction, AttrTimeoutCachesGetattr) {
  CountingFs fs;
  fs.attr_timeout = 1;
  testing::ScopedMount mnt(fs);
  auto file = mnt.path() / CountingFs::kName;
  int before = fs.getattrs.load();
  int lookups_before = 0;
  auto r = run_in_child([&] {
    int fd = ::open(file.c_str(), O_RDONLY);
    if (fd < 0) return std::string("open failed");
    struct stat st {};
    ::fstat(fd, &st);
    ::fstat(fd, &st);
    ::close(fd);
    return std::string("ok");
  });
  ASSERT_EQ(r.output, "ok");
  EXPECT_EQ(fs.getattrs.load(), before) << "fstat within attr_timeout reached the filesystem";
  lookups_before = fs.lookups.load();
  std::this_thread::sleep_for(1500ms);  // pyfuse3 waits 1.1 s; jiffies rounding made that flaky here
  ASSERT_EQ(run_in_child([&] {
              int fd = ::open(file.c_str(), O_RDONLY);
              struct stat st {};
              std::string out = errno_name(::fstat(fd, &st));
              ::close(fd);
              return out;
            }).output,
            "ok");
  // Expired attributes make the kernel ask again: a GETATTR, or a LOOKUP when something (a
  // drop_caches elsewhere on this shared machine) evicted the inode meanwhile.
  EXPECT_GT(fs.getattrs.load() + fs.lookups.load(), before + lookups_before);
}

TEST(KernelInteraction, InvalidateEntryForcesLookup) {
  CountingFs fs;
  testing::ScopedMount mnt(fs);
  fs.session = &mnt.session();
  auto file = mnt.path() / CountingFs::kName;
  ASSERT_EQ(run_in_child([&] { return stat_file(file) + stat_file(file); }).output, "okok");
  EXPECT_EQ(fs.lookups.load(), 1);
  mnt.session().invalidate_entry(ROOT_INODE, CountingFs::kName);
  ASSERT_EQ(run_in_child([&] { return stat_file(file); }).output, "ok");
  EXPECT_EQ(fs.lookups.load(), 2);
}

TEST(KernelInteraction, InvalidateEntryAsyncFromInsideHandler) {
  CountingFs fs;
  testing::ScopedMount mnt(fs);
  fs.session = &mnt.session();
  auto dir = mnt.path();
  auto file = dir / CountingFs::kName;
  ASSERT_EQ(run_in_child([&] { return stat_file(file); }).output, "ok");
  EXPECT_EQ(fs.lookups.load(), 1);
  auto r = run_in_child([&] { return errno_name(::setxattr(dir.c_str(), "user.command", "x", 1, 0)); });
  ASSERT_EQ(r.output, "ok");
  // The notifier thread runs the invalidation soon after the handler returned.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (fs.lookups.load() < 2 && std::chrono::steady_clock::now() < deadline) {
    // Sleep before forking, not after: a fork while the notifier thread allocates would
    // hang the child under ASan.
    std::this_thread::sleep_for(50ms);
    ASSERT_EQ(run_in_child([&] { return stat_file(file); }).output, "ok");
  }
  EXPECT_EQ(fs.lookups.load(), 2);
}

TEST(KernelInteraction, InvalidateInodeMakesReadReachFilesystem) {
  CountingFs fs;
  testing::ScopedMount mnt(fs);
  auto file = mnt.path() / CountingFs::kName;
  ASSERT_EQ(run_in_child([&] { return read_file(file) + read_file(file); }).output, fs.data() + fs.data());
  EXPECT_EQ(fs.reads.load(), 1) << "second read should come from the page cache (keep_cache)";
  mnt.session().invalidate_inode(CountingFs::kFile);
  ASSERT_EQ(run_in_child([&] { return read_file(file); }).output, fs.data());
  EXPECT_EQ(fs.reads.load(), 2);
}

TEST(KernelInteraction, NotifyStoreServesReadFromCache) {
  CountingFs fs;
  testing::ScopedMount mnt(fs);
  auto file = mnt.path() / CountingFs::kName;
  ASSERT_EQ(run_in_child([&] { return stat_file(file); }).output, "ok");  // the kernel must know the inode
  const std::string stored = "stored by notify\n";
  fs.set_data(std::string(stored.size(), 'x'));  // what read() would return: must not be seen
  mnt.session().notify_store(CountingFs::kFile, 0, stored);
  ASSERT_EQ(run_in_child([&] { return read_file(file); }).output, stored);
  EXPECT_EQ(fs.reads.load(), 0);
}

// pyfuse3's test_terminate, with the module functions: a handler calls fusepp::terminate()
// and main() returns.
class TerminatingFs : public HelloFs {
 public:
  std::atomic<bool> terminated{false};
  Reply<std::string> read(FileHandleT, off_t, size_t) override {
    terminated = true;
    fusepp::terminate();
    co_return std::string("bye");
  }
};

TEST(KernelInteraction, TerminateFromHandlerEndsMain) {
  TerminatingFs fs;
  std::string dir = "/tmp/fusepp-terminate-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  fusepp::init(fs, dir);
  // Fork the reader before main() starts its thread: a fork while another thread allocates
  // hangs the child under ASan. Its syscalls wait in the kernel until main() serves them.
  // The child outlives main(): its close() sends FLUSH, which only fails once close() below
  // has unmounted and released the device.
  auto child = start_child([&] { return read_file(std::filesystem::path(dir) / HelloFs::kFileName); });
  auto served = std::async(std::launch::async, [] { fusepp::main(); });
  bool returned = served.wait_for(10s) == std::future_status::ready;
  if (!returned) {
    fusepp::terminate();  // let the test end cleanly even when the handler path failed
    served.wait();
  }
  fusepp::close(true);
  auto r = finish_child(child, 30s);
  ::rmdir(dir.c_str());
  EXPECT_TRUE(fs.terminated);
  EXPECT_TRUE(returned) << "main() did not return after terminate() inside a handler";
  EXPECT_EQ(r.output, "bye");
  EXPECT_THROW(fusepp::current_session(), std::logic_error);
}

// FUSE_INTERRUPT reaches a suspended handler through RequestContext::interrupted().
class InterruptibleFs : public HelloFs {
 public:
  std::atomic<bool> saw_interrupt{false};
  Reply<EntryAttributes> getattr(InodeT inode, const RequestContext& ctx) override {
    if (inode != kSlowInode) co_return co_await HelloFs::getattr(inode, ctx);
    for (int i = 0; i < 500; ++i) {  // up to 5 s
      if (ctx.interrupted()) {
        saw_interrupt = true;
        co_return FUSEError(EINTR);
      }
      asio::steady_timer timer(co_await asio::this_coro::executor, 10ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    co_return attrs(inode);
  }
};

TEST(KernelInteraction, InterruptIsVisibleToSuspendedHandler) {
  InterruptibleFs fs;
  testing::ScopedMount mnt(fs);
  auto slow = mnt.path() / HelloFs::kSlowName;
  auto r = run_in_child([&] {
    int fd = ::open(slow.c_str(), O_PATH);
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    ::sigaction(SIGALRM, &sa, nullptr);  // no SA_RESTART: the syscall returns EINTR
    ::alarm(1);
    struct stat st {};
    auto start = std::chrono::steady_clock::now();
    int rc = ::fstat(fd, &st);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    return errno_name(rc) + (took < 3s ? " fast" : " slow");
  });
  ASSERT_TRUE(r.ok()) << r.output;
  EXPECT_EQ(r.output, std::string(strerrordesc_np(EINTR)) + " fast");
  EXPECT_TRUE(fs.saw_interrupt);
}

TEST(Serving, SeveralThreadsServeConcurrently) {
  HelloFs fs;
  testing::ScopedMount mnt(fs, default_options, MainOptions{.threads = 3});
  auto dir = mnt.path();
  auto r = run_in_child([&] {
    int slow_fd = ::open((dir / "slow").c_str(), O_PATH);
    pid_t pid = ::fork();
    if (pid == 0) {
      struct stat s {};
      ::_exit(::fstat(slow_fd, &s) == 0 ? 0 : 1);
    }
    ::usleep(100'000);
    int completed = 0;
    int status = 0;
    std::string data;
    while (::waitpid(pid, &status, WNOHANG) != pid) {
      data = read_file(dir / "message");
      ++completed;
    }
    return std::to_string(completed >= 100) + data;
  });
  ASSERT_TRUE(r.ok()) << r.output;
  EXPECT_EQ(r.output, "1" + HelloFs::kData);
}

TEST(Serving, MaxTasksHoldsBackRequestsWhileFull) {
  HelloFs fs;
  fs.slow_delay = 1500ms;
  testing::ScopedMount mnt(fs, default_options, MainOptions{.max_tasks = 1});
  auto dir = mnt.path();
  auto r = run_in_child([&] {
    struct stat st {};
    ::stat((dir / "message").c_str(), &st);
    int slow_fd = ::open((dir / "slow").c_str(), O_PATH);
    pid_t pid = ::fork();
    if (pid == 0) {
      struct stat s {};
      ::_exit(::fstat(slow_fd, &s) == 0 ? 0 : 1);
    }
    ::usleep(200'000);
    auto start = std::chrono::steady_clock::now();
    int fd = ::open((dir / "message").c_str(), O_RDONLY);
    ::fstat(fd, &st);  // held back until the slow handler completes
    auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    ::close(fd);
    ::waitpid(pid, nullptr, 0);
    return std::to_string(waited.count());
  });
  ASSERT_TRUE(r.ok()) << r.output;
  EXPECT_GE(std::stoi(r.output), 1000) << "a request was served while max_tasks handlers were in flight";
}

}  // namespace
}  // namespace fusepp::test
