// State records are untrusted input: tests that the next run acts only on records of this
// user naming fusecheck's own temp dirs, refuses another user's state dir, and treats a
// zombie run as dead (its leftovers are cleared, not skipped).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fusecheck/errors.hpp"
#include "fusecheck/state.hpp"

using namespace fusecheck;
namespace fs = std::filesystem;

namespace {

class StateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / fmt::format("fusecheck-state-test-{}", ::getpid());
    fs::create_directories(base_);
    state_ = base_ / "state";
    ::setenv("FUSECHECK_STATE_DIR", state_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("FUSECHECK_STATE_DIR");
    std::error_code ec;
    fs::remove_all(base_, ec);
    if (!leftover_.empty()) fs::remove_all(leftover_, ec);
  }

  // A record of a run `pid` (started at `start`) naming one dir: target's temp dir.
  void plant(int pid, unsigned long long start, const std::string& tmpdir) {
    fs::create_directories(state_);
    ::chmod(state_.c_str(), 0700);
    nlohmann::json record{
        {"pid", pid},
        {"start", start},
        {"mounts", {{{"mountpoint", ""}, {"tmpdir", tmpdir}, {"daemon_pid", 0}, {"daemon_start", 0}, {"conn", 0}}}}};
    std::ofstream(state_ / fmt::format("{}.json", pid)) << record.dump();
  }

  // A directory that looks like a dir: target's temp dir: DIR/.fusecheck-XXXXXX.
  fs::path fake_leftover() {
    std::string templ = (base_ / ".fusecheck-XXXXXX").string();
    leftover_ = ::mkdtemp(templ.data());
    return leftover_;
  }

  fs::path base_, state_, leftover_;
};

// A pid that no process has: a child that has exited and been reaped.
int dead_pid() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

TEST_F(StateTest, ARecordOfADeadRunIsClearedAndTheDirIsMade0700) {
  fs::path leftover = fake_leftover();
  plant(dead_pid(), 1, leftover.string());
  auto actions = StateRecord::instance().clear_stale();
  EXPECT_FALSE(fs::exists(leftover));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_NE(actions[0].find("removed leftover directory"), std::string::npos) << actions[0];
  struct stat info {};
  ASSERT_EQ(::stat(state_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
}

TEST_F(StateTest, AStateDirOthersCouldWriteIsTightenedAndOneOfAnotherUserRefused) {
  fs::create_directories(state_);
  ::chmod(state_.c_str(), 0777);
  StateRecord::instance().clear_stale();
  struct stat info {};
  ASSERT_EQ(::stat(state_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a dir owned by another user";
  fs::path leftover = fake_leftover();
  plant(dead_pid(), 1, leftover.string());
  ASSERT_EQ(::chown(state_.c_str(), 65534, 65534), 0);
  try {
    StateRecord::instance().clear_stale();
    FAIL() << "another user's state dir was used";
  } catch (const HarnessError& error) {
    EXPECT_NE(std::string(error.what()).find("belongs to uid 65534"), std::string::npos) << error.what();
    EXPECT_EQ(error.exit_code, exit_code::cannot_run);
  }
  EXPECT_TRUE(fs::exists(leftover));
}

TEST_F(StateTest, ARecordNamingAnythingButFusechecksOwnTempDirsIsIgnored) {
  fs::path victim = base_ / "victim";
  fs::create_directories(victim);
  std::ofstream(victim / "precious") << "keep";
  plant(dead_pid(), 1, victim.string());
  auto actions = StateRecord::instance().clear_stale();
  EXPECT_TRUE(fs::exists(victim / "precious"));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_NE(actions[0].find("not fusecheck's own temp dir"), std::string::npos) << actions[0];
  // Also through a name that only looks like one.
  plant(dead_pid(), 1, (base_ / ".fusecheck-abcdef" / ".." / "victim").string());
  StateRecord::instance().clear_stale();
  EXPECT_TRUE(fs::exists(victim / "precious"));
}

TEST_F(StateTest, ARecordAnotherUserOwnsIsIgnored) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to plant a file owned by another user";
  fs::path leftover = fake_leftover();
  int pid = dead_pid();
  plant(pid, 1, leftover.string());
  ASSERT_EQ(::chown((state_ / fmt::format("{}.json", pid)).c_str(), 65534, 65534), 0);
  auto actions = StateRecord::instance().clear_stale();
  EXPECT_TRUE(fs::exists(leftover));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_NE(actions[0].find("not a file of this user"), std::string::npos) << actions[0];
}

TEST_F(StateTest, AZombieRunIsDeadAndItsLeftoversAreCleared) {
  pid_t zombie = ::fork();
  if (zombie == 0) ::_exit(0);
  // Not reaped yet: /proc shows it as Z, with its start time.
  std::string stat;
  for (int i = 0; i < 200 && stat.find(") Z") == std::string::npos; ++i) {
    std::ifstream in(fmt::format("/proc/{}/stat", zombie));
    stat.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (stat.find(") Z") == std::string::npos) ::usleep(5000);
  }
  ASSERT_NE(stat.find(") Z"), std::string::npos) << stat;
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long start = 0;
  for (int n = 3; n <= 22 && fields >> field; ++n)
    if (n == 22) start = std::stoull(field);
  fs::path leftover = fake_leftover();
  plant(zombie, start, leftover.string());
  StateRecord::instance().clear_stale();
  EXPECT_FALSE(fs::exists(leftover)) << "the zombie's record was skipped as if it ran";
  ::waitpid(zombie, nullptr, 0);
}

}  // namespace
