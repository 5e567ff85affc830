// The fuzzer on targets that stamp times from the kernel's coarse clock (docs/fuzzing.md,
// "Times"): a tmpfs against the tmpfs oracle and memfs -o coarse_clock report nothing, and
// memfs variants with a times bug are still caught on that clock, their scenarios failing on
// the variant and passing on tmpfs and on memfs. Label stress: each test fuzzes for seconds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fusepp/testing.hpp>
#include <memfs/memfs.hpp>
#include <memfs/variants.hpp>
#include <string>

#include "fusecheck/fuzz.hpp"
#include "replay_support.hpp"

namespace {

using fusecheck::fuzz::check_against_tmpfs;
using fusecheck::fuzz::Options;
using fusecheck::fuzz::ScopedTmpfs;
using fusecheck::fuzz::TargetClock;
using fuzz_test_support::replay_on_directory;

const std::set<std::string> kMountOptions = {"default_permissions", "allow_other"};

Options quiet_options(const std::string& target, uint64_t seed, int runs) {
  Options options;
  options.seed = seed;
  options.runs = runs;
  options.target_name = target;
  options.print_report = false;
  options.scenario_out =
      std::filesystem::temp_directory_path() / ("fuzz-clock-" + target + "-" + std::to_string(::getpid()) + ".yaml");
  return options;
}

memfs::Options coarse_clock() {
  memfs::Options options;
  options.coarse_clock = true;
  return options;
}

class TmpfsTarget : public testing::TestWithParam<uint64_t> {};

// tmpfs is its own reference: any counterexample would be a false one.
TEST_P(TmpfsTarget, AgreesWithTheTmpfsOracle) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  ScopedTmpfs target;
  const Options options = quiet_options("tmpfs", GetParam(), 300);
  auto result = check_against_tmpfs(target.path(), options);
  EXPECT_TRUE(result.passed) << result.first_difference << "\n" << result.scenario_yaml;
  EXPECT_EQ(result.target_clock, TargetClock::coarse);
  EXPECT_TRUE(result.clock_detected);
  std::filesystem::remove(options.scenario_out);
}

INSTANTIATE_TEST_SUITE_P(Seeds, TmpfsTarget, testing::Range<uint64_t>(1, 9));

TEST(CoarseClockMemfs, AgreesWithTmpfs) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  memfs::MemFs filesystem(coarse_clock());
  fusepp::testing::ScopedMount mount(filesystem, kMountOptions);
  const Options options = quiet_options("coarse-memfs", 1, 500);
  auto result = check_against_tmpfs(mount.path(), options);
  EXPECT_TRUE(result.passed) << result.first_difference << "\n" << result.scenario_yaml;
  EXPECT_EQ(result.target_clock, TargetClock::coarse);
  std::filesystem::remove(options.scenario_out);
}

class CoarseClockTimesBug : public testing::TestWithParam<std::string> {};

// The coarse rule skips the comparisons a tick leaves open, not the bug: the variant stamps
// from the coarse clock and misses one time update.
TEST_P(CoarseClockTimesBug, IsCaughtShrunkAndReplayable) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string name = GetParam();
  auto filesystem = memfs::variants::make(name, coarse_clock());
  ASSERT_TRUE(filesystem);
  fusepp::testing::ScopedMount mount(*filesystem, kMountOptions);
  const Options options = quiet_options(name, 1, 1000);
  auto result = check_against_tmpfs(mount.path(), options);
  std::filesystem::remove(options.scenario_out);
  std::cout << name << " on a coarse clock: caught at run " << result.runs_passed + 1 << "\n";
  EXPECT_EQ(result.target_clock, TargetClock::coarse);
  ASSERT_FALSE(result.passed) << name << " went unnoticed on a coarse clock";
  EXPECT_LE(result.scenario_operations, 8u) << result.scenario_yaml;
  EXPECT_EQ(replay_on_directory(result.scenario_yaml, mount.path()), fusecheck::Verdict::fail) << result.scenario_yaml;
  ScopedTmpfs tmpfs;
  EXPECT_EQ(replay_on_directory(result.scenario_yaml, tmpfs.path()), fusecheck::Verdict::pass) << result.scenario_yaml;
  memfs::MemFs reference(coarse_clock());
  fusepp::testing::ScopedMount reference_mount(reference, kMountOptions);
  EXPECT_EQ(replay_on_directory(result.scenario_yaml, reference_mount.path()), fusecheck::Verdict::pass)
      << result.scenario_yaml;
}

INSTANTIATE_TEST_SUITE_P(Variants, CoarseClockTimesBug,
                         testing::Values("chmod-keeps-ctime", "truncate-keeps-mtime", "unlink-keeps-parent-mtime",
                                         "rename-keeps-ctime", "link-keeps-ctime"),
                         fuzz_test_support::variant_test_name);

}  // namespace
