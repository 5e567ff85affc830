// Sharding one run over several CI runners: `--shard K/N`, or the Bazel (TEST_TOTAL_SHARDS,
// TEST_SHARD_INDEX) and GoogleTest (GTEST_TOTAL_SHARDS, GTEST_SHARD_INDEX) variables. The
// split is deterministic, covers every test exactly once, keeps a scenario file's tests (its
// params variants) together on one shard, and balances by recorded durations when given.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fusecheck/scenario.hpp"

namespace fusecheck {

struct ShardSpec {
  int index = 1;  // 1-based, as in --shard K/N
  int count = 1;
};

// "K/N" with 1 <= K <= N; throws HarnessError (exit_code::usage) otherwise.
ShardSpec parse_shard(const std::string& text);

// The shard the environment asks for (Bazel's, else GoogleTest's variables), if any. Touches
// TEST_SHARD_STATUS_FILE when set, which tells Bazel the runner understands sharding.
// Throws HarnessError (usage) for values that make no sense.
std::optional<ShardSpec> shard_from_environment();

// Seconds per test name, from a previous run's JSON results (--shard-durations).
using Durations = std::map<std::string, double>;

// The tests of shard `shard`, in their original order. Files are dealt out heaviest first to
// the lightest shard so far (ties: the lower shard, then file name). A test weighs its
// recorded seconds; one absent from `durations` weighs the median of those recorded (1 when
// nothing is recorded, which balances by test count). Every shard must get the same
// `durations` for the shards to fit together.
std::vector<Scenario> take_shard(std::vector<Scenario> tests, const ShardSpec& shard, const Durations& durations = {});

}  // namespace fusecheck
