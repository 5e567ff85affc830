// memfs under observation: the lookup balance holds for memfs and catches a memfs that does
// not count READDIRPLUS entries; fusecheck-memfs --control speaks the control protocol
// (docs/control-protocol.md): faults reach syscalls, a backend create hides behind a negative
// entry until expire_entry, bad requests get an error line.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <sys/mount.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support.hpp"

namespace memfs::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string touch_and_list(const std::filesystem::path& dir, int files) {
  for (int i = 0; i < files; ++i) {
    int fd = ::creat((dir / ("f" + std::to_string(i))).c_str(), 0644);
    if (fd < 0) return "creat failed";
    ::close(fd);
  }
  return std::to_string(fusepp::listdir(dir).size());
}

TEST(MemfsBalance, HoldsAfterListingAndDroppingCaches) {
  MemFs fs(uncached());
  fusepp::testing::ScopedMount mount(fs);
  mount.observer().set_lookup_count_source([&](uint64_t ino) { return fs.lookup_count(ino); });
  ASSERT_EQ(fusepp::testing::run_in_child([&] { return touch_and_list(mount.path(), 20); }).output, "20");
  fusepp::BalanceReport live = mount.lookup_balance();
  EXPECT_TRUE(live.ok(false)) << live.describe();
  mount.drop_caches(2);
  fusepp::BalanceReport settled = mount.lookup_balance();
  EXPECT_TRUE(settled.ok(true)) << settled.describe();
}

TEST(MemfsBalance, CatchesUncountedReaddirplusEntries) {
  MemFs fs(uncached());
  fs.forget_to_count_readdirplus();
  fusepp::testing::ScopedMount mount(fs);
  mount.observer().set_lookup_count_source([&](uint64_t ino) { return fs.lookup_count(ino); });
  ASSERT_EQ(fusepp::testing::run_in_child([&] { return touch_and_list(mount.path(), 3); }).output, "3");
  mount.drop_caches(2);  // creat's references are forgotten; then list them again
  ASSERT_EQ(fusepp::testing::run_in_child([&] { return std::to_string(fusepp::listdir(mount.path()).size()); }).output,
            "3");
  fusepp::BalanceReport report = mount.lookup_balance();
  EXPECT_FALSE(report.ok(false));
  EXPECT_NE(report.describe().find("the filesystem counts 0 reference(s), the kernel holds 1"), std::string::npos)
      << report.describe();
}

// ----- the executable's control channel -----

using fusepp::testing::ControlClient;

struct ControlledMemfs {
  std::filesystem::path mnt = make_temp_dir("memfs-ctl-");
  std::filesystem::path socket = mnt.string() + ".sock";
  pid_t pid = -1;
  explicit ControlledMemfs(const std::string& options) {
    pid = ::fork();
    if (pid == 0) {
      ::execl(FUSECHECK_MEMFS_PATH, FUSECHECK_MEMFS_PATH, mnt.c_str(), "-o", options.c_str(), "--control",
              socket.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  // SIGTERM must end memfs; one that does not is a failure, killed so that nothing is left.
  ~ControlledMemfs() {
    ::kill(pid, SIGTERM);
    if (wait_exit(pid) == -1) ADD_FAILURE() << "fusecheck-memfs did not end within 10 s of SIGTERM";
    ::umount2(mnt.c_str(), MNT_DETACH);
    std::error_code ignored;
    std::filesystem::remove(mnt, ignored);
    std::filesystem::remove(socket, ignored);
  }
};

std::string stat_result(const std::filesystem::path& p) {
  return fusepp::testing::run_in_child([&] {
           struct stat st {};
           return fusepp::testing::errno_name(::stat(p.c_str(), &st));
         })
      .output;
}

TEST(MemfsControl, NegativeEntryHidesABackendCreateUntilExpired) {
  ControlledMemfs memfs("entry_timeout=300,attr_timeout=300");
  ControlClient control(memfs.socket);
  ASSERT_EQ(control({{"cmd", "fault"}, {"op", "LOOKUP"}, {"reply", {{"negative_timeout", 300}}}})["ok"], true);
  EXPECT_EQ(stat_result(memfs.mnt / "g"), "No such file or directory");
  uint64_t mark = control({{"cmd", "mark"}})["mark"];
  ASSERT_EQ(control({{"cmd", "backend"}, {"action", "create"}, {"path", "/g"}})["ok"], true);
  EXPECT_EQ(stat_result(memfs.mnt / "g"), "No such file or directory");
  EXPECT_EQ(control({{"cmd", "trace"}, {"since", mark}, {"op", "LOOKUP"}})["requests"].size(), 0u);
  ASSERT_EQ(control({{"cmd", "notify"}, {"kind", "expire_entry"}, {"path", "/"}, {"name", "g"}})["ok"], true);
  EXPECT_EQ(stat_result(memfs.mnt / "g"), "ok");
  EXPECT_EQ(control({{"cmd", "trace"}, {"since", mark}, {"op", "LOOKUP"}})["requests"].size(), 1u);
}

std::string size_and_mtime(const std::filesystem::path& p) {
  return fusepp::testing::run_in_child([&] {
           struct stat st {};
           if (::stat(p.c_str(), &st) != 0) return fusepp::testing::errno_name(-1);
           return std::to_string(st.st_size) + "@" + std::to_string(st.st_mtim.tv_sec) + "." +
                  std::to_string(st.st_mtim.tv_nsec);
         })
      .output;
}

TEST(MemfsControl, BackendWriteKeepsTheTimesWhenAsked) {
  ControlledMemfs memfs("entry_timeout=0,attr_timeout=0");
  ControlClient control(memfs.socket);
  ASSERT_EQ(control({{"cmd", "backend"}, {"action", "create"}, {"path", "/f"}})["ok"], true);
  std::string before = size_and_mtime(memfs.mnt / "f");
  ASSERT_EQ(before.substr(0, 2), "0@");
  json kept =
      control({{"cmd", "backend"}, {"action", "write"}, {"path", "/f"}, {"data", "abcd"}, {"keep_times", true}});
  ASSERT_EQ(kept["ok"], true) << kept.dump();
  EXPECT_EQ(size_and_mtime(memfs.mnt / "f"), "4" + before.substr(1));
  ASSERT_EQ(control({{"cmd", "backend"}, {"action", "write"}, {"path", "/f"}, {"data", "efgh"}})["ok"], true);
  std::string after = size_and_mtime(memfs.mnt / "f");
  EXPECT_EQ(after.substr(0, 2), "4@");
  EXPECT_NE(after, "4" + before.substr(1));
}

TEST(MemfsControl, FaultErrnoReachesTheSyscallAndBadRequestsAreRefused) {
  ControlledMemfs memfs("entry_timeout=0");
  ControlClient control(memfs.socket);
  // The VFS retries a path walk that met ESTALE once (LOOKUP_REVAL), so two LOOKUPs fail.
  json rule = control({{"cmd", "fault"}, {"op", "LOOKUP"}, {"name", "x"}, {"error", "ESTALE"}, {"times", 2}});
  ASSERT_EQ(rule["ok"], true) << rule.dump();
  EXPECT_EQ(stat_result(memfs.mnt / "x"), "Stale file handle");
  EXPECT_EQ(control({{"cmd", "rule_hits"}, {"rule", rule["rule"]}})["hits"], 2);
  EXPECT_EQ(stat_result(memfs.mnt / "x"), "No such file or directory");  // the rule is spent
  EXPECT_EQ(control.send_line("{not json")["ok"], false);
  EXPECT_EQ(control({{"cmd", "fault"}, {"op", "LOOKUP"}, {"eror", "EIO"}})["error"], "fault: unknown key \"eror\"");
  EXPECT_EQ(control({{"cmd", "fault"}, {"error", "EWHAT"}})["ok"], false);
  EXPECT_EQ(control({{"cmd", "backend"}, {"action", "write"}, {"path", "/missing"}})["ok"], false);
}

}  // namespace
}  // namespace memfs::test
