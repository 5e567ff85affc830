// Unit tests of the client-side helpers (pyfuse3's test_api.py): get_sup_groups against
// getgroups, listdir against a directory we fill, syncfs, and the xattr helpers (skipped where
// the temporary directory's filesystem has no user xattrs), including the ERANGE retry, and
// the mountinfo parser (fusepp/mountinfo.hpp), the machine-wide cache lock
// (fusepp/cache_lock.hpp) and the wait for the kernel's tick (fusepp/kernel_tick.hpp).
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "fusepp/cache_lock.hpp"
#include "fusepp/kernel_tick.hpp"
#include "fusepp/mountinfo.hpp"
#include "fusepp/session.hpp"

namespace fusepp {
namespace {

struct TempDir {
  TempDir() {
    std::string pattern = "/tmp/fusepp-unit-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
};

TEST(Helpers, SupGroupsMatchGetgroups) {
  int n = ::getgroups(0, nullptr);
  std::vector<gid_t> groups(static_cast<size_t>(n));
  ::getgroups(n, groups.data());
  std::set<gid_t> expected(groups.begin(), groups.end());
  EXPECT_EQ(get_sup_groups(::getpid()), expected);
  EXPECT_THROW(get_sup_groups(-5), std::exception);
}

TEST(Helpers, ListdirSkipsDotEntries) {
  TempDir dir;
  for (const char* name : {"a", "b b", "\xff-not-utf8"}) std::ofstream(dir.path / name) << "x";
  auto names = listdir(dir.path);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b b", "\xff-not-utf8"}));
  EXPECT_THROW(listdir(dir.path / "missing"), std::system_error);
}

TEST(Helpers, MountinfoFieldsAreParsedAndUnescaped) {
  TempDir dir;
  std::ofstream(dir.path / "mountinfo")
      << "22 1 0:21 / /tmp rw,nosuid shared:5 - tmpfs tmpfs rw,size=100k\n"
      << "40 22 0:45 / /tmp/with\\040space rw - fuse.memfs memfs rw,user_id=0,allow_other\n";
  auto mounts = read_mountinfo((dir.path / "mountinfo").string());
  ASSERT_EQ(mounts.size(), 2u);
  EXPECT_EQ(mounts[1].mountpoint, "/tmp/with space");
  EXPECT_EQ(mounts[1].major, 0u);
  EXPECT_EQ(mounts[1].minor, 45u);
  EXPECT_EQ(mounts[1].fstype, "fuse.memfs");
  EXPECT_EQ(mounts[1].source, "memfs");
  EXPECT_EQ(mounts[1].super_options, "rw,user_id=0,allow_other");
  EXPECT_EQ(mounts[0].fstype, "tmpfs");
  EXPECT_TRUE(mount_at("/proc").has_value());
  EXPECT_EQ(mount_holding("/proc/self")->mountpoint, "/proc");
}

TEST(Helpers, SyncfsOnPathAndMissingPath) {
  TempDir dir;
  EXPECT_NO_THROW(syncfs(dir.path));
  EXPECT_THROW(syncfs(dir.path / "missing"), std::system_error);
}

TEST(Helpers, XattrRoundTripWithSmallSizeGuess) {
  TempDir dir;
  auto file = dir.path / "f";
  std::ofstream(file) << "x";
  if (::setxattr(file.c_str(), "user.probe", "1", 1, 0) != 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
    GTEST_SKIP() << "no user xattrs on " << dir.path;
  std::string value(1000, 'v');
  value[10] = '\0';  // values are bytes, not C strings
  setxattr(file, "big", value);
  EXPECT_EQ(getxattr(file, "big", /*size_guess=*/4), value);  // ERANGE, then retried
  EXPECT_EQ(getxattr(file, "probe"), "1");
  try {
    getxattr(file, "absent");
    ADD_FAILURE() << "getxattr of a missing attribute must throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENODATA);
  }
}

// Another process's cache-sensitive test keeps this process's drop waiting until it ends.
// A plain 5 ms sleep leaves the coarse clock short of start + 5 ms most of the time: it lags
// the fine clock by up to a tick (4 ms here).
TEST(KernelTick, ASleepLastsAsLongOnTheCoarseClock) {
  for (int round = 0; round < 20; ++round) {
    const int64_t start = kernel_tick::now_ns(CLOCK_REALTIME);
    ASSERT_TRUE(kernel_tick::sleep_as_the_tick_sees(CLOCK_REALTIME_COARSE, std::chrono::milliseconds(5),
                                                    std::chrono::seconds(1)));
    EXPECT_GT(kernel_tick::now_ns(CLOCK_REALTIME_COARSE), start + 5'000'000) << "round " << round;
  }
}

TEST(KernelTick, AZeroSleepWaitsForTheNextJiffy) {
  for (int round = 0; round < 20; ++round) {
    const int64_t start = kernel_tick::now_ns(CLOCK_MONOTONIC);
    ASSERT_TRUE(kernel_tick::sleep_as_the_tick_sees(CLOCK_MONOTONIC_COARSE, std::chrono::nanoseconds(0),
                                                    std::chrono::seconds(1)));
    EXPECT_GT(kernel_tick::now_ns(CLOCK_MONOTONIC_COARSE), start) << "round " << round;
  }
}

TEST(CacheLock, ADropWaitsForAnotherProcesssCacheSensitiveTest) {
  if (::access("/run", W_OK) != 0) GTEST_SKIP() << "/run is not writable: no cache lock (and no drop_caches)";
  int held[2], release[2];
  ASSERT_EQ(::pipe(held), 0);
  ASSERT_EQ(::pipe(release), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    CacheSensitive in_use;
    char byte = 'h';
    (void)!::write(held[1], &byte, 1);
    (void)!::read(release[0], &byte, 1);
    ::_exit(0);
  }
  char byte = 0;
  ASSERT_EQ(::read(held[0], &byte, 1), 1);
  std::atomic<bool> dropped{false};
  std::thread dropper([&] {
    CacheDrop exclusive;
    dropped = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(dropped.load()) << "the drop did not wait for the other process's test";
  (void)!::write(release[1], &byte, 1);
  dropper.join();
  EXPECT_TRUE(dropped.load());
  int status = 0;
  ::waitpid(child, &status, 0);
  for (int fd : {held[0], held[1], release[0], release[1]}) ::close(fd);
}

}  // namespace
}  // namespace fusepp
