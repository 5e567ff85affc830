// The Observer through ScopedMount: the trace, each fault action as the syscall sees it, the
// balance catching uncounted READDIRPLUS entries and an unreleased handle, READDIRPLUS entries
// a rule gives node id 0, interrupts counted at a gate, readdirplus modes,
// expire_entry, notify_retrieve, read()'s context, STATX (answered ENOSYS by fusepp), and the
// synchronous-invalidation deadlock of docs/kernel-interaction.md.
#include <algorithm>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <future>
#include <thread>

#include "fusepp/testing.hpp"
#include "tiny_fs.hpp"

namespace fusepp::test {
namespace {

using namespace testing;
using namespace std::chrono_literals;

std::string stat_of(const std::filesystem::path& p) {
  struct stat st {};
  return errno_name(::stat(p.c_str(), &st));
}

// Each path's stat result in order, joined with commas.
std::string stats(std::initializer_list<std::filesystem::path> paths) {
  std::string out;
  for (const auto& p : paths) out += (out.empty() ? "" : ",") + stat_of(p);
  return out;
}

// The balance then compares the kernel's references with the ones `fs` counted.
void count_lookups_of(ScopedMount& mount, TinyFs& fs) {
  mount.observer().set_lookup_count_source([&fs](uint64_t ino) { return fs.lookup_count(ino); });
}

std::string list_dir(const std::filesystem::path& p) {
  DIR* d = ::opendir(p.c_str());
  if (!d) return errno_name(-1);
  std::string names;
  while (dirent* e = ::readdir(d)) names += std::string(e->d_name) + " ";
  ::closedir(d);
  return names;
}

TEST(Observe, TraceRecordsRequestArgumentsAndReplies) {
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  uint64_t mark = mount.mark();
  pid_t child_pid = 0;
  RunningChild child = start_child([&] { return stats({mount.path() / "f", mount.path() / "nope"}); });
  child_pid = child.pid;
  ASSERT_EQ(finish_child(child).output, "ok,No such file or directory");
  auto lookups = mount.requests(mark, "LOOKUP");
  ASSERT_EQ(lookups.size(), 2u);
  EXPECT_EQ(lookups[0].path, "/f");
  EXPECT_EQ(lookups[0].name, "f");
  EXPECT_EQ(lookups[0].node, ROOT_INODE);
  EXPECT_EQ(lookups[0].pid, child_pid);
  EXPECT_TRUE(lookups[0].answered);
  EXPECT_EQ(lookups[0].error, 0);
  EXPECT_NE(lookups[0].reply_node, 0u);
  EXPECT_LE(lookups[0].start_ns, lookups[0].end_ns);
  EXPECT_EQ(lookups[1].error, ENOENT);
  EXPECT_LT(lookups[0].seq, lookups[1].seq);
}

TEST(Observe, FaultErrnoReachesTheSyscallAndTheHandlerNeverRuns) {
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  unsigned rule = mount.fault({.op = "LOOKUP", .path = "/f", .error = EXDEV});
  EXPECT_EQ(run_in_child([&] { return stat_of(mount.path() / "f"); }).output, "Invalid cross-device link");
  EXPECT_EQ(mount.observer().rule_hits(rule), 1u);
  EXPECT_EQ(fs.lookup_count(2), 0u);
}

// (A failed revalidating LOOKUP would not do: the kernel drops the dentry and looks up again.)
TEST(Observe, NthOccurrenceActsOnlyOnThatRequest) {
  TinyFs fs{"f"};
  fs.timeout = 0;  // every stat sends GETATTR
  ScopedMount mount(fs);
  mount.fault({.op = "GETATTR", .path = "/f", .nth = 2, .times = 1, .error = EACCES});
  std::string out = run_in_child([&] {
                      return stats({mount.path() / "f", mount.path() / "f", mount.path() / "f"});
                    }).output;

  EXPECT_EQ(out, "ok,Permission denied,ok");
}

TEST(Observe, HeldRequestWaitsForRelease) {
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  mount.fault({.op = "LOOKUP", .name = "f", .hold = "gate"});
  RunningChild child = start_child([&] { return stat_of(mount.path() / "f"); });
  ASSERT_TRUE(mount.wait_held("gate"));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(mount.observer().held("gate"), 1u);  // still there: nothing but release() lets it go
  mount.release("gate");
  EXPECT_EQ(finish_child(child).output, "ok");
}

// The child waits in a stat that a rule holds; SIGUSR1 (handled, no SA_RESTART) makes the
// kernel send INTERRUPT.
RunningChild start_interruptible_stat(const std::filesystem::path& p) {
  return start_child([p] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    ::sigaction(SIGUSR1, &sa, nullptr);
    return stat_of(p);
  });
}

TEST(Observe, InterruptEndsAHoldWithEintr) {
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  uint64_t mark = mount.mark();
  mount.fault({.op = "LOOKUP", .name = "f", .hold = "gate"});
  RunningChild child = start_interruptible_stat(mount.path() / "f");
  ASSERT_TRUE(mount.wait_held("gate"));
  ::kill(child.pid, SIGUSR1);
  EXPECT_EQ(finish_child(child, 10s).output, "Interrupted system call");
  auto lookups = mount.requests(mark, "LOOKUP");
  ASSERT_EQ(lookups.size(), 1u);
  EXPECT_TRUE(lookups[0].interrupted);
  EXPECT_EQ(lookups[0].error, EINTR);
}

TEST(Observe, IgnoredInterruptKeepsTheHold) {
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  mount.fault({.op = "LOOKUP", .name = "f", .hold = "gate", .ignore_interrupts = true});
  uint64_t mark = mount.mark();
  RunningChild child = start_interruptible_stat(mount.path() / "f");
  ASSERT_TRUE(mount.wait_held("gate"));
  EXPECT_EQ(mount.observer().held("gate", /*interrupted=*/true), 0u);
  ::kill(child.pid, SIGUSR1);
  // The gate counts the held requests the kernel sent INTERRUPT for: no sleep needed.
  ASSERT_TRUE(mount.observer().wait_held("gate", 1, 10s, /*interrupted=*/true));
  EXPECT_EQ(mount.observer().held("gate"), 1u);
  mount.release("gate");
  EXPECT_EQ(finish_child(child, 10s).output, "ok");
  auto lookups = mount.requests(mark, "LOOKUP");
  ASSERT_EQ(lookups.size(), 1u);
  EXPECT_TRUE(lookups[0].interrupted);
  EXPECT_EQ(lookups[0].error, 0);
  EXPECT_EQ(mount.observer().held("gate", /*interrupted=*/true), 0u);  // left with the request
}

TEST(Observe, ReplyOverrideChangesWhatStatSees) {
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  mount.fault({.op = "LOOKUP", .name = "f", .reply = {.size = 12345, .mtime_ns = 1'500'000'000'123'456'789}});
  std::string out = run_in_child([&] {
                      struct stat st {};
                      ::stat((mount.path() / "f").c_str(), &st);
                      return std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                             std::to_string(st.st_mtim.tv_nsec);
                    }).output;
  EXPECT_EQ(out, "12345 1500000000.123456789");
}

TEST(Observe, TypeChangingGetattrGivesEioThenAFreshLookup) {
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  ASSERT_EQ(run_in_child([&] { return stat_of(mount.path() / "f"); }).output, "ok");
  mount.fault({.op = "GETATTR", .path = "/f", .times = 1, .reply = {.mode = S_IFDIR | 0755}});
  mount.fault({.op = "LOOKUP", .path = "/f", .reply = {.mode = S_IFDIR | 0755}});
  mount.session().invalidate_inode(InodeT{2}, true);  // the next stat asks GETATTR
  uint64_t mark = mount.mark();
  std::string out = run_in_child([&] { return stats({mount.path() / "f", mount.path() / "f"}); }).output;
  EXPECT_EQ(out, "Input/output error,ok");
  EXPECT_EQ(mount.count(mark, "LOOKUP"), 1u);
}

TEST(Observe, NegativeEntryIsCachedWithoutFurtherLookups) {
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  mount.fault({.op = "LOOKUP", .name = "f", .times = 1, .negative_entry = 300.0});
  uint64_t mark = mount.mark();
  std::string out = run_in_child([&] { return stats({mount.path() / "f", mount.path() / "f"}); }).output;
  EXPECT_EQ(out, "No such file or directory,No such file or directory");  // the name exists in the fs
  auto lookups = mount.requests(mark, "LOOKUP");
  ASSERT_EQ(lookups.size(), 1u);
  EXPECT_EQ(lookups[0].reply_node, 0u);
  EXPECT_EQ(fs.lookup_count(2), 0u);
}

TEST(Observe, NegativeTimeoutTurnsEnoentIntoACachedNegativeEntry) {
  TinyFs fs;
  ScopedMount mount(fs);
  mount.fault({.op = "LOOKUP", .reply = {.negative_timeout = 300.0}});
  uint64_t mark = mount.mark();
  EXPECT_EQ(run_in_child([&] { return stat_of(mount.path() / "g"); }).output, "No such file or directory");
  fs.add("g");  // behind the kernel's back: the negative entry hides it
  EXPECT_EQ(run_in_child([&] { return stat_of(mount.path() / "g"); }).output, "No such file or directory");
  EXPECT_EQ(mount.count(mark, "LOOKUP"), 1u);
  mount.session().notify_expire_entry(ROOT_INODE, "g");
  EXPECT_EQ(run_in_child([&] { return stat_of(mount.path() / "g"); }).output, "ok");
  EXPECT_EQ(mount.count(mark, "LOOKUP"), 2u);
}

TEST(Observe, ExpireEntryMakesTheNextStatLookUpAgain) {
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  ASSERT_EQ(run_in_child([&] { return stat_of(mount.path() / "f"); }).output, "ok");
  uint64_t mark = mount.mark();
  ASSERT_EQ(run_in_child([&] { return stat_of(mount.path() / "f"); }).output, "ok");
  EXPECT_EQ(mount.count(mark, "LOOKUP"), 0u);  // cached for 300 s
  mount.session().notify_expire_entry(ROOT_INODE, "f");
  ASSERT_EQ(run_in_child([&] { return stat_of(mount.path() / "f"); }).output, "ok");
  EXPECT_EQ(mount.count(mark, "LOOKUP"), 1u);
}

TEST(Observe, BalanceHoldsForACountingFilesystem) {
  TinyFs fs{"a", "b", "c"};
  ScopedMount mount(fs);
  count_lookups_of(mount, fs);
  ASSERT_EQ(run_in_child([&] { return list_dir(mount.path()) + stat_of(mount.path() / "a"); }).output, "a b c ok");
  BalanceReport live = mount.lookup_balance();
  EXPECT_TRUE(live.ok(false)) << live.describe();
  EXPECT_FALSE(live.ok(true));  // the kernel still holds a, b and c
  mount.drop_caches(2);
  BalanceReport settled = mount.lookup_balance();
  EXPECT_TRUE(settled.ok(true)) << settled.describe();
}

TEST(Observe, BalanceCatchesUncountedReaddirplusEntries) {
  TinyFs fs{"a", "b", "c"};
  fs.count_readdirplus = false;
  ScopedMount mount(fs);
  count_lookups_of(mount, fs);
  ASSERT_EQ(run_in_child([&] { return list_dir(mount.path()); }).output, "a b c ");
  BalanceReport report = mount.lookup_balance();
  EXPECT_FALSE(report.ok(false));
  EXPECT_NE(report.describe().find("node 2 (/a): the filesystem counts 0 reference(s), the kernel holds 1"),
            std::string::npos)
      << report.describe();
}

// A FORGET is counted in the balance when it arrives (the kernel has let go); a rule's hold
// keeps it from the filesystem's handler until the release, its errno for good.
TEST(Observe, FaultRulesActOnForget) {
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  count_lookups_of(mount, fs);
  ASSERT_EQ(run_in_child([&] { return stat_of(mount.path() / "f"); }).output, "ok");
  for (const char* op : {"FORGET", "BATCH_FORGET"}) mount.fault({.op = op, .path = "/f", .times = 1, .hold = "g"});
  mount.drop_caches(2);
  ASSERT_TRUE(mount.wait_held("g"));
  EXPECT_EQ(fs.lookup_count(2), 1u);
  mount.release("g");
  for (int i = 0; i < 500 && fs.lookup_count(2) != 0; ++i) std::this_thread::sleep_for(2ms);
  EXPECT_EQ(fs.lookup_count(2), 0u);
  EXPECT_TRUE(mount.lookup_balance().ok(true)) << mount.lookup_balance().describe();

  ASSERT_EQ(run_in_child([&] { return stat_of(mount.path() / "f"); }).output, "ok");
  for (const char* op : {"FORGET", "BATCH_FORGET"}) mount.fault({.op = op, .path = "/f", .error = EIO});
  mount.drop_caches(2);
  EXPECT_EQ(fs.lookup_count(2), 1u);  // never told
  BalanceReport lost = mount.lookup_balance();
  EXPECT_NE(lost.describe().find("node 2 (/f): the filesystem counts 1 reference(s), the kernel holds 0"),
            std::string::npos)
      << lost.describe();
}

// The kernel sends no FORGET at unmount (6.18; not asserted here, since another process's
// drop_caches may evict a or b meanwhile): the end of the connection is the forget, and the
// filesystem's counts are compared with the kernel's one last time then.
TEST(Observe, TheEndOfTheConnectionForgetsWhatTheKernelHeld) {
  TinyFs fs{"a", "b"};
  ScopedMount mount(fs);
  count_lookups_of(mount, fs);
  ASSERT_EQ(run_in_child([&] { return stats({mount.path() / "a", mount.path() / "b"}); }).output, "ok,ok");
  EXPECT_FALSE(mount.lookup_balance().ok(true));  // a and b are held
  mount.unmount();
  // TinyFs counted right, so nothing differed when the connection ended; it keeps its counts
  // afterwards (it does not reset them as memfs does), so the settled wire is read alone.
  for (const std::string& problem : mount.lookup_balance().problems)
    EXPECT_EQ(problem.find("at the end of the connection"), std::string::npos) << problem;
  mount.observer().set_lookup_count_source(nullptr);
  BalanceReport settled = mount.lookup_balance();
  EXPECT_TRUE(settled.ok(true)) << settled.describe();
}

// Each reference the filesystem did not count shows, whatever the machine-wide drop_caches
// frees: at its FORGET if the kernel let go of it, else at the end of the connection.
TEST(Observe, UncountedReferencesShowAtTheirForgetOrAtTheEnd) {
  TinyFs fs{"a", "b", "c"};
  fs.count_readdirplus = false;
  ScopedMount mount(fs);
  count_lookups_of(mount, fs);
  ASSERT_EQ(run_in_child([&] { return list_dir(mount.path()); }).output, "a b c ");
  mount.drop_caches(2);
  mount.unmount();
  std::vector<std::string> problems = mount.lookup_balance().problems;
  for (const char* name : {"(/a)", "(/b)", "(/c)"}) {
    auto names_it = [&](const std::string& line) {
      return line.find(name) != std::string::npos &&
             (line.find("the kernel forgot 1 reference(s), the filesystem counted 0") != std::string::npos ||
              line.find("at the end of the connection") != std::string::npos);
    };
    EXPECT_TRUE(std::any_of(problems.begin(), problems.end(), names_it))
        << name << " in " << ::testing::PrintToString(problems);
  }
}

// A rule's reply {ino: 0} on READDIRPLUS: the kernel instantiates no entry, so each stat
// looks its name up, and the counts the handler took for the entries are given back.
TEST(Observe, ReaddirplusEntriesWithNodeIdZeroTakeNoReference) {
  TinyFs fs{"a", "b"};
  ScopedMount mount(fs);
  count_lookups_of(mount, fs);
  mount.fault({.op = "READDIRPLUS", .reply = {.ino = 0}});
  uint64_t mark = mount.mark();
  ASSERT_EQ(run_in_child([&] { return list_dir(mount.path()); }).output, "a b ");
  auto listings = mount.requests(mark, "READDIRPLUS");
  ASSERT_FALSE(listings.empty());
  EXPECT_EQ(listings[0].entries, 0u);
  uint64_t stats_mark = mount.mark();
  ASSERT_EQ(run_in_child([&] { return stats({mount.path() / "a", mount.path() / "b"}); }).output, "ok,ok");
  EXPECT_EQ(mount.count(stats_mark, "LOOKUP"), 2u);
  // One reference each, from the LOOKUPs: the filesystem's count agrees only if the listing's
  // were given back.
  BalanceReport report = mount.lookup_balance();
  EXPECT_TRUE(report.ok(false)) << report.describe();
}

TEST(Observe, BalanceCatchesAnOpenHandleNeverReleased) {
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  mount.fault({.op = "RELEASE", .hold = "close"});
  RunningChild child = start_child([&] {
    int fd = ::open((mount.path() / "f").c_str(), O_RDONLY);
    ::close(fd);
    return std::string("closed");
  });
  EXPECT_EQ(finish_child(child).output, "closed");  // RELEASE is asynchronous for the closer
  ASSERT_TRUE(mount.wait_held("close"));
  BalanceReport open = mount.lookup_balance();
  EXPECT_NE(open.describe().find("file handle 2 opened 1 time(s) more than released"), std::string::npos)
      << open.describe();
  mount.release("close");
  for (int i = 0; i < 500 && mount.observer().held("close") != 0; ++i) std::this_thread::sleep_for(2ms);
  mount.observer().wait_quiet(50ms, 5s);
  mount.drop_caches(2);
  BalanceReport closed = mount.lookup_balance();
  EXPECT_TRUE(closed.ok(true)) << closed.describe();
}

TEST(Observe, ReaddirplusModesReachTheKernel) {
  TinyFs fs{"a"};
  fs.readdirplus = Operations::Readdirplus::off;
  ScopedMount mount(fs);
  uint64_t mark = mount.mark();
  ASSERT_EQ(run_in_child([&] { return list_dir(mount.path()); }).output, "a ");
  EXPECT_GE(mount.count(mark, "READDIR"), 1u);
  EXPECT_EQ(mount.count(mark, "READDIRPLUS"), 0u);
  fs.readdirplus = Operations::Readdirplus::on;
  mount.remount();
  mark = mount.mark();
  ASSERT_EQ(run_in_child([&] { return list_dir(mount.path()); }).output, "a ");
  EXPECT_EQ(mount.count(mark, "READDIR"), 0u);
  EXPECT_GE(mount.count(mark, "READDIRPLUS"), 1u);
  fs.readdirplus = Operations::Readdirplus::automatic;
  mount.remount();
  mark = mount.mark();
  ASSERT_EQ(run_in_child([&] { return list_dir(mount.path()); }).output, "a ");
  EXPECT_GE(mount.count(mark, "READDIRPLUS"), 1u);  // auto: plus for the first call
}

TEST(Observe, ReadSeesItsRequestContext) {
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  RunningChild child = start_child([&] {
    char buf[64];
    int fd = ::open((mount.path() / "f").c_str(), O_RDONLY);
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
  });
  pid_t pid = child.pid;
  EXPECT_EQ(finish_child(child).output, TinyFs::contents(2));
  EXPECT_EQ(fs.last_reader.load(), pid);
}

TEST(Observe, NotifyRetrieveReturnsTheCachedPages) {
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  ASSERT_EQ(run_in_child([&] {
              char buf[64];
              int fd = ::open((mount.path() / "f").c_str(), O_RDONLY);
              ssize_t n = ::read(fd, buf, sizeof buf);
              ::close(fd);
              return std::to_string(n);
            }).output,
            std::to_string(TinyFs::contents(2).size()));
  std::promise<std::string> got;
  mount.session().notify_retrieve(InodeT{2}, 0, 4096, [&](std::string data) { got.set_value(std::move(data)); });
  auto future = got.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(future.get(), TinyFs::contents(2));
}

// The worked example of docs/kernel-interaction.md.
TEST(KernelInteraction, SynchronousInvalEntryInsideMkdirHangs) {
  TinyFs fs;
  ScopedMount mount(fs);
  // While the kernel waits for MKDIR it holds the root directory's lock; the daemon, inside
  // that MKDIR, asks the kernel to invalidate an entry of the root, which needs the lock.
  mount.fault({.op = "MKDIR",
               .notify = Notification{.kind = Notification::Kind::inval_entry, .node = ROOT_INODE, .name = "d"}});
  uint64_t mark = mount.mark();
  RunningChild child = start_child([&] { return errno_name(::mkdir((mount.path() / "d").c_str(), 0755)); });
  std::this_thread::sleep_for(1s);
  auto mkdirs = mount.requests(mark, "MKDIR");
  ASSERT_EQ(mkdirs.size(), 1u);
  EXPECT_FALSE(mkdirs[0].answered);  // the daemon waits for the kernel, the kernel for the daemon
  mount.unmount();                   // aborts the connection: the only way out
  EXPECT_EQ(finish_child(child).output, "Software caused connection abort");
}

uint64_t forgotten_since(const ScopedMount& mount, uint64_t mark) {
  uint64_t n = 0;
  for (const TraceRecord& r : mount.requests(mark))
    if (r.op == "FORGET" || r.op == "BATCH_FORGET") n += r.nlookup;
  return n;
}

// Two statx calls asking for btime, in order: their results joined with a comma.
std::string statx_btime_twice(const std::filesystem::path& p) {
  struct statx stx {};
  std::string first = errno_name(::statx(AT_FDCWD, p.c_str(), 0, STATX_BASIC_STATS | STATX_BTIME, &stx));
  return first + "," + errno_name(::statx(AT_FDCWD, p.c_str(), 0, STATX_BASIC_STATS | STATX_BTIME, &stx));
}

// FUSE_STATX never reaches libfuse 3.14: fusepp answers it ENOSYS itself, traced, and the
// kernel remembers that ENOSYS (fc->no_statx); a rule's other errno reaches the caller and is
// asked again, and a hold keeps it until released.
TEST(KernelInteraction, StatxIsTracedAnsweredEnosysAndFaultable) {
  {
    TinyFs fs{"f"};
    ScopedMount mount(fs);
    uint64_t mark = mount.mark();
    EXPECT_EQ(run_in_child([&] { return statx_btime_twice(mount.path() / "f"); }).output, "ok,ok");
    auto statx = mount.requests(mark, "STATX");
    ASSERT_EQ(statx.size(), 1u);
    EXPECT_EQ(statx[0].path, "/f");
    EXPECT_EQ(statx[0].error, ENOSYS);
  }
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  uint64_t mark = mount.mark();
  mount.fault({.op = "STATX", .times = 1, .hold = "gate", .error = EOPNOTSUPP});
  RunningChild child = start_child([&] { return statx_btime_twice(mount.path() / "f"); });
  ASSERT_TRUE(mount.wait_held("gate"));
  mount.release("gate");
  EXPECT_EQ(finish_child(child).output, "Operation not supported,ok");
  EXPECT_EQ(mount.requests(mark, "STATX").size(), 2u);
}

// libfuse#292, #929: the kernel forgets nothing at unmount (fuse_evict_inode() sends FORGET
// only while the superblock is active), so a filesystem that frees its nodes on FORGET alone
// keeps them until it ends. The same references dropped from the caches are forgotten.
TEST(KernelInteraction, UnmountSendsNoForget) {
  TinyFs fs{"a", "b", "c"};
  ScopedMount mount(fs);
  auto stat_all = [&] {
    return run_in_child([&] { return stats({mount.path() / "a", mount.path() / "b", mount.path() / "c"}); }).output;
  };
  ASSERT_EQ(stat_all(), "ok,ok,ok");
  uint64_t mark = mount.mark();
  mount.drop_caches(2);
  EXPECT_EQ(forgotten_since(mount, mark), 3u);
  ASSERT_EQ(stat_all(), "ok,ok,ok");
  mark = mount.mark();
  mount.unmount();
  EXPECT_EQ(forgotten_since(mount, mark), 0u);
  EXPECT_TRUE(mount.requests(mark).empty()) << mount.requests(mark).front().op;
  for (uint64_t node : {2u, 3u, 4u}) EXPECT_EQ(fs.lookup_count(node), 1u) << node;
}

TEST(KernelInteraction, InvalEntryFromAnUnrelatedRequestDoesNotHang) {
  TinyFs fs{"f"};
  ScopedMount mount(fs);
  mount.fault({.op = "GETATTR",
               .notify = Notification{.kind = Notification::Kind::inval_entry, .node = ROOT_INODE, .name = "f"}});
  ASSERT_EQ(run_in_child([&] { return stat_of(mount.path() / "f"); }).output, "ok");
  mount.session().invalidate_inode(InodeT{1}, true);
  EXPECT_EQ(run_in_child([&] { return stat_of(mount.path()); }, 10s).output, "ok");
}

}  // namespace
}  // namespace fusepp::test
