// Sharding one run over several CI runners: `--shard K/N`, or the Bazel (TEST_TOTAL_SHARDS,
// TEST_SHARD_INDEX) and GoogleTest (GTEST_TOTAL_SHARDS, GTEST_SHARD_INDEX) variables. The
// split is deterministic, covers every test exactly once, and keeps a scenario file's tests
// (its params variants) together on one shard.
#pragma once

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

// The tests of shard `shard`, in their original order. Files are dealt out largest first to
// the shard with the fewest tests so far (ties: the lower shard), by file name.
std::vector<Scenario> take_shard(std::vector<Scenario> tests, const ShardSpec& shard);

}  // namespace fusecheck
