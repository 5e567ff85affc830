// The C++ user story of docs/fuzzing.md: a gtest mounts an Operations object in-process with
// fusepp::testing::ScopedMount and property-tests it against tmpfs in a few lines. memfs must
// pass; a deliberately wrong filesystem must be caught, shrunk, and its scenario must replay
// to FAIL on it and to PASS on tmpfs.
#include <gtest/gtest.h>

#include <cstdio>
#include <fusepp/testing.hpp>
#include <memfs/memfs.hpp>
#include <memfs/variants.hpp>
#include <string>

#include "fusecheck/fuzz.hpp"
#include "fusecheck/runner.hpp"
#include "fusecheck/scenario.hpp"
#include "fusecheck/target.hpp"
#include "replay_support.hpp"

namespace {

using fusecheck::fuzz::check_against_tmpfs;
using fusecheck::fuzz::Options;

using fuzz_test_support::replay_on_directory;

// How long a property runs.
struct Budget {
  int runs;
  int max_steps;
  uint64_t seed;
};

// Options for one target, its counterexample written to a scratch file named after it.
Options fuzz_options(const std::string& target, Budget budget) {
  Options options;
  options.runs = budget.runs;
  options.max_steps = budget.max_steps;
  options.seed = budget.seed;
  options.target_name = target;
  options.scenario_out =
      std::filesystem::temp_directory_path() / (target + "-counterexample-" + std::to_string(::getpid()) + ".yaml");
  return options;
}

TEST(FuzzInProcess, MemfsAgreesWithTmpfs) {
  memfs::MemFs filesystem;
  fusepp::testing::ScopedMount mount(filesystem, {"default_permissions", "allow_other"});

  Options options = fuzz_options("memfs", {.runs = 150, .max_steps = 40, .seed = 20261125});
  auto result = check_against_tmpfs(mount.path(), options);

  EXPECT_TRUE(result.passed) << result.report << "\n" << result.scenario_yaml;
  EXPECT_EQ(result.runs_passed, options.runs);
  // Sequences really ran: on average several compared calls per run, not empty cases.
  EXPECT_GT(result.calls_compared, static_cast<size_t>(options.runs) * 5);
  std::filesystem::remove(options.scenario_out);
}

TEST(FuzzInProcess, BuggyRenameIsCaughtShrunkAndReplayable) {
  // memfs with one bug a filesystem author could plausibly write: RENAME_EXCHANGE is treated
  // as a plain rename, so the destination is replaced instead of swapped with the source.
  auto filesystem = memfs::variants::make("exchange-as-move");
  fusepp::testing::ScopedMount mount(*filesystem, {"default_permissions", "allow_other"});

  Options options = fuzz_options("exchange-as-move", {.runs = 300, .max_steps = 30, .seed = 2});
  auto result = check_against_tmpfs(mount.path(), options);

  ASSERT_FALSE(result.passed) << "the missing RENAME_EXCHANGE went unnoticed";
  ASSERT_FALSE(result.scenario_yaml.empty());
  std::cerr << result.scenario_yaml;
  // Shrunk: create two names, exchange them (each call followed by lstat of what it
  // changed). One more operation is tolerated, a long unshrunk sequence is not.
  EXPECT_LE(result.scenario_operations, 4u);
  EXPECT_NE(result.scenario_yaml.find("RENAME_EXCHANGE"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(result.scenario_path));

  fusecheck::fuzz::ScopedTmpfs tmpfs;
  EXPECT_EQ(replay_on_directory(result.scenario_yaml, tmpfs.path()), fusecheck::Verdict::pass);
  EXPECT_EQ(replay_on_directory(result.scenario_yaml, mount.path()), fusecheck::Verdict::fail);
  std::filesystem::remove(result.scenario_path);
}

}  // namespace
