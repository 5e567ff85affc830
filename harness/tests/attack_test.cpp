// The attack suite: scenario files written as an attacker would (issue: untrusted input),
// each run through the fusecheck CLI. Whatever the verdict, a sentinel file outside the
// workdir must keep its content, mode, owner and times, and no file may appear outside.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fusecheck/actor.hpp"
#include "fusecheck/data_dir.hpp"

namespace fs = std::filesystem;
using namespace fusecheck;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// What must not change about a file: content, mode, owner, size and times.
struct Snapshot {
  std::string content;
  struct stat st {};
  static Snapshot of(const fs::path& path) {
    Snapshot s;
    s.content = read_text(path);
    ::stat(path.c_str(), &s.st);
    return s;
  }
  bool operator==(const Snapshot& o) const {
    return content == o.content && st.st_mode == o.st.st_mode && st.st_uid == o.st.st_uid && st.st_gid == o.st.st_gid &&
           st.st_size == o.st.st_size && st.st_mtim.tv_sec == o.st.st_mtim.tv_sec &&
           st.st_mtim.tv_nsec == o.st.st_mtim.tv_nsec && st.st_ctim.tv_sec == o.st.st_ctim.tv_sec &&
           st.st_ctim.tv_nsec == o.st.st_ctim.tv_nsec;
  }
};

class AttackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (the attacks matter when fusecheck runs as root)";
    if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "needs /dev/fuse";
    work_ = fs::temp_directory_path() / fmt::format("fusecheck-attack-{}-{}", ::getpid(), counter_++);
    fs::create_directories(work_ / "scenarios" / "a");
    sentinel_ = work_ / "victim";
    std::ofstream(sentinel_) << "precious";
    fs::permissions(sentinel_, fs::perms::owner_read | fs::perms::owner_write);
    before_ = Snapshot::of(sentinel_);
  }

  void TearDown() override {
    if (work_.empty()) return;
    EXPECT_TRUE(Snapshot::of(sentinel_) == before_) << "the sentinel outside the workdir changed";
    std::error_code ec;
    fs::remove_all(work_, ec);
    // What the attacks created on code without confinement (this suite failed there).
    for (const char* dir : {"/", "/tmp"}) {
      fs::remove_all(fs::path(dir) / created_name(), ec);
      fs::remove_all(fs::path(dir) / (created_name() + ".d"), ec);
    }
  }

  void scenario(const std::string& body) {
    std::ofstream(work_ / "scenarios" / "a" / "attack.yaml") << "format: 1\ntitle: attack\nrefs: [issue]\n" << body;
  }

  // Runs `fusecheck ARGS` with a kill timeout that only guards against a hang.
  int cli(const std::string& args, std::string* err = nullptr) {
    fs::path err_file = work_ / "err.txt";
    std::string command = fmt::format(
        "cd {} && FUSECHECK_STATE_DIR={} timeout -s KILL 60 {}/fusecheck {} --scenarios {} "
        ">/dev/null 2>{}",
        work_.string(), (work_ / "state").string(), executable_dir(), args, (work_ / "scenarios").string(),
        err_file.string());
    int status = std::system(command.c_str());
    if (err) *err = read_text(err_file);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // A path from the workdir that climbs to / through a symlink to "." (balanced, so it
  // passes the parser's lexical check), then goes down to `absolute`.
  static std::string through_links(const fs::path& absolute) {
    std::string path;
    for (int i = 0; i < 40; ++i) path += "l/";
    for (int i = 0; i < 40; ++i) path += "../";
    return path + absolute.relative_path().string();
  }

  std::string created_name() const { return fmt::format("fusecheck-attack-created-{}", ::getpid()); }

  fs::path work_, sentinel_;
  Snapshot before_;
  static inline int counter_ = 0;
};

TEST_F(AttackTest, SymlinksMadeByEarlierStepsDoNotLeadOutOfTheWorkdir) {
  std::string victim = through_links(sentinel_);
  std::string created = through_links(fs::path("/tmp") / created_name());
  scenario(
      fmt::format("steps:\n  - {{op: symlink, target: \".\", path: l}}\n"
                  "  - {{op: chmod, path: \"{0}\", mode: 0777, expect: any}}\n"
                  "  - {{op: chown, path: \"{0}\", uid: 1234, gid: 1234, expect: any}}\n"
                  "  - {{op: truncate, path: \"{0}\", size: 0, expect: any}}\n"
                  "  - {{op: setxattr, path: \"{0}\", name: user.x, data: x, expect: any}}\n"
                  "  - {{op: utimensat, path: \"{0}\", atime: 0, mtime: 0, expect: any}}\n"
                  "  - {{op: create_file, path: \"{1}\", data: pwned, expect: any}}\n",
                  victim, created));
  for (const char* fs_arg : {"memfs", "dir:/tmp"}) {
    std::string err;
    int code = cli(fmt::format("run --fs {}", fs_arg), &err);
    EXPECT_TRUE(code == 0 || code == 1) << fs_arg << ": " << err;
    EXPECT_FALSE(fs::exists("/tmp/" + created_name())) << fs_arg << ": a file was created outside the workdir";
  }
}

TEST_F(AttackTest, ASymlinkToTheWorkdirRenamedToTheTopDoesNotLeadOut) {
  // up -> ../../../.. is the workdir itself while it sits in a/b/c/d; renamed to the top it
  // would name the workdir's fourth ancestor.
  scenario(
      fmt::format("steps:\n  - {{op: mkdir, path: a}}\n  - {{op: mkdir, path: a/b}}\n  - {{op: mkdir, path: a/b/c}}\n"
                  "  - {{op: mkdir, path: a/b/c/d}}\n  - {{op: symlink, target: ../../../.., path: a/b/c/d/up}}\n"
                  "  - {{op: rename, from: a/b/c/d/up, to: up}}\n"
                  "  - {{op: create_file, path: up/{0}, data: pwned, expect: any}}\n"
                  "  - {{op: mkdir, path: up/{0}.d, expect: any}}\n",
                  created_name()));
  for (const char* fs_arg : {"memfs", "dir:/tmp"}) {
    std::string err;
    int code = cli(fmt::format("run --fs {}", fs_arg), &err);
    EXPECT_TRUE(code == 0 || code == 1) << fs_arg << ": " << err;
    // The fourth ancestor of a workdir is at most this deep. Other tests mount and unmount
    // under /tmp meanwhile: a directory that cannot be looked into holds nothing of ours.
    auto created_in = [&](const fs::path& dir) {
      std::error_code ec;
      return fs::exists(fs::symlink_status(dir / created_name(), ec));
    };
    for (const char* dir : {"/", "/tmp", "/tmp/fusecheck-attack"})
      EXPECT_FALSE(created_in(dir)) << fs_arg << ": created in " << dir;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/tmp", ec)) {
      if (entry.is_directory(ec)) {
        EXPECT_FALSE(created_in(entry.path())) << "created in " << entry.path();
      }
    }
  }
}

TEST_F(AttackTest, DeviceNodesWithADriversNumberAreAScenarioError) {
  for (const char* node :
       {"type: blk, major: 7, minor: 0", "type: chr, major: 1, minor: 1", "type: blk, major: 254, minor: 0"}) {
    scenario(
        fmt::format("mount: [dev]\nsteps:\n  - {{op: mknod, path: disk, {}}}\n"
                    "  - {{op: open, path: disk, flags: [O_RDWR], fd: h}}\n"
                    "  - {{op: pwrite, fd: h, offset: 0, data: pwned}}\n",
                    node));
    std::string err;
    EXPECT_EQ(cli("run --fs memfs", &err), 2) << node;
    EXPECT_NE(err.find("attack.yaml:6:47: mknod major"), std::string::npos) << err;
    EXPECT_NE(err.find("only major 0 may be used"), std::string::npos) << err;
  }
  // Major 0 is allowed and reaches no device: opening the node fails with ENXIO.
  scenario(
      "requires: [devices]\nsteps:\n  - {op: mknod, path: n, type: chr, major: 0, minor: 5}\n"
      "  - {op: open, path: n, flags: [O_RDWR], fd: h, expect: {errno: [ENXIO, EACCES]}}\n");
  std::string err;
  EXPECT_EQ(cli("run --fs dir:" + work_.string(), &err), 0) << err;
}

TEST_F(AttackTest, OutOfRangeIdsAreAScenarioError) {
  for (const char* id : {"-1", "4294967295", "4294967296", "0x100000000"}) {
    for (const char* key : {"uid", "gid"}) {
      scenario(fmt::format(
          "actors:\n  mallory: {{{}: {}}}\nsteps:\n  - {{op: chmod, actor: mallory, path: ., mode: 0777}}\n",
          std::string(key) == "uid" ? "uid" : "uid: 1000, gid", id));
      std::string err;
      EXPECT_EQ(cli("list", &err), 2) << key << "=" << id;
      EXPECT_NE(err.find("attack.yaml:5:"), std::string::npos) << err;
      EXPECT_NE(err.find("is out of range (0..4294967294)"), std::string::npos) << err;
    }
  }
  scenario("actors:\n  mallory: {uid: 1000, groups: [0, -1]}\nsteps:\n  - {op: stat, path: ., actor: mallory}\n");
  EXPECT_EQ(cli("list"), 2);
}

TEST_F(AttackTest, ResourceBombsAreRefusedQuickly) {
  // A 1 KiB alias bomb: 10 levels of 9 aliases expand to 9^10 nodes.
  std::string bomb = "x0: &a0 [x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level <= 10; ++level)
    bomb +=
        fmt::format("x{0}: &a{0} [*a{1}, *a{1}, *a{1}, *a{1}, *a{1}, *a{1}, *a{1}, *a{1}, *a{1}]\n", level, level - 1);
  ASSERT_LE(bomb.size(), 1024u);
  std::ofstream(work_ / "scenarios" / "a" / "attack.yaml") << "format: 1\ntitle: bomb\nrefs: [r]\n"
                                                           << bomb << "steps:\n  - {op: stat, path: .}\n";
  std::string err;
  EXPECT_EQ(cli("list", &err), 2);
  EXPECT_NE(err.find("nodes once its aliases are expanded"), std::string::npos) << err;
  // Generated data beyond the per-file budget, eight steps asking for 64 MiB each.
  std::string big = "steps:\n";
  for (int i = 0; i < 8; ++i) big += fmt::format("  - {{op: create_file, path: f{}, gen: {{size: 67108864}}}}\n", i);
  scenario(big);
  EXPECT_EQ(cli("list", &err), 2);
  EXPECT_NE(err.find("exceeds 32 MiB"), std::string::npos) << err;
  // A timeout that would never end, and params that multiply without bound.
  scenario("timeout: 1e308\nsteps:\n  - {op: stat, path: .}\n");
  EXPECT_EQ(cli("list", &err), 2);
  EXPECT_NE(err.find("attack.yaml:4:10: timeout must be a number of seconds within 0..600"), std::string::npos) << err;
  scenario("steps:\n  - {op: stat, path: ., timeout: inf}\n");
  EXPECT_EQ(cli("list"), 2);
  scenario(
      "params:\n  a: [1,2,3,4,5,6,7,8,9,10]\n  b: [1,2,3,4,5,6,7,8,9,10]\n  c: [1,2,3,4,5,6,7,8,9,10]\n"
      "  d: [1,2,3,4,5,6,7,8,9,10]\nsteps:\n  - {op: stat, path: .}\n");
  EXPECT_EQ(cli("list", &err), 2);
  EXPECT_NE(err.find("params make more than 1000 combinations"), std::string::npos) << err;
}

}  // namespace

// A scenario's `mount: [dev]` or `[suid]` would let its device nodes and setuid files act
// on the host: the test is skipped, saying why, unless the user passes --allow-dev-suid.
TEST_F(AttackTest, DevAndSuidMountsNeedTheUsersFlag) {
  for (const char* option : {"dev", "suid"}) {
    scenario(fmt::format("mount: [{}]\nsteps:\n  - {{op: stat, path: .}}\n", option));
    fs::path json_file = work_ / "results.json";
    auto verdict = [&](const std::string& extra) {
      std::string err;
      EXPECT_EQ(cli(fmt::format("run --fs memfs --json {} {}", json_file.string(), extra), &err), 0) << err;
      auto results = nlohmann::json::parse(read_text(json_file));
      return results["tests"].at(0);
    };
    auto refused = verdict("");
    EXPECT_EQ(refused["verdict"], "SKIP") << option;
    EXPECT_EQ(refused["reason"], fmt::format("mount option '{}' needs --allow-dev-suid", option));
    EXPECT_EQ(verdict("--allow-dev-suid")["verdict"], "PASS") << option;
  }
}
