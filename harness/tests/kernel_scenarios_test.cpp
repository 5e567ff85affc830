// The kernel scenarios (scenarios/kernel/) prove they can fail: every one PASSes on memfs and
// FAILs when run with its own must_fail_with (`fusecheck run --with-breaker`); and the lookup
// balance check after each of them catches memfs's variant that forgets READDIRPLUS references.
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

}  // namespace
