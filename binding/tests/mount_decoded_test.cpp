// Mounted tests of the requests fusepp decodes itself on an unobserved one-thread loop
// (dispatch_decoded.cpp): handlers must see the caller, umask, flags, handles and forgets as
// libfuse would decode them, and a handler that suspends must still learn of an interrupt.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "fusepp/cache_lock.hpp"
#include "fusepp/testing.hpp"

namespace fusepp::test {
namespace {

using namespace std::chrono_literals;
using testing::errno_name;
using testing::run_in_child;

constexpr uint32_t kOwner = 1234, kGroup = 4321;
constexpr uint64_t kFirstNode = 100;
constexpr uint64_t kHandleBase = 0x5000;

// A flat directory of files and directories whose handlers write down what they were told,
// one line per request ("create new uid=1234 gid=4321 umask=027 mode=100640 flags=..."). Once
// slow_getattr is set, getattr of a name starting with "slow" waits for an interrupt.
class RecordingFs : public Operations {
 public:
  std::mutex mutex;
  std::vector<std::string> log;
  std::map<std::string, uint64_t, std::less<>> nodes;
  std::map<uint64_t, uint64_t> lookups;  // counted by the replies, taken back by forgets
  std::atomic<bool> slow_getattr{false};
  std::atomic<bool> saw_interrupt{false};
  std::atomic<unsigned> batched_forgets{0};  // forget() calls with more than one inode
  std::atomic<uint64_t> lookups_counted{0};  // every reference handed out, forgotten or not
  std::atomic<int> release_error{0};         // what release() fails with (0: it succeeds)

  std::string take_log() {
    std::lock_guard lock(mutex);
    std::string out;
    for (const auto& line : log) out += line + "\n";
    log.clear();
    return out;
  }
  uint64_t lookups_left() {
    std::lock_guard lock(mutex);
    uint64_t left = 0;
    for (auto& [node, n] : lookups) left += n;
    return left;
  }

  Reply<EntryAttributes> lookup(InodeT parent, std::string_view name, const RequestContext&) override {
    std::lock_guard lock(mutex);
    auto it = nodes.find(name);
    if (parent != ROOT_INODE || it == nodes.end()) co_return FUSEError(ENOENT);
    co_return counted(it->second, names_[it->second].ends_with("/"));
  }
  Reply<EntryAttributes> getattr(InodeT ino, const RequestContext& ctx) override {
    if (slow_getattr && is_slow(ino)) {
      for (int i = 0; i < 500 && !ctx.interrupted(); ++i) {  // up to 5 s
        asio::steady_timer timer(co_await asio::this_coro::executor, 10ms);
        co_await timer.async_wait(asio::use_awaitable);
      }
      saw_interrupt = ctx.interrupted();
      co_return FUSEError(EINTR);
    }
    co_return attrs(ino, is_dir(ino));
  }
  Reply<std::pair<FileInfo, EntryAttributes>> create(InodeT, std::string_view name, ModeT mode, FlagT flags,
                                                     const RequestContext& ctx) override {
    std::lock_guard lock(mutex);
    record("create", name, ctx, mode, flags);
    uint64_t ino = add(name);
    FileInfo info;
    info.fh = FileHandleT{kHandleBase + ino};
    co_return std::pair{info, counted(ino, false)};
  }
  Reply<EntryAttributes> mkdir(InodeT, std::string_view name, ModeT mode, const RequestContext& ctx) override {
    std::lock_guard lock(mutex);
    record("mkdir", name, ctx, mode, FlagT{0});
    uint64_t ino = add(std::string(name) + "/");
    co_return counted(ino, true);
  }
  Reply<FileInfo> open(InodeT ino, FlagT flags, const RequestContext& ctx) override {
    std::lock_guard lock(mutex);
    record("open", std::to_string(uint64_t{ino}), ctx, ModeT{0}, flags);
    FileInfo info;
    info.fh = FileHandleT{kHandleBase + uint64_t{ino}};
    co_return info;
  }
  Reply<void> flush(FileHandleT fh, const RequestContext&) override { co_return note("flush", fh); }
  Reply<void> release(FileHandleT fh, const RequestContext&) override {
    Result<void> noted = note("release", fh);
    if (release_error != 0) co_return FUSEError(release_error);
    co_return noted;
  }
  Reply<void> unlink(InodeT, std::string_view name, const RequestContext&) override {
    co_return remove(std::string(name));
  }
  Reply<void> rmdir(InodeT, std::string_view name, const RequestContext&) override {
    co_return remove(std::string(name) + "/");
  }
  asio::awaitable<void> forget(std::vector<ForgetRequest> list) override {
    std::lock_guard lock(mutex);
    if (list.size() > 1) ++batched_forgets;
    for (const ForgetRequest& f : list) lookups[uint64_t{f.inode}] -= f.nlookup;
    co_return;
  }

 private:
  std::map<uint64_t, std::string> names_;

  bool is_slow(InodeT ino) {
    std::lock_guard lock(mutex);
    auto it = names_.find(uint64_t{ino});
    return it != names_.end() && it->second.starts_with("slow");
  }
  bool is_dir(InodeT ino) {
    std::lock_guard lock(mutex);
    auto it = names_.find(uint64_t{ino});
    return ino == ROOT_INODE || (it != names_.end() && it->second.ends_with("/"));
  }
  static EntryAttributes attrs(InodeT ino, bool dir) {
    EntryAttributes a;
    a.st_ino = ino;
    a.st_mode = ModeT{dir ? S_IFDIR | 0755u : S_IFREG | 0644u};
    a.st_nlink = dir ? 2 : 1;
    a.st_uid = kOwner;
    a.st_gid = kGroup;
    a.entry_timeout = 0;  // every stat asks again
    a.attr_timeout = 0;
    return a;
  }
  EntryAttributes counted(uint64_t ino, bool dir) {
    ++lookups[ino];
    ++lookups_counted;
    return attrs(InodeT{ino}, dir);
  }
  uint64_t add(std::string_view name) {
    uint64_t ino = kFirstNode + names_.size();
    nodes.emplace(std::string(name.ends_with("/") ? name.substr(0, name.size() - 1) : name), ino);
    names_.emplace(ino, std::string(name));
    return ino;
  }
  Result<void> remove(const std::string& name) {
    std::lock_guard lock(mutex);
    std::string bare = name.ends_with("/") ? name.substr(0, name.size() - 1) : name;
    if (nodes.erase(bare) == 0) return FUSEError(ENOENT);
    log.push_back("remove " + name);
    return ok;
  }
  Result<void> note(const char* what, FileHandleT fh) {
    std::lock_guard lock(mutex);
    log.push_back(std::string(what) + " fh=" + std::to_string(uint64_t{fh} - kHandleBase));
    return ok;
  }
  void record(const char* what, std::string_view name, const RequestContext& ctx, ModeT mode, FlagT flags) {
    std::ostringstream line;
    line << what << " " << name << " uid=" << ctx.uid() << " gid=" << ctx.gid() << " pid=" << ctx.pid() << " umask=0"
         << std::oct << ctx.umask() << " mode=0" << uint32_t{mode} << " flags=0" << int32_t{flags};
    log.push_back(line.str());
  }
};

// Mounts fs, on the decoded path (ScopedMount observes every mount, and an observed request
// always goes through libfuse) or through libfuse.
struct Mount {
  Mount(RecordingFs& fs, bool decoded) : mount(fs, with_allow_other()) {
    if (decoded) mount.session().observe(nullptr);
  }
  testing::ScopedMount mount;

 private:
  static std::set<std::string> with_allow_other() {  // the owner is not the user who mounted
    std::set<std::string> options = default_options;
    options.insert("allow_other");
    return options;
  }
};

// Runs body in a child that has become uid kOwner, gid kGroup with umask 027 (the root
// directory is theirs); returns body's output, and the child's pid in *pid.
std::string as_owner(const std::function<std::string()>& body, std::string* pid = nullptr) {
  auto r = run_in_child([&] {
    if (::setresgid(kGroup, kGroup, kGroup) != 0 || ::setresuid(kOwner, kOwner, kOwner) != 0)
      return "cannot change credentials: " + errno_name(-1);
    ::umask(027);
    return std::to_string(::getpid()) + "\n" + body();
  });
  if (!r.ok()) return "child failed: " + r.output;
  size_t end = r.output.find('\n');
  if (pid) *pid = r.output.substr(0, end);
  return r.output.substr(end + 1);
}

// What the handlers recorded for a create, an open and a mkdir by the owner, with the
// caller's pid as PID.
std::string create_open_mkdir(bool decoded) {
  RecordingFs fs;
  Mount m(fs, decoded);
  auto dir = m.mount.path();
  std::string pid = "none";
  std::string out = as_owner(
      [&] {
        int fd = ::open((dir / "file").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0666);
        if (fd < 0) return "create: " + errno_name(-1);
        ::close(fd);
        fd = ::open((dir / "file").c_str(), O_RDONLY | O_NOATIME);
        if (fd < 0) return "open: " + errno_name(-1);
        ::close(fd);
        return ::mkdir((dir / "sub").c_str(), 0777) == 0 ? std::string() : "mkdir: " + errno_name(-1);
      },
      &pid);
  std::string log = fs.take_log();
  for (size_t at = log.find(" pid=" + pid + " "); at != std::string::npos; at = log.find(" pid=" + pid + " "))
    log.replace(at + 5, pid.size(), "PID");
  return out + log;
}

TEST(DecodedRequests, HandlersSeeWhatLibfuseWouldHaveDecoded) {
  std::string decoded = create_open_mkdir(true);
  EXPECT_EQ(decoded, create_open_mkdir(false));
  // And what libfuse decodes is the caller: a different user, its umask, its flags.
  EXPECT_NE(decoded.find("create file uid=1234 gid=4321 pid=PID umask=027"), std::string::npos) << decoded;
  EXPECT_NE(decoded.find("mkdir sub uid=1234 gid=4321 pid=PID umask=027"), std::string::npos) << decoded;
  EXPECT_NE(decoded.find("flush fh=100\nrelease fh=100\nopen 100 uid=1234"), std::string::npos) << decoded;
}

// What the binding logs when release fails with err, decoded or through libfuse.
std::string release_log(int err, bool decoded) {
  RecordingFs fs;
  fs.release_error = err;
  Mount m(fs, decoded);
  ::testing::internal::CaptureStderr();
  { std::ofstream(m.mount.path() / "file") << "x"; }
  for (int i = 0; i < 200 && fs.take_log().find("release") == std::string::npos; ++i) std::this_thread::sleep_for(5ms);
  struct stat st {};
  ::stat(m.mount.path().c_str(), &st);  // served by the one thread after release() returned
  return ::testing::internal::GetCapturedStderr();
}

TEST(DecodedRequests, AFailedReleaseIsLoggedUnlessNotImplemented) {
  for (bool decoded : {true, false}) {
    EXPECT_NE(release_log(EIO, decoded).find("fusepp: release(inode 100) failed: "), std::string::npos) << decoded;
    EXPECT_EQ(release_log(ENOSYS, decoded), "") << decoded;
  }
}

// One round of references for the kernel to forget: 40 files created and looked up again,
// one of them unlinked, a directory made and removed; names start with `prefix`. Returns
// what failed.
std::string create_lookup_unlink_rmdir(const std::filesystem::path& dir, const std::string& prefix) {
  return as_owner([&] {
    std::string errors;
    for (int i = 0; i < 40; ++i) {
      auto file = dir / (prefix + "f" + std::to_string(i));
      int fd = ::open(file.c_str(), O_WRONLY | O_CREAT, 0644);
      if (fd < 0) errors += "create: " + errno_name(-1) + "\n";
      ::close(fd);
      struct stat st {};
      ::stat(file.c_str(), &st);  // another lookup of it
    }
    ::mkdir((dir / (prefix + "d")).c_str(), 0755);
    if (::unlink((dir / (prefix + "f0")).c_str()) != 0) errors += "unlink: " + errno_name(-1) + "\n";
    if (::rmdir((dir / (prefix + "d")).c_str()) != 0) errors += "rmdir: " + errno_name(-1) + "\n";
    return errors;
  });
}

// Whether the kernel batches FORGETs depends on timing: it sends BATCH_FORGET only for those
// that queued up while the daemon was busy, and a drop_caches elsewhere (this machine is
// shared) between the lookups and the drop evicts them a few at a time, or all before the
// test looks (so it counts references handed out, not those still held). Rounds repeat until
// one brought a BATCH_FORGET; each must end with every lookup forgotten.
TEST(DecodedRequests, EveryLookupIsForgottenAfterUnlinkRmdirAndACacheDrop) {
  constexpr int kRounds = 8;
  RecordingFs fs;
  Mount m(fs, true);
  for (int round = 0; round < kRounds && fs.batched_forgets == 0; ++round) {
    fusepp::CacheSensitive undisturbed;  // other fusecheck processes drop caches before or after
    uint64_t counted_before = fs.lookups_counted;
    ASSERT_EQ(create_lookup_unlink_rmdir(m.mount.path(), "r" + std::to_string(round)), "");
    EXPECT_GE(fs.lookups_counted - counted_before, 41u) << "40 creates and a mkdir";
    // The kernel forgets the rest when its dentries go (BATCH_FORGET for many at once).
    m.mount.drop_caches(2);
    for (int i = 0; i < 200 && fs.lookups_left() != 0; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(fs.lookups_left(), 0u) << "round " << round;
  }
  EXPECT_GE(fs.batched_forgets, 1u) << "no BATCH_FORGET came in " << kRounds << " rounds: its decoding went untested";
}

TEST(DecodedRequests, InterruptReachesAHandlerThatSuspended) {
  RecordingFs fs;
  Mount m(fs, true);
  auto slow = m.mount.path() / "slow";
  ASSERT_TRUE(std::ofstream(slow).good());
  fs.slow_getattr = true;
  auto r = run_in_child([&] {
    int fd = ::open(slow.c_str(), O_PATH);  // LOOKUP only
    if (fd < 0) return "open: " + errno_name(-1);
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    ::sigaction(SIGALRM, &sa, nullptr);              // no SA_RESTART: the syscall returns EINTR
    testing::wait_for_tick(CLOCK_MONOTONIC_COARSE);  // LOOKUP's attributes last the jiffy they came in
    ::alarm(1);
    struct stat st {};
    auto start = std::chrono::steady_clock::now();
    int rc = ::fstat(fd, &st);  // GETATTR: attr_timeout is 0
    auto took = std::chrono::steady_clock::now() - start;
    return errno_name(rc) + (took < 3s ? " fast" : " slow");
  });
  ASSERT_TRUE(r.ok()) << r.output;
  EXPECT_EQ(r.output, std::string(strerrordesc_np(EINTR)) + " fast");
  EXPECT_TRUE(fs.saw_interrupt);
}

}  // namespace
}  // namespace fusepp::test
