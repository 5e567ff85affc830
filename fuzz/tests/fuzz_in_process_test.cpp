// The C++ user story of docs/fuzzing.md: a gtest mounts an Operations object in-process with
// fusepp::testing::ScopedMount and property-tests it against tmpfs in a few lines. memfs must
// pass; a deliberately wrong filesystem must be caught, shrunk, and its scenario must replay
// to FAIL on it and to PASS on tmpfs.
#include <gtest/gtest.h>

#include <cstdio>
#include <fusepp/testing.hpp>
#include <memfs/memfs.hpp>
#include <string>

#include "fusecheck/fuzz.hpp"
#include "fusecheck/runner.hpp"
#include "fusecheck/scenario.hpp"
#include "fusecheck/target.hpp"
#include "replay_support.hpp"

namespace {

using fusecheck::fuzz::check_against_tmpfs;
using fusecheck::fuzz::Options;

// memfs with one bug a filesystem author could plausibly write: RENAME_EXCHANGE is treated as
// a plain rename, so the destination is replaced instead of swapped with the source.
class ExchangeIgnoringFs : public memfs::MemFs {
 public:
  fusepp::Reply<void> rename(fusepp::InodeT parent_old, std::string_view name_old, fusepp::InodeT parent_new,
                             std::string_view name_new, fusepp::FlagT flags,
                             const fusepp::RequestContext& ctx) override {
    fusepp::FlagT without_exchange{flags.value & ~static_cast<int32_t>(RENAME_EXCHANGE)};
    co_return co_await memfs::MemFs::rename(parent_old, name_old, parent_new, name_new, without_exchange, ctx);
  }
};

using fuzz_test_support::replay_on_directory;

std::filesystem::path scratch_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()) + ".yaml");
}

TEST(FuzzInProcess, MemfsAgreesWithTmpfs) {
  memfs::MemFs filesystem;
  fusepp::testing::ScopedMount mount(filesystem, {"default_permissions", "allow_other"});

  Options options;
  options.runs = 150;
  options.max_steps = 40;
  options.seed = 20261125;
  options.target_name = "memfs";
  options.scenario_out = scratch_file("memfs-counterexample");
  auto result = check_against_tmpfs(mount.path(), options);

  EXPECT_TRUE(result.passed) << result.report << "\n" << result.scenario_yaml;
  EXPECT_EQ(result.runs_passed, options.runs);
  // Sequences really ran: on average several compared calls per run, not empty cases.
  EXPECT_GT(result.calls_compared, static_cast<size_t>(options.runs) * 5);
  std::filesystem::remove(options.scenario_out);
}

TEST(FuzzInProcess, BuggyRenameIsCaughtShrunkAndReplayable) {
  ExchangeIgnoringFs filesystem;
  fusepp::testing::ScopedMount mount(filesystem, {"default_permissions", "allow_other"});

  Options options;
  options.runs = 300;
  options.max_steps = 30;
  options.seed = 7;
  options.target_name = "exchange-ignoring memfs";
  options.scenario_out = scratch_file("exchange-counterexample");
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
