// fusecheck-relay on real libfuse 3 daemons: bench_raw_fs (a raw low-level C filesystem, always
// built) and fuse-overlayfs (SKIP when not installed). The trace names what the kernel asked,
// fault rules and holds reach syscalls, and neither an unmount nor a dying daemon leaves a
// mount or a process behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "fusepp/cache_lock.hpp"
#include "fusepp/testing.hpp"

namespace {

using fusepp::testing::ControlClient;
using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string stat_in_child(const fs::path& p) {
  return fusepp::testing::run_in_child([&] {
           struct stat st {};
           return fusepp::testing::errno_name(::stat(p.c_str(), &st));
         })
      .output;
}

bool is_mounted(const fs::path& mountpoint) {
  std::ifstream mounts("/proc/self/mounts");
  for (std::string line; std::getline(mounts, line);)
    if (line.find(" " + mountpoint.string() + " ") != std::string::npos) return true;
  return false;
}

// fusecheck-relay running a daemon on a fresh directory; always unmounted and reaped.
class RelayedDaemon {
 public:
  // daemon: the daemon's argv with "{mnt}" where the mountpoint goes.
  explicit RelayedDaemon(std::vector<std::string> daemon) {
    char templ[] = "/tmp/fusecheck-relay-XXXXXX";
    dir_ = ::mkdtemp(templ);
    mnt_ = dir_ / "mnt";
    fs::create_directory(mnt_);
    std::vector<std::string> argv{FUSECHECK_RELAY_PATH, "-o",          "allow_other", "--control",
                                  socket().string(),    mnt_.string(), "--"};
    for (std::string& arg : daemon) argv.push_back(arg == "{mnt}" ? mnt_.string() : arg);
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> cargv;
      for (std::string& arg : argv) cargv.push_back(arg.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 500 && !is_mounted(mnt_); ++i) std::this_thread::sleep_for(10ms);
    if (!is_mounted(mnt_)) throw std::runtime_error("fusecheck-relay did not mount " + mnt_.string());
    control_ = std::make_unique<ControlClient>(socket());
  }
  ~RelayedDaemon() {
    control_.reset();
    if (pid_ > 0 && !exit_status_) {
      ::kill(pid_, SIGTERM);
      if (!fusepp::testing::wait_for_exit(pid_, 10s)) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
    ::umount2(mnt_.c_str(), MNT_DETACH);
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  const fs::path& mnt() const { return mnt_; }
  fs::path socket() const { return dir_ / "control.sock"; }
  pid_t pid() const { return pid_; }
  json operator()(const json& request) { return (*control_)(request); }
  // The daemon the relay started (its only child).
  pid_t daemon_pid() const {
    std::ifstream children("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) + "/children");
    pid_t child = -1;
    children >> child;
    return child;
  }
  std::optional<int> wait_for_exit(std::chrono::milliseconds limit) {
    if (!exit_status_) exit_status_ = fusepp::testing::wait_for_exit(pid_, limit);
    return exit_status_;
  }
  // Writes 2 to drop_caches (dentries and inodes: the kernel sends its FORGETs) and waits
  // until they have come through.
  void drop_dentries() {
    std::ofstream("/proc/sys/vm/drop_caches") << "2\n";
    (*this)({{"cmd", "wait_quiet"}, {"quiet_ms", 100}});
  }

 private:
  fs::path dir_, mnt_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::unique_ptr<ControlClient> control_;
};

RelayedDaemon raw_fs() { return RelayedDaemon({BENCH_RAW_FS_PATH, "{mnt}"}); }

json requests(RelayedDaemon& relay, uint64_t since, const std::string& op) {
  json answer = relay({{"cmd", "trace"}, {"since", since}, {"op", op}});
  EXPECT_TRUE(answer["ok"].get<bool>()) << answer.dump();
  return answer["requests"];
}

TEST(Relay, TraceNamesTheLookupsAndCountsTheForgets) {
  RelayedDaemon relay = raw_fs();
  uint64_t mark = relay({{"cmd", "mark"}})["mark"];
  EXPECT_EQ(stat_in_child(relay.mnt() / "file"), "ok");
  EXPECT_EQ(stat_in_child(relay.mnt() / "absent"), "No such file or directory");
  json lookups = requests(relay, mark, "LOOKUP");
  ASSERT_EQ(lookups.size(), 2u) << lookups.dump();
  EXPECT_EQ(lookups[0]["name"], "file");
  EXPECT_EQ(lookups[0]["path"], "/file");
  EXPECT_EQ(lookups[0]["error"], 0);
  uint64_t node = lookups[0]["reply_node"];
  EXPECT_NE(node, 0u);
  EXPECT_EQ(lookups[1]["path"], "/absent");
  EXPECT_EQ(lookups[1]["error"], ENOENT);
  EXPECT_EQ(requests(relay, mark, "GETATTR").size(), 1u);

  relay.drop_dentries();
  uint64_t forgotten = 0;
  for (const json& f : requests(relay, mark, "FORGET"))
    for (const json& pair : f["forgets"])
      if (pair[0] == node) forgotten += pair[1].get<uint64_t>();
  EXPECT_EQ(forgotten, 1u);
  json balance = relay({{"cmd", "balance"}});
  EXPECT_TRUE(balance["problems"].empty() && balance["outstanding"].empty()) << balance.dump();
}

TEST(Relay, GetattrErrnoRuleReachesStatOfThatPathOnly) {
  RelayedDaemon relay = raw_fs();
  EXPECT_EQ(stat_in_child(relay.mnt() / "file"), "ok");  // the kernel learns /file's node
  json rule = relay({{"cmd", "fault"}, {"op", "GETATTR"}, {"path", "/file"}, {"error", "EACCES"}});
  ASSERT_TRUE(rule["ok"].get<bool>()) << rule.dump();
  EXPECT_EQ(stat_in_child(relay.mnt() / "file"), "Permission denied");
  EXPECT_EQ(stat_in_child(relay.mnt()), "ok");
  EXPECT_EQ(relay({{"cmd", "rule_hits"}, {"rule", rule["rule"]}})["hits"], 1);
  relay({{"cmd", "clear_faults"}});
  EXPECT_EQ(stat_in_child(relay.mnt() / "file"), "ok");
}

std::string size_in_child(const fs::path& p) {
  return fusepp::testing::run_in_child([&] {
           struct stat st {};
           return ::stat(p.c_str(), &st) == 0 ? std::to_string(st.st_size) : fusepp::testing::errno_name(-1);
         })
      .output;
}

std::string mtime_in_child(const fs::path& p) {
  return fusepp::testing::run_in_child([&] {
           struct stat st {};
           return ::stat(p.c_str(), &st) == 0
                      ? std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec)
                      : fusepp::testing::errno_name(-1);
         })
      .output;
}

TEST(Relay, ReplyChangesAndNegativeEntriesAreMadeInTheRawReply) {
  RelayedDaemon relay = raw_fs();
  EXPECT_EQ(size_in_child(relay.mnt() / "file"), "4096");
  json changed = relay({{"cmd", "fault"},
                        {"op", "GETATTR"},
                        {"path", "/file"},
                        {"reply", {{"size", 12345}, {"mtime_ns", 1'500'000'000'123'456'789}}}});
  ASSERT_TRUE(changed["ok"].get<bool>()) << changed.dump();
  EXPECT_EQ(size_in_child(relay.mnt() / "file"), "12345");
  EXPECT_EQ(mtime_in_child(relay.mnt() / "file"), "1500000000.123456789");
  relay({{"cmd", "clear_faults"}});
  relay.drop_dentries();  // so that the next stat looks the name up
  relay({{"cmd", "fault"}, {"op", "LOOKUP"}, {"name", "file"}, {"negative_entry", 0}});
  EXPECT_EQ(size_in_child(relay.mnt() / "file"), "No such file or directory");
  relay({{"cmd", "clear_faults"}});
  EXPECT_EQ(size_in_child(relay.mnt() / "file"), "4096");
}

// A FORGET a rule holds waits in the relay (the daemon sees it after the release).
TEST(Relay, ForgetRulesHoldTheForget) {
  RelayedDaemon relay = raw_fs();
  EXPECT_EQ(stat_in_child(relay.mnt() / "file"), "ok");
  for (const char* op : {"FORGET", "BATCH_FORGET"})
    relay({{"cmd", "fault"}, {"op", op}, {"path", "/file"}, {"hold", "g"}, {"times", 1}});
  relay.drop_dentries();
  json held = relay({{"cmd", "wait_held"}, {"gate", "g"}, {"timeout_ms", 5000}});
  EXPECT_FALSE(held["timed_out"].get<bool>()) << held.dump();
  relay({{"cmd", "release"}, {"gate", "g"}});
  EXPECT_EQ(stat_in_child(relay.mnt() / "file"), "ok");
}

TEST(Relay, NotifyCommandReachesTheKernel) {
  // Another fusecheck process's drop between the stat and the notification would leave the
  // kernel no entry to invalidate (ENOENT): it waits until this test is done.
  fusepp::CacheSensitive caches_in_use;
  RelayedDaemon relay = raw_fs();
  EXPECT_EQ(stat_in_child(relay.mnt() / "file"), "ok");
  json known = relay({{"cmd", "notify"}, {"kind", "inval_entry"}, {"path", "/"}, {"name", "file"}});
  EXPECT_TRUE(known["ok"].get<bool>() && !known["timed_out"].get<bool>()) << known.dump();
  json unknown = relay({{"cmd", "notify"}, {"kind", "inval_inode"}, {"node", 999}, {"offset", 0}, {"length", 0}});
  EXPECT_FALSE(unknown["ok"].get<bool>()) << unknown.dump();  // the kernel's ENOENT comes back
}

TEST(Relay, HeldRequestWaitsForRelease) {
  RelayedDaemon relay = raw_fs();
  EXPECT_EQ(stat_in_child(relay.mnt() / "file"), "ok");
  relay({{"cmd", "fault"}, {"op", "GETATTR"}, {"path", "/file"}, {"hold", "gate"}, {"times", 1}});
  uint64_t mark = relay({{"cmd", "mark"}})["mark"];
  fs::path file = relay.mnt() / "file";
  auto child = fusepp::testing::start_child([&] {
    struct stat st {};
    return fusepp::testing::errno_name(::stat(file.c_str(), &st));
  });
  json held = relay({{"cmd", "wait_held"}, {"gate", "gate"}, {"timeout_ms", 10000}});
  EXPECT_FALSE(held["timed_out"].get<bool>());
  std::this_thread::sleep_for(100ms);
  json getattrs = requests(relay, mark, "GETATTR");
  ASSERT_EQ(getattrs.size(), 1u);
  EXPECT_FALSE(getattrs[0]["answered"].get<bool>());  // the daemon has not even seen it
  relay({{"cmd", "release"}, {"gate", "gate"}});
  EXPECT_EQ(fusepp::testing::finish_child(child, 10s).output, "ok");
  getattrs = requests(relay, mark, "GETATTR");
  EXPECT_TRUE(getattrs[0]["answered"].get<bool>());
  EXPECT_EQ(getattrs[0]["error"], 0);
  EXPECT_EQ(relay({{"cmd", "held"}, {"gate", "gate"}})["held"], 0);
}

TEST(Relay, DelayRuleDelaysEveryMatchingRequest) {
  RelayedDaemon relay = raw_fs();
  EXPECT_EQ(stat_in_child(relay.mnt() / "file"), "ok");
  relay({{"cmd", "fault"}, {"op", "GETATTR"}, {"path", "/file"}, {"delay_ms", 20}});
  uint64_t mark = relay({{"cmd", "mark"}})["mark"];
  for (int i = 0; i < 5; ++i) EXPECT_EQ(stat_in_child(relay.mnt() / "file"), "ok");
  json getattrs = requests(relay, mark, "GETATTR");
  ASSERT_EQ(getattrs.size(), 5u);
  for (const json& g : getattrs) {
    EXPECT_GE(g["end_ns"].get<int64_t>() - g["start_ns"].get<int64_t>(), 20'000'000) << g.dump();
    EXPECT_NE(g["rule"], 0);
  }
}

TEST(Relay, InterruptEndsAHoldWithEintr) {
  RelayedDaemon relay = raw_fs();
  EXPECT_EQ(stat_in_child(relay.mnt() / "file"), "ok");
  relay({{"cmd", "fault"}, {"op", "GETATTR"}, {"path", "/file"}, {"hold", "gate"}});
  uint64_t mark = relay({{"cmd", "mark"}})["mark"];
  fs::path file = relay.mnt() / "file";
  auto child = fusepp::testing::start_child([&] {
    struct stat st {};
    return fusepp::testing::errno_name(::stat(file.c_str(), &st));
  });
  ASSERT_FALSE(relay({{"cmd", "wait_held"}, {"gate", "gate"}})["timed_out"].get<bool>());
  ::kill(child.pid, SIGKILL);  // a fatal signal: the kernel sends INTERRUPT
  fusepp::testing::finish_child(child, 10s);
  json quiet = relay({{"cmd", "wait_quiet"}});
  json getattrs = requests(relay, mark, "GETATTR");
  ASSERT_EQ(getattrs.size(), 1u);
  EXPECT_TRUE(getattrs[0]["interrupted"].get<bool>()) << getattrs.dump();
  EXPECT_EQ(getattrs[0]["error"], EINTR);
  EXPECT_EQ(relay({{"cmd", "held"}, {"gate", "gate"}})["held"], 0);
}

TEST(Relay, UnmountEndsTheRelayAndTheDaemonCleanly) {
  RelayedDaemon relay = raw_fs();
  EXPECT_EQ(stat_in_child(relay.mnt() / "file"), "ok");
  pid_t daemon = relay.daemon_pid();
  ASSERT_GT(daemon, 0);
  ASSERT_EQ(::umount2(relay.mnt().c_str(), 0), 0) << strerror(errno);
  auto status = relay.wait_for_exit(10s);
  ASSERT_TRUE(status.has_value()) << "fusecheck-relay still runs after the unmount";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
  EXPECT_NE(::kill(daemon, 0), 0) << "the daemon outlived the relay";
}

TEST(Relay, DyingDaemonUnmountsAndEndsTheRelay) {
  RelayedDaemon relay = raw_fs();
  EXPECT_EQ(stat_in_child(relay.mnt() / "file"), "ok");
  pid_t daemon = relay.daemon_pid();
  ASSERT_GT(daemon, 0);
  ::kill(daemon, SIGKILL);
  auto status = relay.wait_for_exit(10s);
  ASSERT_TRUE(status.has_value()) << "fusecheck-relay still runs after its daemon died";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 128 + SIGKILL) << "wait status " << *status;
  EXPECT_FALSE(is_mounted(relay.mnt()));
}

// ----- fuse-overlayfs: a full libfuse 3 filesystem -----

std::optional<std::string> find_program(const std::string& name) {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"})
    if (::access((std::string(dir) + "/" + name).c_str(), X_OK) == 0) return std::string(dir) + "/" + name;
  return std::nullopt;
}

std::string file_operations(const fs::path& mnt) {
  std::string big(3 << 20, 'x');  // several 1 MiB WRITEs and READs
  for (size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>('a' + i % 26);
  std::ofstream(mnt / "created") << big;
  fs::create_directory(mnt / "dir");
  fs::rename(mnt / "created", mnt / "dir" / "moved");
  std::ifstream in(mnt / "dir" / "moved");
  std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ifstream lower(mnt / "lower-file");
  std::string lower_text;
  std::getline(lower, lower_text);
  if (back != big) return "the big file came back different";
  return lower_text;
}

TEST(RelayOverlayfs, FileOperationsPassThroughAndAreTraced) {
  auto overlayfs = find_program("fuse-overlayfs");
  if (!overlayfs) GTEST_SKIP() << "fuse-overlayfs is not installed (apt install fuse-overlayfs)";
  char templ[] = "/tmp/fusecheck-overlay-XXXXXX";
  fs::path layers = ::mkdtemp(templ);
  for (const char* d : {"lower", "upper", "work"}) fs::create_directory(layers / d);
  std::ofstream(layers / "lower" / "lower-file") << "from below\n";
  {
    std::string layout = "lowerdir=" + (layers / "lower").string() + ",upperdir=" + (layers / "upper").string() +
                         ",workdir=" + (layers / "work").string();
    RelayedDaemon relay({*overlayfs, "-f", "-o", layout, "{mnt}"});
    uint64_t mark = relay({{"cmd", "mark"}})["mark"];
    EXPECT_EQ(fusepp::testing::run_in_child([&] { return file_operations(relay.mnt()); }).output, "from below");
    uint64_t largest_write = 0;  // INIT passed unchanged: the daemon's max_write (1 MiB) holds
    for (const json& w : requests(relay, mark, "WRITE")) largest_write = std::max<uint64_t>(largest_write, w["size"]);
    EXPECT_EQ(largest_write, 1u << 20);
    json creates = requests(relay, mark, "CREATE");
    ASSERT_EQ(creates.size(), 1u);
    EXPECT_EQ(creates[0]["path"], "/created");
    EXPECT_FALSE(requests(relay, mark, "RENAME").empty() && requests(relay, mark, "RENAME2").empty());
    relay.drop_dentries();
    json balance = relay({{"cmd", "balance"}});
    EXPECT_TRUE(balance["problems"].empty()) << balance.dump();
  }
  std::error_code ignored;
  fs::remove_all(layers, ignored);
}

}  // namespace
