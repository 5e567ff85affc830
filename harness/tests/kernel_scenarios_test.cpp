// The kernel scenarios (scenarios/kernel/) prove they can fail: every one PASSes on memfs and
// FAILs when run with its own must_fail_with (`fusecheck run --with-breaker`); the lookup
// balance check after each of them, and at the end of a shared mount, catches memfs's variant
// that forgets READDIRPLUS references; remount runs on every target kind and fails where the
// contents do not survive; `replay --trace` lists each step's requests.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kFusecheck = FUSECHECK_BINARY;
const std::string kVariant = FUSECHECK_MEMFS_VARIANT_BINARY;
const std::string kMemfs = FUSECHECK_MEMFS_BINARY;
const std::string kRelay = FUSECHECK_RELAY_BINARY;

struct RunReport {
  int exit_code = -1;
  std::string output;
  json results;  // the JSON report's "tests"
};

// `fusecheck run` with `arguments`, its output and JSON report read back; scratch files removed.
RunReport fusecheck_run(const std::string& arguments) {
  fs::path scratch = fs::temp_directory_path() / ("kernel-scenarios-" + std::to_string(::getpid()));
  fs::create_directories(scratch);
  std::string command = kFusecheck + " run -q " + arguments + " --json " + (scratch / "out.json").string() +
                        " --results " + (scratch / "results").string() + " > " + (scratch / "output").string() +
                        " 2>&1";
  RunReport run;
  int status = std::system(command.c_str());
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream output(scratch / "output");
  run.output.assign(std::istreambuf_iterator<char>(output), {});
  std::ifstream report(scratch / "out.json");
  json doc = json::parse(report, nullptr, false);
  run.results = doc.is_object() ? doc.value("tests", json::array()) : json::array();
  fs::remove_all(scratch);
  return run;
}

// Every scenario file ran: as its own name, or as NAME@PARAMS for each of its combinations.
void expect_every_file_ran(const RunReport& run) {
  for (const auto& entry : fs::directory_iterator(fs::path(FUSECHECK_SOURCE_DIR) / "scenarios/kernel")) {
    if (entry.path().extension() != ".yaml") continue;
    std::string name = "kernel/" + entry.path().stem().string();
    bool ran = false;
    for (const auto& test : run.results) {
      std::string got = test.value("name", "");
      ran = ran || got == name || got.starts_with(name + "@");
    }
    EXPECT_TRUE(ran) << name << " did not run:\n" << run.output;
  }
}

void expect_every_verdict(const RunReport& run, const std::string& verdict) {
  expect_every_file_ran(run);
  for (const auto& test : run.results)
    EXPECT_EQ(test.value("verdict", ""), verdict) << test.value("name", "") << ": " << test.value("reason", "");
}

TEST(KernelScenarios, EveryOnePassesOnMemfs) {
  RunReport run = fusecheck_run("--fs memfs --tag kernel");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  expect_every_verdict(run, "PASS");
}

TEST(KernelScenarios, EveryOneFailsWithItsBreaker) {
  RunReport run = fusecheck_run("--fs memfs --tag kernel --with-breaker");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  expect_every_verdict(run, "FAIL");
}

// The balance check, not a step, is what sees this variant: its listing and its stats behave.
TEST(KernelScenarios, TheBalanceCheckCatchesReaddirplusUncounted) {
  const std::string filter = " --filter kernel/readdirplus-adds-one-lookup-per-entry";
  RunReport variant =
      fusecheck_run("--fs 'exec:" + kVariant + " --bug readdirplus-uncounted --control {control} {mnt}'" + filter);
  ASSERT_EQ(variant.results.size(), 1u) << variant.output;
  EXPECT_EQ(variant.results[0].value("verdict", ""), "FAIL") << variant.output;
  EXPECT_NE(variant.results[0].value("reason", "").find("lookup balance"), std::string::npos) << variant.output;
  RunReport memfs = fusecheck_run("--fs memfs" + filter);
  ASSERT_EQ(memfs.results.size(), 1u) << memfs.output;
  EXPECT_EQ(memfs.results[0].value("verdict", ""), "PASS") << memfs.output;
}

// A shared mount's balance over the whole run: the variant's uncounted READDIRPLUS entries show
// at their FORGET or at the unmount, as a result of their own; memfs's run has none.
TEST(KernelScenarios, TheBalanceAtTheEndOfASharedMountCatchesReaddirplusUncounted) {
  const std::string filter = " --filter 'readdir/lists-*' --filter 'readdir/listing-*'";
  RunReport variant =
      fusecheck_run("--fs 'exec:" + kVariant + " --bug readdirplus-uncounted --control {control} {mnt}'" + filter);
  EXPECT_EQ(variant.exit_code, 1) << variant.output;
  size_t balance_failures = 0;
  for (const auto& test : variant.results) {
    if (test.value("name", "").rfind("lookup-balance", 0) != 0) continue;
    ++balance_failures;
    EXPECT_EQ(test.value("verdict", ""), "FAIL");
    EXPECT_NE(test.value("reason", "").find("node "), std::string::npos) << test.value("reason", "");
  }
  EXPECT_GE(balance_failures, 1u) << variant.output;
  RunReport memfs = fusecheck_run("--fs memfs" + filter);
  EXPECT_EQ(memfs.exit_code, 0) << memfs.output;
  for (const auto& test : memfs.results)
    EXPECT_EQ(test.value("name", "").rfind("lookup-balance", 0), std::string::npos) << test.value("reason", "");
}

std::string verdict_of(const RunReport& run, const std::string& name) {
  for (const auto& test : run.results)
    if (test.value("name", "") == name) return test.value("verdict", "") + ": " + test.value("reason", "");
  return "no result for " + name + "; output:\n" + run.output;
}

bool fuse_overlayfs_installed() { return std::system("command -v fuse-overlayfs > /dev/null") == 0; }

// An exec: target: fuse-overlayfs behind fusecheck-relay, its layers in {src}; the script is
// removed with this object.
class RelayedOverlay {
 public:
  RelayedOverlay() {
    std::ofstream(script_) << "#!/bin/sh\nsrc=$1; mnt=$2; control=$3; shift 3\n"
                              "mkdir -p \"$src/l\" \"$src/u\" \"$src/w\"\n"
                              "exec "
                           << kRelay
                           << " \"$@\" --control \"$control\" \"$mnt\" -- fuse-overlayfs -f -o "
                              "\"lowerdir=$src/l,upperdir=$src/u,workdir=$src/w\" \"$mnt\"\n";
    fs::permissions(script_, fs::perms::owner_all);
  }
  ~RelayedOverlay() { fs::remove(script_); }
  std::string target() const { return "exec:" + script_.string() + " {src} {mnt} {control} {opts}"; }

 private:
  fs::path script_ = fs::temp_directory_path() / ("relay-overlay-" + std::to_string(::getpid()) + ".sh");
};

// remount on every target kind: the names, data and attributes survive where the target keeps
// them, and the scenario fails on a daemon that loses them (memfs run as a plain exec: command,
// without the control channel that lets it stay through the unmount).
TEST(KernelScenarios, RemountKeepsContentsOnEveryTargetKind) {
  const std::string name = "data/remount-keeps-names-data-and-attributes";
  const std::string filter = " --filter " + name;
  EXPECT_EQ(verdict_of(fusecheck_run("--fs memfs" + filter), name).substr(0, 5), "PASS:");
  // A fusepp daemon with a control channel: a variant whose bug this scenario does not touch.
  EXPECT_EQ(verdict_of(fusecheck_run("--fs 'exec:" + kVariant + " --bug chmod-keeps-ctime --control {control} {mnt}'" +
                                     filter),
                       name)
                .substr(0, 5),
            "PASS:");
  fs::path tmpfs = fs::temp_directory_path() / ("remount-tmpfs-" + std::to_string(::getpid()));
  fs::create_directories(tmpfs);
  ASSERT_EQ(std::system(("mount -t tmpfs none " + tmpfs.string()).c_str()), 0);
  std::string on_tmpfs = verdict_of(fusecheck_run("--fs dir:" + tmpfs.string() + filter), name);
  std::system(("umount " + tmpfs.string()).c_str());
  fs::remove(tmpfs);
  EXPECT_EQ(on_tmpfs.substr(0, 5), "PASS:") << on_tmpfs;
  std::string lost = verdict_of(fusecheck_run("--fs 'exec:" + kMemfs + " {mnt}'" + filter), name);
  EXPECT_EQ(lost.substr(0, 5), "FAIL:") << lost;
  if (!fuse_overlayfs_installed()) GTEST_SKIP() << "fuse-overlayfs is not installed";
  // fuse-overlayfs behind the relay, its layers in {src}: started again by the remount.
  RelayedOverlay overlay;
  std::string relayed = verdict_of(fusecheck_run("--fs '" + overlay.target() + "'" + filter), name);
  EXPECT_EQ(relayed.substr(0, 5), "PASS:") << relayed;
}

// The relay applies a READDIRPLUS rule's {ino: 0} as fusepp does (and gives the daemon back the
// references it counted): the scenario, without its memfs-only mount options, passes on
// fuse-overlayfs behind the relay, and fails there with its breaker set first.
TEST(KernelScenarios, ReaddirplusInoZeroWorksBehindTheRelay) {
  if (!fuse_overlayfs_installed()) GTEST_SKIP() << "fuse-overlayfs is not installed";
  fs::path scratch = fs::temp_directory_path() / ("relay-ino-0-" + std::to_string(::getpid()));
  fs::create_directories(scratch);
  std::ifstream original(fs::path(FUSECHECK_SOURCE_DIR) /
                         "scenarios/kernel/readdirplus-entry-with-ino-0-takes-no-lookup.yaml");
  std::string scenario, breaker;
  for (std::string line; std::getline(original, line);) {
    if (line.starts_with("mount:"))
      continue;  // readdirplus=on, timeouts: memfs's options, libfuse's mount refuses them
    scenario += line + "\n";
    breaker += line + "\n";
    if (line == "setup:") breaker += "  - {op: fault, rule: {op: READDIRPLUS, delay_ms: 1}}\n";  // its must_fail_with
  }
  std::ofstream(scratch / "ino-0.yaml") << scenario;
  std::ofstream(scratch / "breaker.yaml") << breaker;
  RelayedOverlay overlay;
  auto replay = [&](const std::string& file) {
    std::string command = kFusecheck + " replay -q --fs '" + overlay.target() + "' " + (scratch / file).string() +
                          " --results " + (scratch / "results").string() + " > " + (scratch / "out").string() + " 2>&1";
    int status = std::system(command.c_str());
    std::ifstream out(scratch / "out");
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                          std::string(std::istreambuf_iterator<char>(out), {}));
  };
  auto [passed, pass_output] = replay("ino-0.yaml");
  EXPECT_EQ(passed, 0) << pass_output;
  auto [failed, fail_output] = replay("breaker.yaml");
  EXPECT_EQ(failed, 1) << fail_output;
  fs::remove_all(scratch);
}

// replay --trace: under each step, the requests it caused; a target without a trace says so.
TEST(KernelScenarios, ReplayTraceListsEachStepsRequests) {
  fs::path scratch = fs::temp_directory_path() / ("replay-trace-" + std::to_string(::getpid()));
  fs::create_directories(scratch);
  {
    std::ofstream(scratch / "s.yaml") << "format: 1\ntitle: t\nrefs: [r]\nsetup:\n  - {op: create_file, path: f}\n"
                                         "steps:\n  - {op: stat, path: g, expect: ENOENT}\n"
                                         "  - {op: read_file, path: f}\n";
  }
  auto replay = [&](const std::string& target) {
    std::string command = kFusecheck + " replay --trace --fs " + target + " " + (scratch / "s.yaml").string() +
                          " --results " + (scratch / "results").string() + " > " + (scratch / "out").string() + " 2>&1";
    EXPECT_EQ(std::system(command.c_str()), 0);
    std::ifstream in(scratch / "out");
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  std::string traced = replay("memfs");
  size_t stat_step = traced.find("steps step 1 (stat g)");
  size_t read_step = traced.find("steps step 2 (read_file f)");
  ASSERT_NE(stat_step, std::string::npos) << traced;
  ASSERT_NE(read_step, std::string::npos) << traced;
  std::string under_stat = traced.substr(stat_step, read_step - stat_step);
  EXPECT_NE(under_stat.find("LOOKUP"), std::string::npos) << traced;
  EXPECT_NE(under_stat.find("name=g error=ENOENT: failed"), std::string::npos) << traced;
  std::string under_read = traced.substr(read_step);
  for (const char* op : {"OPEN", "RELEASE"})
    EXPECT_NE(under_read.find(std::string(" ") + op + " "), std::string::npos) << op << " in " << traced;
  EXPECT_EQ(under_read.find("name=g"), std::string::npos) << traced;
  std::string untraced = replay("dir:" + scratch.string());
  EXPECT_NE(untraced.find("no request trace on this target: "), std::string::npos) << untraced;
  EXPECT_EQ(untraced.find("request node"), std::string::npos) << untraced;
  fs::remove_all(scratch);
}

}  // namespace
