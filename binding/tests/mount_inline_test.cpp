// Mounted tests of the inline start with no Observer attached (the path memfs serves on): forget
// handlers that complete, suspend, throw, or come from a coroutine with Asio's own frame, and
// handlers that await a helper Reply which completes at once or suspends (the request is
// adopted from inside the helper, its name view still pinned in the receive buffer).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "fusepp/testing.hpp"

namespace fusepp::test {
namespace {

using namespace std::chrono_literals;
using testing::errno_name;
using testing::run_in_child;

class InlineFs;

// Not a member: its coroutine gets Asio's own frame (no RecycledFrame matches these parameters),
// which suspends without telling the binding.
asio::awaitable<void> forget_later(InlineFs* fs, std::vector<ForgetRequest> list, std::chrono::milliseconds delay);

// Names "slow*" wait `delay` in a helper coroutine before answering; every name can be created
// and unlinked, and each forgotten lookup is counted.
class InlineFs : public Operations {
 public:
  enum class Forget { complete, suspend, throw_inside, throw_on_call, foreign_frame };
  std::atomic<Forget> forget_mode{Forget::complete};
  std::atomic<uint64_t> forgotten{0};
  std::chrono::milliseconds delay{300};

  EntryAttributes attrs(uint64_t ino) const {
    EntryAttributes a;
    a.st_ino = InodeT{ino};
    a.st_mode = ModeT{ino == uint64_t{ROOT_INODE} ? S_IFDIR | 0755u : S_IFREG | 0644u};
    a.entry_timeout = 0;
    a.attr_timeout = 0;
    return a;
  }

  Reply<EntryAttributes> lookup(InodeT parent, std::string_view name, const RequestContext& ctx) override {
    co_return co_await find(parent, name, ctx);
  }
  Reply<EntryAttributes> getattr(InodeT ino, const RequestContext&) override {
    if (ino == ROOT_INODE) co_return attrs(uint64_t{ROOT_INODE});
    std::lock_guard lock(mutex_);
    for (const auto& [name, known] : names_)
      if (known == uint64_t{ino}) co_return attrs(known);
    co_return FUSEError(ENOENT);
  }
  Reply<EntryAttributes> mknod(InodeT parent, std::string_view name, ModeT, dev_t, const RequestContext&) override {
    if (parent != ROOT_INODE) co_return FUSEError(EPERM);
    std::lock_guard lock(mutex_);
    uint64_t ino = next_++;
    names_[std::string(name)] = ino;
    co_return attrs(ino);
  }
  Reply<void> unlink(InodeT, std::string_view name, const RequestContext&) override {
    std::lock_guard lock(mutex_);
    if (names_.erase(std::string(name)) != 1) co_return FUSEError(ENOENT);
    co_return ok;
  }
  asio::awaitable<void> forget(std::vector<ForgetRequest> list) override {
    switch (forget_mode.load()) {
      case Forget::foreign_frame: return forget_later(this, std::move(list), 50ms);
      case Forget::throw_on_call: throw std::runtime_error("forget failed on purpose before its coroutine");
      default: return forget_member(std::move(list));
    }
  }
  void count(const std::vector<ForgetRequest>& list) {
    for (const auto& f : list) forgotten += f.nlookup;
  }

 private:
  asio::awaitable<void> forget_member(std::vector<ForgetRequest> list) {
    if (forget_mode == Forget::throw_inside) throw std::runtime_error("forget failed on purpose");
    if (forget_mode == Forget::suspend) {
      asio::steady_timer timer(co_await asio::this_coro::executor, 50ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    count(list);
  }
  // The helper a lookup awaits: it reads the name view after suspending, so a receive buffer
  // reused meanwhile would show here as a name that is not found.
  Reply<EntryAttributes> find(InodeT parent, std::string_view name, const RequestContext& ctx) {
    if (parent != ROOT_INODE) co_return FUSEError(ENOENT);
    if (name.starts_with("slow")) {
      asio::steady_timer timer(co_await asio::this_coro::executor, delay);
      co_await timer.async_wait(asio::use_awaitable);
      if (ctx.pid() <= 0) co_return FUSEError(EPROTO);  // the context lives in the pinned buffer too
    }
    std::lock_guard lock(mutex_);
    auto it = names_.find(std::string(name));
    if (it == names_.end()) co_return FUSEError(ENOENT);
    co_return attrs(it->second);
  }

  std::mutex mutex_;
  std::map<std::string, uint64_t> names_;
  uint64_t next_ = 2;
};

asio::awaitable<void> forget_later(InlineFs* fs, std::vector<ForgetRequest> list, std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
  fs->count(list);
}

// A mount served on the plain path: ScopedMount observes every mount, which would take the
// Observer's coroutine instead of the inline start.
struct PlainMount {
  explicit PlainMount(InlineFs& fs) : mount(fs) { mount.session().observe(nullptr); }
  testing::ScopedMount mount;
};

// Creates and unlinks `files` names in a child; each unlinked inode is forgotten once it has no
// user. Returns the child's output ("ok").
std::string create_and_unlink(const std::filesystem::path& dir, int files) {
  auto r = run_in_child([&] {
    for (int i = 0; i < files; ++i) {
      std::string path = (dir / ("f" + std::to_string(i))).string();
      if (::mknod(path.c_str(), S_IFREG | 0644, 0) != 0) return "mknod: " + errno_name(-1);
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) return "stat: " + errno_name(-1);
      if (::unlink(path.c_str()) != 0) return "unlink: " + errno_name(-1);
    }
    return std::string("ok");
  });
  return r.ok() ? r.output : "child failed: " + r.output;
}

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  return done();
}

// mknod answers one lookup, the stat and the unlink one each (entries expire at once): 3 per
// file, all forgotten after the unlink.
void expect_every_lookup_forgotten(InlineFs::Forget mode) {
  InlineFs fs;
  fs.forget_mode = mode;
  PlainMount m(fs);
  ASSERT_EQ(create_and_unlink(m.mount.path(), 20), "ok");
  if (mode == InlineFs::Forget::throw_inside || mode == InlineFs::Forget::throw_on_call) {
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(fs.forgotten, 0u);
  } else {
    EXPECT_TRUE(wait_for([&] { return fs.forgotten == 60; })) << "forgotten: " << fs.forgotten;
  }
  // The loop still serves.
  fs.forget_mode = InlineFs::Forget::complete;
  ASSERT_EQ(create_and_unlink(m.mount.path(), 1), "ok");
}

TEST(InlineStart, ForgetHandlerCompletingInline) { expect_every_lookup_forgotten(InlineFs::Forget::complete); }

TEST(InlineStart, ForgetHandlerThatSuspendsFinishesLater) { expect_every_lookup_forgotten(InlineFs::Forget::suspend); }

TEST(InlineStart, ForgetHandlerThatThrowsIsLoggedAndTheLoopGoesOn) {
  expect_every_lookup_forgotten(InlineFs::Forget::throw_inside);
}

TEST(InlineStart, ForgetOverrideThatThrowsBeforeItsCoroutineIsLogged) {
  expect_every_lookup_forgotten(InlineFs::Forget::throw_on_call);
}

TEST(InlineStart, ForgetFromACoroutineWithAsiosOwnFrameIsNotRunInline) {
  expect_every_lookup_forgotten(InlineFs::Forget::foreign_frame);
}

// A lookup whose helper coroutine suspends is adopted from inside the helper: its name and
// context stay valid while GETATTRs of the root, received meanwhile, fill other buffers.
TEST(InlineStart, HandlerAwaitingAHelperThatSuspends) {
  InlineFs fs;
  PlainMount m(fs);
  auto dir = m.mount.path();
  auto r = run_in_child([&] {
    for (const char* name : {"slow-one", "fast"})
      if (::mknod((dir / name).c_str(), S_IFREG | 0644, 0) != 0) return std::string("mknod failed");
    int root = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    pid_t pid = ::fork();
    if (pid == 0) {
      struct stat st {};
      ::_exit(::stat((dir / "slow-one").c_str(), &st) == 0 ? 0 : 1);
    }
    int answered = 0;
    int status = 0;
    struct stat st {};
    for (;;) {
      if (::fstat(root, &st) == 0) ++answered;
      if (::stat((dir / "fast").c_str(), &st) != 0) return "fast: " + errno_name(-1);
      if (::waitpid(pid, &status, WNOHANG) == pid) break;
    }
    std::string missing = errno_name(::stat((dir / "slow-missing").c_str(), &st));
    return std::to_string(answered > 10) + " " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + " " +
           missing;
  });
  ASSERT_TRUE(r.ok()) << r.output;
  EXPECT_EQ(r.output, "1 0 " + std::string(strerrordesc_np(ENOENT)));
}

}  // namespace
}  // namespace fusepp::test
