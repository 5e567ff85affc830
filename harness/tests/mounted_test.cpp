// End-to-end tests of the fusecheck CLI as users run it: on a fresh tmpfs, on bindfs, and on
// fusecheck-test-stallfs, a FUSE daemon that hangs or crashes on demand. They check verdicts,
// exit codes, JUnit/JSON output, and that no mount is ever left behind (also after SIGKILL).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "fusecheck/actor.hpp"
#include "fusecheck/data_dir.hpp"
#include "fusepp/mountinfo.hpp"
#include "fusecheck/state.hpp"
#include "fusecheck/target.hpp"
#include "fusecheck/text.hpp"

namespace fs = std::filesystem;
using namespace fusecheck;
using nlohmann::json;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Mountpoints of FUSE mounts made from a given daemon (matched on the mount source/type).
std::vector<std::string> fuse_mounts_matching(const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& mount : fusepp::read_mountinfo())
    if (mount.fstype.rfind("fuse", 0) == 0 &&
        (mount.source.find(needle) != std::string::npos || mount.fstype.find(needle) != std::string::npos))
      found.push_back(mount.mountpoint);
  return found;
}

std::vector<std::string> fuse_mount_sources() {
  std::vector<std::string> found;
  for (const auto& mount : fusepp::read_mountinfo())
    if (mount.fstype.rfind("fuse", 0) == 0) found.push_back(mount.source);
  return found;
}

bool is_mounted(const std::string& path) { return fusepp::mount_at(path).has_value(); }

// A fresh tmpfs for one test, unmounted whatever happens.
class TmpfsMount {
 public:
  explicit TmpfsMount(const char* options = "size=64m") {
    char templ[] = "/tmp/fusecheck-harness-tmpfs-XXXXXX";
    path_ = ::mkdtemp(templ);
    mounted_ = ::mount("none", path_.c_str(), "tmpfs", 0, options) == 0;
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
    ::rmdir(path_.c_str());
  }
  bool ok() const { return mounted_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool mounted_ = false;
};

struct CliResult {
  int code = -1;
  std::string out, err;
  double seconds = 0;
};

class MountedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts tmpfs and FUSE filesystems)";
    if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "needs /dev/fuse";
    work_ = fs::temp_directory_path() / fmt::format("fusecheck-harness-test-{}-{}", ::getpid(), counter_++);
    fs::create_directories(work_ / "scenarios" / "t");
    state_ = (work_ / "state").string();
    ::setenv("FUSECHECK_STATE_DIR", state_.c_str(), 1);
    bin_ = executable_dir();
  }

  void TearDown() override {
    if (work_.empty()) return;
    // Every finished run removes its record; a leftover means a mount was not accounted for.
    std::error_code ec;
    if (fs::is_directory(state_, ec))
      for (const auto& entry : fs::directory_iterator(state_)) ADD_FAILURE() << "state record left: " << entry.path();
    // Whatever a failed test left, clear it through the same records the CLI uses.
    StateRecord::instance().clear_stale();
    EXPECT_TRUE(fuse_mounts_matching("stallfs").empty()) << "a stallfs mount was left behind";
    // bindfs mounts made through {src} show the harness's backing directory as their source.
    for (const auto& source : fuse_mount_sources())
      EXPECT_FALSE(source.rfind("/tmp/fusecheck-", 0) == 0 && source.size() > 4 &&
                   source.substr(source.size() - 4) == "/src")
          << "a bindfs mount of " << source << " was left behind";
    fs::remove_all(work_, ec);
  }

  void scenario(const std::string& name, const std::string& body) {
    std::ofstream(work_ / "scenarios" / "t" / (name + ".yaml"))
        << "format: 1\ntitle: " << name << "\nrefs: [harness test]\n"
        << body;
  }

  // Runs the CLI in work_, killed after `limit_seconds`, or under `wrapper` instead (a
  // command prefix, e.g. a timeout that sends SIGINT).
  CliResult cli(const std::string& args, int limit_seconds = 120, const std::string& wrapper = "") {
    CliResult result;
    fs::path out = work_ / "out.txt", err = work_ / "err.txt";
    std::string prefix = wrapper.empty() ? fmt::format("timeout -s KILL {}", limit_seconds) : wrapper;
    std::string command = fmt::format("cd {} && FUSECHECK_STATE_DIR={} {} {}/fusecheck {} >{} 2>{}",
                                      shell_quote(work_.string()), shell_quote(state_), prefix, shell_quote(bin_), args,
                                      shell_quote(out.string()), shell_quote(err.string()));
    auto started = std::chrono::steady_clock::now();
    int status = std::system(command.c_str());
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = read_text(out);
    result.err = read_text(err);
    return result;
  }

  std::string scenarios_arg() const { return "--scenarios " + shell_quote((work_ / "scenarios").string()); }
  std::string stallfs(const std::string& flags) const {
    return shell_quote(fmt::format("exec:{}/fusecheck-test-stallfs {} {{mnt}}", bin_, flags));
  }

  fs::path work_;
  std::string state_, bin_;
  static inline int counter_ = 0;
};

const char* passing =
    "steps:\n  - {op: create_file, path: f, data: hi}\n  - {op: stat, path: f, expect: {size: 2, type: file}}\n";

TEST_F(MountedTest, MalformedScenarioExitsTwoWithFileLineColumn) {
  scenario("good", passing);
  std::ofstream(work_ / "scenarios" / "t" / "bad.yaml")
      << "format: 1\ntitle: x\nrefs: [r]\nsteps:\n  - {op: stat, path: f, expcet: ok}\n";
  for (const char* command : {"list", "run --fs dir:/tmp"}) {
    auto result = cli(fmt::format("{} {}", command, scenarios_arg()));
    EXPECT_EQ(result.code, 2) << command << "\n" << result.err;
    EXPECT_NE(result.err.find("bad.yaml:5:25: unknown key 'expcet' in step 'stat'"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("nothing was run"), std::string::npos) << result.err;
  }
  auto usage = cli("run --jobs zero");
  EXPECT_EQ(usage.code, 2) << usage.err;
}

TEST_F(MountedTest, PathEscapeIsRefusedAndNothingOutsideIsTouched) {
  TmpfsMount tmpfs;
  ASSERT_TRUE(tmpfs.ok());
  fs::path canary = fs::path(tmpfs.path()) / "canary";
  std::ofstream(canary) << "keep me";
  scenario("escape", "steps:\n  - {op: unlink, path: ../../canary}\n");
  scenario("escape-link", "steps:\n  - {op: symlink, target: ../../canary, path: l}\n  - {op: unlink, path: l}\n");
  auto result = cli(fmt::format("run --fs dir:{} {}", tmpfs.path(), scenarios_arg()));
  EXPECT_EQ(result.code, 2) << result.out << result.err;
  EXPECT_NE(result.err.find("escape.yaml:5:24: path '../../canary' escapes the test's workdir"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("symlink target '../../canary' escapes"), std::string::npos) << result.err;
  EXPECT_EQ(read_text(canary), "keep me");
  std::vector<std::string> entries;
  for (const auto& entry : fs::directory_iterator(tmpfs.path())) entries.push_back(entry.path().filename().string());
  EXPECT_EQ(entries, std::vector<std::string>{"canary"});
}

TEST_F(MountedTest, TmpfsRunGivesVerdictsJunitJsonAndARepro) {
  TmpfsMount tmpfs;
  ASSERT_TRUE(tmpfs.ok());
  scenario("a-pass", passing);
  scenario("b-fail",
           "steps:\n  - {op: create_file, path: f, data: hello}\n  - {op: stat, path: f, expect: {size: 4}}\n");
  scenario("c-skip", "requires: [fuse]\nsteps:\n  - {op: stat, path: .}\n");
  auto result = cli(fmt::format("run --fs dir:{} {} --junit-xml out.xml --json out.json --results res", tmpfs.path(),
                                scenarios_arg()));
  EXPECT_EQ(result.code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("PASS   t/a-pass"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("FAIL   t/b-fail"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("size: expected == 4"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("got      5"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("b-fail.yaml:6:5"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("--filter t/b-fail"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("SKIP   t/c-skip"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("1 passed, 1 failed, 1 skipped"), std::string::npos) << result.out;

  EXPECT_EQ(std::system(fmt::format("xmllint --noout {}", shell_quote((work_ / "out.xml").string())).c_str()), 0);
  std::string xml = read_text(work_ / "out.xml");
  EXPECT_NE(xml.find("<failure"), std::string::npos);
  EXPECT_NE(xml.find("<skipped"), std::string::npos);
  auto json = nlohmann::json::parse(read_text(work_ / "out.json"));
  EXPECT_EQ(json["summary"]["passed"], 1);
  EXPECT_EQ(json["summary"]["failed"], 1);
  EXPECT_EQ(json["summary"]["skipped"], 1);

  fs::path repro = work_ / "res" / "t" / "b-fail" / "repro.yaml";
  ASSERT_TRUE(fs::exists(repro));
  auto replay = cli(fmt::format("replay {}", shell_quote(repro.string())));
  EXPECT_EQ(replay.code, 1) << replay.out << replay.err;
  EXPECT_NE(replay.out.find("FAIL   t/b-fail"), std::string::npos) << replay.out;
  // Workdirs are gone: the tmpfs holds exactly what it held before.
  EXPECT_TRUE(fs::is_empty(tmpfs.path()));
}

TEST_F(MountedTest, HangingDaemonIsBrokenWithinTheDeadlineAndTheRunGoesOn) {
  scenario("a-before", passing);
  scenario("b-hang", "steps:\n  - {op: stat, path: hang}\n");
  scenario("c-after", passing);
  auto result = cli(fmt::format("run --fs {} {} --timeout 2", stallfs("--hang hang"), scenarios_arg()), 60);
  EXPECT_EQ(result.code, 3) << result.out << result.err;
  EXPECT_NE(result.out.find("PASS   t/a-before"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("BROKEN t/b-hang"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("no answer from actor 'root' within 2 s; aborted FUSE connection"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("PASS   t/c-after"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("1 broken"), std::string::npos) << result.out;
  EXPECT_LT(result.seconds, 15.0);
  EXPECT_TRUE(fuse_mounts_matching("stallfs").empty());
}

TEST_F(MountedTest, DaemonCrashMidRunIsBrokenWithItsExitAndTheRunGoesOn) {
  scenario("a-before", passing);
  scenario("b-crash", "steps:\n  - {op: create_file, path: f}\n  - {op: stat, path: crash}\n");
  scenario("c-after", passing);
  auto result = cli(fmt::format("run --fs {} {}", stallfs("--crash crash"), scenarios_arg()), 60);
  EXPECT_EQ(result.code, 3) << result.out << result.err;
  EXPECT_NE(result.out.find("BROKEN t/b-crash"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("the filesystem daemon killed by signal 6"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("PASS   t/a-before"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("PASS   t/c-after"), std::string::npos) << result.out;
  EXPECT_TRUE(fuse_mounts_matching("stallfs").empty());
}

TEST_F(MountedTest, HarnessKilledWithSigkillIsClearedByTheNextRun) {
  scenario("hang", "timeout: 60\nsteps:\n  - {op: stat, path: hang}\n");
  // Everything the child needs is built before fork: a child that allocates can hang in
  // GCC 12's ASan (no fork handlers) if another thread held the allocator's lock.
  std::string fusecheck = bin_ + "/fusecheck";
  std::string fs_arg = fmt::format("exec:{}/fusecheck-test-stallfs --hang hang --ignore-sigterm {{mnt}}", bin_);
  std::string scenarios = (work_ / "scenarios").string();
  pid_t harness = ::fork();
  ASSERT_GE(harness, 0);
  if (harness == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execl(fusecheck.c_str(), "fusecheck", "run", "--fs", fs_arg.c_str(), "--scenarios", scenarios.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Wait until its mount is recorded and live, and the hanging step is under way.
  std::string mountpoint;
  int daemon = 0;
  for (int i = 0; i < 500 && mountpoint.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    fs::path record = fs::path(state_) / fmt::format("{}.json", harness);
    if (!fs::exists(record)) continue;
    try {
      auto json = nlohmann::json::parse(read_text(record));
      for (const auto& mount : json["mounts"])
        if (mount["conn"].get<unsigned>() != 0 && is_mounted(mount["mountpoint"])) {
          mountpoint = mount["mountpoint"];
          daemon = mount["daemon_pid"];
        }
    } catch (const std::exception&) {
    }
  }
  ASSERT_FALSE(mountpoint.empty()) << "the harness never recorded a live mount";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::kill(harness, SIGKILL);
  int status = 0;
  ::waitpid(harness, &status, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(is_mounted(mountpoint)) << "expected the killed run to leave its mount (the daemon ignores SIGTERM)";

  TmpfsMount tmpfs;
  ASSERT_TRUE(tmpfs.ok());
  fs::remove(work_ / "scenarios" / "t" / "hang.yaml");
  scenario("ok", passing);
  auto next = cli(fmt::format("run --fs dir:{} {}", tmpfs.path(), scenarios_arg()));
  EXPECT_EQ(next.code, 0) << next.out << next.err;
  EXPECT_NE(next.err.find("cleared stale mount " + mountpoint), std::string::npos) << next.err;
  EXPECT_FALSE(is_mounted(mountpoint));
  bool daemon_gone = false;
  for (int i = 0; i < 100 && !daemon_gone; ++i) {
    std::string stat = read_text(fmt::format("/proc/{}/stat", daemon));
    daemon_gone = stat.empty() || stat.find(") Z") != std::string::npos;
    if (!daemon_gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(daemon_gone) << "daemon " << daemon << " still runs";
  EXPECT_FALSE(fs::exists(fs::path(mountpoint).parent_path()));
}

TEST_F(MountedTest, NewArgumentFormsReachTheKernelAsWrittenOnTmpfs) {
  // Each scenario passes only if the form reaches the syscall as the author wrote it.
  TmpfsMount tmpfs;
  ASSERT_TRUE(tmpfs.ok());
  // {sec, nsec} used to be folded into one total: nsec 1000000000 became a valid time.
  scenario("a-nsec",
           "setup:\n  - {op: create_file, path: f}\n"
           "steps:\n  - {op: utimensat, path: f, atime: omit, mtime: {sec: 1, nsec: 1000000000}, expect: EINVAL}\n"
           "  - {op: utimensat, path: f, atime: {sec: 7, nsec: -1}, mtime: omit, expect: EINVAL}\n"
           "  - {op: utimensat, path: f, atime: omit, mtime: {sec: 1, nsec: 999999999}}\n"
           "  - {op: stat, path: f, expect: {mtime_sec: 1, mtime_nsec: 999999999}}\n");
  // chmod with file-type bits: the kernel keeps only S_IALLUGO, the type stays.
  scenario("b-chmod",
           "setup:\n  - {op: create_file, path: f}\n"
           "steps:\n  - {op: chmod, path: f, mode: 0040750}\n"
           "  - {op: stat, path: f, expect: {type: file, perm: 0750, mode: 0100750}}\n");
  // add: resolved at run time against the saved statvfs (tmpfs: 4096-byte blocks).
  scenario(
      "c-add",
      "steps:\n  - {op: statvfs, path: ., save: s0}\n"
      "  - {op: create_file, path: f, zeros: 12288}\n"
      "  - {op: statvfs, path: ., expect: {bfree: {eq: {saved: s0, add: -3}}, ffree: {eq: {saved: s0, add: -1}}}}\n"
      "  - {op: statvfs, path: ., expect: {bfree: {eq: {saved: s0, add: -2}}}}\n");
  auto result = cli(fmt::format("run --fs dir:{} --exclusive {}", tmpfs.path(), scenarios_arg()));
  EXPECT_EQ(result.code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("PASS   t/a-nsec"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("PASS   t/b-chmod"), std::string::npos) << result.out;
  // The last step of c-add must fail, and say what the offset made of the saved value.
  EXPECT_NE(result.out.find("FAIL   t/c-add"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("failed at step 4 (statvfs .)"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("bfree: expected == saved 's0' - 2 = "), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("2 passed, 1 failed"), std::string::npos) << result.out;
}

TEST_F(MountedTest, DirTargetProbesFindNanosecondTimestampsOnAFreshTmpfs) {
  // The timestamps_ns probe must use a probe file of its own (an earlier version used one a
  // rename probe had moved away, and tmpfs showed as lacking it).
  TmpfsMount tmpfs;
  ASSERT_TRUE(tmpfs.ok());
  scenario("ns",
           "requires: [timestamps_ns]\nsetup:\n  - {op: create_file, path: f}\n"
           "steps:\n  - {op: utimensat, path: f, atime: omit, mtime: {sec: 2, nsec: 123456789}}\n"
           "  - {op: stat, path: f, expect: {mtime_nsec: 123456789}}\n");
  auto result = cli(fmt::format("run -v --fs dir:{} {}", tmpfs.path(), scenarios_arg()));
  EXPECT_EQ(result.code, 0) << result.out << result.err;
  auto features = result.out.find("  features: ");
  ASSERT_NE(features, std::string::npos) << result.out;
  std::string line = result.out.substr(features, result.out.find('\n', features) - features);
  EXPECT_NE(line.find(" timestamps_ns"), std::string::npos) << line;
  EXPECT_EQ(result.out.find("    timestamps_ns:"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("PASS   t/ns"), std::string::npos) << result.out;
  EXPECT_TRUE(fs::is_empty(tmpfs.path()));
}

// In a container, fusecheck is often pid 1 (`docker run ... ./dev run` execs it): its actors
// must not take their parent's pid 1 for a sign that the harness died.
TEST_F(MountedTest, HarnessThatIsPidOneStillStartsItsActors) {
  if (std::system("unshare --pid --fork --mount --mount-proc true 2>/dev/null") != 0)
    GTEST_SKIP() << "needs unshare --pid";
  scenario("a", passing);
  auto result = cli(fmt::format("run --fs memfs {}", scenarios_arg()), 60, "unshare --pid --fork --mount --mount-proc");
  EXPECT_EQ(result.code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("1 passed, 0 failed"), std::string::npos) << result.out << result.err;
}

TEST_F(MountedTest, JobsAndRepeatRunEveryTestOnSeveralMounts) {
  scenario("a", passing);
  scenario("b",
           "steps:\n  - {op: mkdir, path: d, mode: 0700}\n  - {op: stat, path: d, expect: {perm: 0700, nlink: 2}}\n");
  auto result = cli(fmt::format("run --fs {} {} --jobs 2 --repeat 3 -v", stallfs(""), scenarios_arg()), 60);
  EXPECT_EQ(result.code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("6 passed, 0 failed, 0 skipped"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("2 mounts"), std::string::npos) << result.out;
}

TEST_F(MountedTest, BindfsDifferencesAreReportedAsClearFailures) {
  if (::access("/usr/bin/bindfs", X_OK) != 0) GTEST_SKIP() << "bindfs is not installed";
  scenario("a-data", passing);
  scenario("b-times",
           "steps:\n  - {op: create_file, path: f}\n  - {op: stat, path: f, expect: {mtime: {eq: {field: ctime}}}}\n");
  scenario("c-perm",
           "actors:\n  alice: {uid: 1000}\nsetup:\n  - {op: create_file, path: f, mode: 0600}\n"
           "steps:\n  - {op: read_file, actor: alice, path: f, expect: EACCES}\n");
  auto result = cli(fmt::format("run --fs {} {}", shell_quote("exec:bindfs -f {src} {mnt}"), scenarios_arg()), 60);
  EXPECT_TRUE(result.code == 0 || result.code == 1) << result.out << result.err;
  EXPECT_NE(result.out.find("PASS   t/a-data"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("BROKEN"), std::string::npos) << result.out;
  // Every failure names the field, the expectation, what came back and how to rerun it.
  std::istringstream lines(result.out);
  std::string line, block;
  int failures = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("FAIL", 0) == 0) ++failures;
  }
  if (failures > 0) {
    EXPECT_NE(result.out.find("expected"), std::string::npos);
    EXPECT_NE(result.out.find("got"), std::string::npos);
    EXPECT_NE(result.out.find("rerun: "), std::string::npos);
  }
  EXPECT_EQ(failures > 0, result.code == 1) << result.out;
}

}  // namespace

namespace {

TEST_F(MountedTest, DaemonThatFailsToMountGivesOneMessageThenTheSummary) {
  scenario("a", passing);
  scenario("b", passing);
  scenario("c", std::string("mount: [noatime]\n") + passing);
  // Like a pyfuse3 script whose argument parser takes only MOUNTPOINT: it rejects -o.
  std::string daemon = "exec:sh -c 'echo usage: myfs MOUNTPOINT >&2; exit 2' sh {mnt}";
  auto result = cli(fmt::format("run --fs {} {} --jobs 2 --results res", shell_quote(daemon), scenarios_arg()));
  EXPECT_EQ(result.code, 3) << result.out << result.err;
  std::string all = result.out + result.err;
  EXPECT_NE(all.find("exited with status 2 before mounting"), std::string::npos) << all;
  size_t first = all.find("| usage: myfs MOUNTPOINT");
  ASSERT_NE(first, std::string::npos) << all;
  EXPECT_EQ(all.find("| usage: myfs MOUNTPOINT", first + 1), std::string::npos) << "the daemon's output is repeated:\n"
                                                                                << all;
  EXPECT_NE(result.out.find("0 passed, 0 failed, 0 skipped, 0 xfailed, 0 xpassed, 3 broken"), std::string::npos)
      << result.out;
  EXPECT_LT(result.seconds, 2.0);
  EXPECT_FALSE(fs::exists(work_ / "res")) << "repro files for tests that never ran";
  EXPECT_TRUE(fs::is_empty(state_) || !fs::exists(state_)) << "a state record outlived the run";
}

}  // namespace

namespace {

TEST_F(MountedTest, SetupFailureIsBrokenAndCleanupRunsAfterEveryOutcome) {
  TmpfsMount tmpfs;
  ASSERT_TRUE(tmpfs.ok());
  // The -v transcript is the witness that cleanup ran.
  scenario("a-setup-fails",
           "setup:\n  - {op: stat, path: nope}\nsteps:\n  - {op: stat, path: .}\n"
           "cleanup:\n  - {op: mkdir, path: cleaned}\n");
  scenario("b-fails", "steps:\n  - {op: stat, path: nope}\ncleanup:\n  - {op: mkdir, path: cleaned}\n");
  scenario("c-cleanup-fails", "steps:\n  - {op: stat, path: .}\ncleanup:\n  - {op: rmdir, path: nope}\n");
  auto result = cli(fmt::format("run -v --fs dir:{} {}", tmpfs.path(), scenarios_arg()));
  EXPECT_EQ(result.code, 3) << result.out << result.err;
  EXPECT_NE(result.out.find("BROKEN t/a-setup-fails"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("setup step 1 (stat nope) at"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("FAIL   t/b-fails"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("BROKEN t/c-cleanup-fails"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("cleanup step 1 (rmdir nope)"), std::string::npos) << result.out;
  // Both the BROKEN setup and the FAIL still ran their cleanup.
  size_t first = result.out.find("cleanup step 1 (mkdir cleaned): success");
  ASSERT_NE(first, std::string::npos) << result.out;
  EXPECT_NE(result.out.find("cleanup step 1 (mkdir cleaned): success", first + 1), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("0 passed, 1 failed, 0 skipped, 0 xfailed, 0 xpassed, 2 broken"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(tmpfs.path()));
}

}  // namespace

namespace {

TEST_F(MountedTest, ListSelectsByFilterAndTagAndBadTargetsHaveDistinctExitCodes) {
  scenario("chmod-a", "tags: [setattr]\nparams:\n  m: [0600, 0644]\nsteps:\n  - {op: stat, path: .}\n");
  scenario("read-b", "tags: [data]\nsteps:\n  - {op: stat, path: .}\n");
  auto all = cli(fmt::format("list {}", scenarios_arg()));
  EXPECT_EQ(all.code, 0) << all.err;
  EXPECT_EQ(all.out, "t/chmod-a@m=0600\nt/chmod-a@m=0644\nt/read-b\n");
  auto tagged = cli(fmt::format("list {} --tag data", scenarios_arg()));
  EXPECT_EQ(tagged.out, "t/read-b\n");
  auto one = cli(fmt::format("list {} --filter t/chmod-a@m=0644", scenarios_arg()));
  EXPECT_EQ(one.out, "t/chmod-a@m=0644\n");
  auto globbed = cli(fmt::format("list {} --filter 't/chmod-*'", scenarios_arg()));
  EXPECT_EQ(globbed.out, "t/chmod-a@m=0600\nt/chmod-a@m=0644\n");

  EXPECT_EQ(cli(fmt::format("run {} --fs nonsense", scenarios_arg())).code, 2);
  EXPECT_EQ(cli(fmt::format("run {} --fs dir:/does/not/exist", scenarios_arg())).code, 77);
  EXPECT_EQ(cli(fmt::format("run {} --fs exec:true", scenarios_arg())).code, 2);  // no {mnt}
  EXPECT_EQ(cli(fmt::format("run {} --filter nothing-matches --fs dir:/tmp", scenarios_arg())).code, 2);
  EXPECT_EQ(cli("frobnicate").code, 2);
}

}  // namespace

namespace {

TEST_F(MountedTest, MountOptionsTheTargetRefusesGiveSkipNotBroken) {
  scenario("a-plain", passing);
  scenario("b-options", std::string("mount: [no_such_option=1]\n") + passing);
  auto result = cli(fmt::format("run --fs {} {}", stallfs(""), scenarios_arg()), 60);
  EXPECT_EQ(result.code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("PASS   t/a-plain"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("SKIP   t/b-options"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("target refused mount options no_such_option=1"), std::string::npos) << result.out;
}

}  // namespace

namespace {

// bindfs (libfuse 2) refuses an unknown option only after mounting: its mount is listed, then
// its connection closes, then it unmounts itself and exits. Whatever the timing, the verdict
// must be the SKIP of a refused option, never BROKEN and never a run on the bare mountpoint.
TEST_F(MountedTest, DaemonThatUnmountsRightAfterMountingGivesSkipWhateverTheTiming) {
  scenario("a-plain", passing);
  scenario("b-options", std::string("mount: [refused_opt=1]\n") + passing);
  struct Timing {
    int refuse_after_ms, linger_ms;
  };
  // linger 150-400: the connection is closed while the mount is still listed and the daemon
  // alive (past the feature probes); linger 1500: longer than the runner waits for an exit.
  for (Timing timing : {Timing{0, 0}, Timing{0, 150}, Timing{150, 0}, Timing{150, 400}, Timing{50, 1500}}) {
    SCOPED_TRACE(fmt::format("refuse after {} ms, linger {} ms", timing.refuse_after_ms, timing.linger_ms));
    auto flags = fmt::format("--refuse refused_opt --refuse-after-ms {} --linger-ms {}", timing.refuse_after_ms,
                             timing.linger_ms);
    auto result = cli(fmt::format("run --fs {} {}", stallfs(flags), scenarios_arg()), 60);
    EXPECT_EQ(result.code, 0) << result.out << result.err;
    EXPECT_NE(result.out.find("PASS   t/a-plain"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("SKIP   t/b-options"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("target refused mount options refused_opt=1: stallfs: unknown option `refused_opt'"),
              std::string::npos)
        << result.out;
    EXPECT_NE(result.out.find("1 passed, 0 failed, 1 skipped, 0 xfailed, 0 xpassed, 0 broken"), std::string::npos)
        << result.out;
    EXPECT_TRUE(fuse_mounts_matching("stallfs").empty()) << "a stallfs mount was left behind";
  }
}

}  // namespace

namespace {

TEST_F(MountedTest, ReplayRunsOnlyTheCommandLinesTargetAndKeepsReprosInResults) {
  TmpfsMount tmpfs;
  ASSERT_TRUE(tmpfs.ok());
  fs::path sentinel = work_ / "pwned";
  fs::path repro = work_ / "evil.yaml";
  std::ofstream(repro)
      << "format: 1\ntitle: evil\nrefs: [r]\n"
      << "repro: {test: \"../escaped\", fs: \"exec:touch " << sentinel.string() << "; false {mnt}\"}\n"
      << "steps:\n  - {op: create_file, path: f, data: hello}\n  - {op: stat, path: f, expect: {size: 4}}\n";
  auto result = cli(fmt::format("replay {} --fs dir:{} --results res", shell_quote(repro.string()), tmpfs.path()));
  EXPECT_EQ(result.code, 1) << result.out << result.err;
  EXPECT_FALSE(fs::exists(sentinel)) << "replay ran the file's exec: command";
  EXPECT_NE(result.err.find("was recorded on --fs"), std::string::npos) << result.err;
  EXPECT_NE(result.out.find("FAIL"), std::string::npos) << result.out;
  // The repro it wrote is under res/, whatever the file's test name said.
  EXPECT_FALSE(fs::exists(work_ / "escaped"));
  EXPECT_FALSE(fs::exists(work_.parent_path() / "escaped"));
  bool found = false;
  for (const auto& entry : fs::recursive_directory_iterator(work_ / "res"))
    found = found || entry.path().filename() == "repro.yaml";
  EXPECT_TRUE(found);
}

TEST_F(MountedTest, TeardownKillsTheDaemonsWholeProcessGroup) {
  scenario("a", passing);
  int marker = 700000 + ::getpid() % 100000;  // a sleep nobody else runs
  std::string wrapper =
      fmt::format("exec:sh -c 'sleep {} & exec {}/fusecheck-memfs \"$@\"' sh {{mnt}} {{opts}}", marker, bin_);
  auto result = cli(fmt::format("run --fs {} {}", shell_quote(wrapper), scenarios_arg()), 60);
  EXPECT_EQ(result.code, 0) << result.out << result.err;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string wanted = fmt::format("sleep{}{}", '\0', marker);
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string cmdline = read_text(entry.path() / "cmdline");
    if (cmdline.rfind(wanted, 0) != 0) continue;
    ADD_FAILURE() << "the wrapper's sleep outlived the run: pid " << entry.path().filename();
    ::kill(std::stoi(entry.path().filename().string()), SIGKILL);
  }
}

TEST_F(MountedTest, OutputPathsAreCheckedFirstAndWriteErrorsReportedWithTheSummary) {
  TmpfsMount tmpfs;
  ASSERT_TRUE(tmpfs.ok());
  scenario("a", passing);
  std::string target = fmt::format("--fs dir:{} {}", tmpfs.path(), scenarios_arg());
  auto missing = cli(fmt::format("run {} --json no/such/dir/out.json", target));
  EXPECT_EQ(missing.code, 2) << missing.out << missing.err;
  EXPECT_EQ(missing.out.find("PASS"), std::string::npos) << "tests ran before the output was checked:\n" << missing.out;
  EXPECT_NE(missing.err.find("no/such/dir/out.json"), std::string::npos) << missing.err;
  auto results = cli(fmt::format("run {} --results /proc/version/res", target));
  EXPECT_EQ(results.code, 2) << results.out << results.err;
  EXPECT_EQ(results.out.find("PASS"), std::string::npos) << results.out;
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  for (const char* option : {"--json", "--junit-xml"}) {
    auto full = cli(fmt::format("run {} {} /dev/full", target, option));
    EXPECT_EQ(full.code, 3) << option << "\n" << full.out << full.err;
    EXPECT_NE(full.out.find("1 passed, 0 failed"), std::string::npos) << full.out;
    EXPECT_NE(full.err.find("/dev/full"), std::string::npos) << full.err;
  }
}

TEST_F(MountedTest, AHangingProbeIsNamedAndTimeoutCapsTheHarnessCalls) {
  scenario("a", passing);
  auto result = cli(fmt::format("run --fs {} {} --timeout 1", stallfs("--hang .fusecheck-probe"), scenarios_arg()), 60);
  EXPECT_EQ(result.code, 3) << result.out << result.err;
  std::string all = result.out + result.err;
  EXPECT_EQ(all.find("unmounted right after mounting"), std::string::npos) << all;
  EXPECT_NE(all.find("did not survive the feature probes"), std::string::npos) << all;
  EXPECT_NE(all.find("mkdir"), std::string::npos) << all;
  EXPECT_NE(all.find(".fusecheck-probe got no answer within 1 s"), std::string::npos) << all;
  EXPECT_LT(result.seconds, 4.5);  // one probe at --timeout 1, not the 5 s probe deadline
  EXPECT_TRUE(fuse_mounts_matching("stallfs").empty());
}

TEST_F(MountedTest, CtrlCStopsWithoutBrokenVerdictsOrReproFiles) {
  scenario("hang", "timeout: 60\nsteps:\n  - {op: stat, path: hang}\n");
  auto result = cli(fmt::format("run --fs {} {} --results res", stallfs("--hang hang"), scenarios_arg()), 60,
                    "timeout --foreground --preserve-status -s INT 2");
  EXPECT_EQ(result.code, 130) << result.out << result.err;
  EXPECT_EQ(result.out.find("BROKEN"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("interrupted"), std::string::npos) << result.out;
  EXPECT_FALSE(fs::exists(work_ / "res")) << "a repro was written for an interrupted test";
  EXPECT_TRUE(fuse_mounts_matching("stallfs").empty());
}

TEST_F(MountedTest, DirOnAFileIsAUsageError) {
  scenario("a", passing);
  fs::path file = work_ / "plain-file";
  std::ofstream(file) << "x";
  auto result = cli(fmt::format("run --fs dir:{} {}", file.string(), scenarios_arg()));
  EXPECT_EQ(result.code, 2) << result.out << result.err;
  EXPECT_NE(result.err.find("is not a directory"), std::string::npos) << result.err;
}

}  // namespace

namespace {

// Expectations follow the target kind (memfs; a dir: on tmpfs), never an exec: program's
// file name: a daemon called "memfs" or "tmpfs" is not the filesystem it is named after.
TEST_F(MountedTest, DefaultExpectationsComeFromTheTargetKindNotAProgramsName) {
  scenario("a", passing);
  fs::create_directories(work_ / "expectations");
  std::ofstream(work_ / "expectations" / "memfs.yaml")
      << "format: 1\nentries:\n  - {test: t/a, status: skip, reason: memfs only}\n";
  fs::create_directories(work_ / "bin");
  fs::create_symlink(bin_ + "/fusecheck-memfs", work_ / "bin" / "memfs");
  auto named = cli(fmt::format("run --fs {} {}", shell_quote("exec:" + (work_ / "bin" / "memfs").string() + " {mnt}"),
                               scenarios_arg()));
  EXPECT_EQ(named.code, 0) << named.out << named.err;
  EXPECT_NE(named.out.find("PASS   t/a"), std::string::npos) << named.out;
  EXPECT_EQ(named.out.find("expectations:"), std::string::npos) << named.out;
  auto memfs = cli(fmt::format("run --fs memfs {}", scenarios_arg()));
  EXPECT_EQ(memfs.code, 0) << memfs.out << memfs.err;
  EXPECT_NE(memfs.out.find("SKIP   t/a"), std::string::npos) << memfs.out;
  EXPECT_NE(memfs.out.find("memfs only"), std::string::npos) << memfs.out;
}

}  // namespace

namespace {

TEST_F(MountedTest, ShardsSplitTheSelectionWithoutLosingOrRepeatingATest) {
  for (const char* name : {"a", "b", "c", "d", "e"}) scenario(name, passing);
  scenario("p", "params: {m: [1, 2, 3]}\nsteps:\n  - {op: stat, path: .}\n");
  auto all = cli(fmt::format("list -q {}", scenarios_arg()));
  std::multiset<std::string> everything, from_shards;
  std::istringstream lines(all.out);
  for (std::string line; std::getline(lines, line);) everything.insert(line);
  for (int k = 1; k <= 3; ++k) {
    auto part = cli(fmt::format("list -q {} --shard {}/3", scenarios_arg(), k));
    EXPECT_EQ(part.code, 0) << part.err;
    std::istringstream shard_lines(part.out);
    for (std::string line; std::getline(shard_lines, line);) from_shards.insert(line);
  }
  EXPECT_EQ(everything.size(), 8u);
  EXPECT_EQ(from_shards, everything);
  EXPECT_EQ(cli(fmt::format("list {} --shard 4/3", scenarios_arg())).code, 2);
}

}  // namespace

namespace {

// name -> verdict of a JSON results file.
std::map<std::string, std::string> verdicts_in(const fs::path& path) {
  std::map<std::string, std::string> verdicts;
  json doc = json::parse(read_text(path));
  for (const auto& test : doc["tests"]) verdicts[test["name"]] = test["verdict"];
  return verdicts;
}

TEST_F(MountedTest, MergedShardsGiveTheUnshardedRunsVerdictsAndExitCode) {
  TmpfsMount tmpfs;
  ASSERT_TRUE(tmpfs.ok());
  for (const char* name : {"a", "b", "c", "d"}) scenario(name, passing);
  scenario("f", "steps:\n  - {op: create_file, path: f, data: hello}\n  - {op: stat, path: f, expect: {size: 4}}\n");
  scenario("p", "params: {m: [1, 2, 3]}\nsteps:\n  - {op: stat, path: .}\n");
  scenario("s", "requires: [fuse]\nsteps:\n  - {op: stat, path: .}\n");
  std::string run = fmt::format("run -q --fs dir:{} {}", tmpfs.path(), scenarios_arg());
  auto whole = cli(run + " --json all.json");
  EXPECT_EQ(whole.code, 1) << whole.out << whole.err;
  std::string shards;
  for (int k = 1; k <= 3; ++k) {
    auto part = cli(fmt::format("{} --shard {}/3 --json shard{}.json", run, k, k));
    EXPECT_TRUE(part.code == 0 || part.code == 1) << part.out << part.err;
    shards += fmt::format(" shard{}.json", k);
  }
  auto merged = cli("merge" + shards + " --json merged.json --junit-xml merged.xml");
  EXPECT_EQ(merged.code, whole.code) << merged.out << merged.err;
  EXPECT_NE(merged.out.find("FAIL   t/f"), std::string::npos) << merged.out;
  EXPECT_NE(merged.out.find("7 passed, 1 failed, 1 skipped"), std::string::npos) << merged.out;
  EXPECT_EQ(verdicts_in(work_ / "merged.json"), verdicts_in(work_ / "all.json"));
  EXPECT_EQ(verdicts_in(work_ / "all.json").size(), 9u);
  EXPECT_EQ(std::system(fmt::format("xmllint --noout {}", shell_quote((work_ / "merged.xml").string())).c_str()), 0);
  // A shard missing, or given twice, is refused: the report would not be the whole run.
  auto missing = cli("merge shard1.json shard3.json");
  EXPECT_EQ(missing.code, 2) << missing.out << missing.err;
  EXPECT_NE(missing.err.find("shard 2/3 missing"), std::string::npos) << missing.err;
  EXPECT_EQ(cli("merge" + shards + " shard2.json").code, 2);
}

TEST_F(MountedTest, WrittenExpectationsLetTodaysRunPassAndOnlyShrink) {
  TmpfsMount tmpfs;
  ASSERT_TRUE(tmpfs.ok());
  scenario("a", passing);
  scenario("f", "steps:\n  - {op: create_file, path: f, data: hello}\n  - {op: stat, path: f, expect: {size: 4}}\n");
  std::string run = fmt::format("run -q --fs dir:{} {}", tmpfs.path(), scenarios_arg());
  auto first = cli(run + " --write-expectations exp.yaml");
  EXPECT_EQ(first.code, 1) << first.out << first.err;
  EXPECT_NE(first.err.find("wrote exp.yaml (1 new entry"), std::string::npos) << first.err;
  auto adopted = cli(run + " --expectations exp.yaml");
  EXPECT_EQ(adopted.code, 0) << adopted.out << adopted.err;
  EXPECT_NE(adopted.err.find("1 entry still has the placeholder reason"), std::string::npos) << adopted.err;
  // The bug is fixed: XPASS fails the run until the entry goes, which rewriting does.
  scenario("f", passing);
  EXPECT_EQ(cli(run + " --expectations exp.yaml").code, 1);
  auto ratchet = cli(run + " --expectations exp.yaml --write-expectations exp.yaml");
  EXPECT_NE(ratchet.err.find("(0 new entries"), std::string::npos) << ratchet.err;
  auto clean = cli(run + " --expectations exp.yaml");
  EXPECT_EQ(clean.code, 0) << clean.out << clean.err;
  EXPECT_EQ(clean.err.find("placeholder"), std::string::npos) << clean.err;
  EXPECT_EQ(read_text(work_ / "exp.yaml").find("t/f"), std::string::npos) << read_text(work_ / "exp.yaml");
}

const char* statfs_delta =
    "requires: [exclusive_statfs]\nsteps:\n  - {op: statvfs, path: ., save: s0}\n"
    "  - {op: create_file, path: f, gen: {size: 12288, seed: 1}}\n"
    "  - {op: statvfs, path: ., expect: {bfree: {lt: {saved: s0}}, ffree: {lt: {saved: s0}}}}\n"
    "  - {op: unlink, path: f}\n  - {op: statvfs, path: ., expect: {bfree: {unchanged: s0}, ffree: {unchanged: s0}}}\n";

std::vector<std::string> private_source_mounts() {
  std::vector<std::string> found;
  for (const auto& mount : fusepp::read_mountinfo())
    if (mount.source == "fusecheck-src") found.push_back(mount.mountpoint);
  return found;
}

// {src} is a private tmpfs, so bindfs's statfs is its own and exact; over the root disk
// (--src-dir) the probe sees the root disk's totals and the statfs scenario is skipped.
TEST_F(MountedTest, PassthroughStatfsIsExclusiveOnThePrivateSourceAndProbedOtherwise) {
  if (::access("/usr/bin/bindfs", X_OK) != 0) GTEST_SKIP() << "bindfs is not installed";
  scenario("statfs", statfs_delta);
  std::string bindfs = shell_quote("exec:bindfs -f {src} {mnt}");
  auto own = cli(fmt::format("run --fs {} {}", bindfs, scenarios_arg()), 60);
  EXPECT_EQ(own.code, 0) << own.out << own.err;
  EXPECT_NE(own.out.find("PASS   t/statfs"), std::string::npos) << own.out;
  fs::path disk = fs::path("/var/tmp") / fmt::format("fusecheck-src-test-{}", ::getpid());
  fs::create_directories(disk);
  auto shared = cli(fmt::format("run --fs {} --src-dir {} {}", bindfs, disk.string(), scenarios_arg()), 60);
  EXPECT_EQ(shared.code, 0) << shared.out << shared.err;
  EXPECT_NE(shared.out.find("SKIP   t/statfs"), std::string::npos) << shared.out;
  EXPECT_NE(shared.out.find("its statfs is that of /"), std::string::npos) << shared.out;
  EXPECT_TRUE(fs::is_empty(disk)) << "the backing directory was not removed";
  fs::remove_all(disk);
  EXPECT_TRUE(private_source_mounts().empty()) << "a private {src} tmpfs was left mounted";
}

// memfs sizes itself as a default tmpfs would, so an empty default-sized tmpfs elsewhere shows
// exactly memfs's statfs when it is probed; only a change on the target tells them apart.
TEST_F(MountedTest, StatfsLookalikeElsewhereDoesNotMakeMemfsShared) {
  TmpfsMount lookalike("");
  ASSERT_TRUE(lookalike.ok());
  scenario("statfs", statfs_delta);
  auto run = cli(fmt::format("run --fs memfs {}", scenarios_arg()), 60);
  EXPECT_EQ(run.code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("PASS   t/statfs"), std::string::npos) << run.out;
}

}  // namespace

namespace {

// What stops every FUSE mount is said in one line naming the fix, before any test (exit 77).
TEST_F(MountedTest, PreflightNamesTheFixBeforeAnyTest) {
  scenario("a", passing);
  if (std::system("unshare -m true 2>/dev/null") != 0) GTEST_SKIP() << "needs unshare -m";
  // No /dev/fuse: a private mount namespace with an empty /dev.
  auto missing = cli(fmt::format("run --fs memfs {}", scenarios_arg()), 60,
                     "unshare -m sh -c 'mount -t tmpfs none /dev && exec \"$0\" \"$@\"'");
  EXPECT_EQ(missing.code, 77) << missing.out << missing.err;
  EXPECT_NE(missing.err.find("/dev/fuse does not exist: load the module (modprobe fuse)"), std::string::npos)
      << missing.err;
  EXPECT_EQ(missing.out.find("passed"), std::string::npos) << "tests ran:\n" << missing.out;
  // A user without root: /dev/fuse must be open to it and fusermount3 setuid; here
  // fusermount3 is replaced by a copy without the setuid bit.
  if (std::system("command -v setpriv >/dev/null") != 0) GTEST_SKIP() << "needs setpriv";
  fs::path copy = work_ / "fusermount3";
  fs::copy_file("/usr/bin/fusermount3", copy);
  fs::permissions(copy, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                            fs::perms::others_exec);
  auto user = cli(fmt::format("run --fs memfs {}", scenarios_arg()), 60,
                  fmt::format("unshare -m sh -c 'mount --bind {} /usr/bin/fusermount3 && exec setpriv "
                              "--reuid=65534 --regid=65534 --clear-groups \"$0\" \"$@\"'",
                              copy.string()));
  EXPECT_EQ(user.code, 77) << user.out << user.err;
  bool named = user.err.find("this user cannot open /dev/fuse") != std::string::npos ||
               user.err.find("/usr/bin/fusermount3 is not setuid root") != std::string::npos;
  EXPECT_TRUE(named) << user.err;
  EXPECT_EQ(user.out.find("passed"), std::string::npos) << "tests ran:\n" << user.out;
  // Root without CAP_SYS_ADMIN, as in a container started without --cap-add SYS_ADMIN.
  auto capless = cli(fmt::format("run --fs memfs {}", scenarios_arg()), 60,
                     "setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin");
  EXPECT_EQ(capless.code, 77) << capless.out << capless.err;
  EXPECT_NE(capless.err.find("lacks CAP_SYS_ADMIN, which mounting needs"), std::string::npos) << capless.err;
  EXPECT_EQ(capless.out.find("passed"), std::string::npos) << "tests ran:\n" << capless.out;
}

}  // namespace
