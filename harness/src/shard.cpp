// Sharding (see shard.hpp).
#include "fusecheck/shard.hpp"

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <map>

#include "fusecheck/errors.hpp"

namespace fusecheck {
namespace {

int parse_count(const std::string& text, const std::string& what) {
  size_t used = 0;
  int value = 0;
  try {
    value = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    throw HarnessError(fmt::format("{}: '{}' is not a number", what, text), exit_code::usage);
  return value;
}

std::optional<ShardSpec> from_variables(const char* total_name, const char* index_name) {
  const char* total = std::getenv(total_name);
  const char* index = std::getenv(index_name);
  if (!total || !index) return std::nullopt;
  ShardSpec shard{parse_count(index, index_name) + 1, parse_count(total, total_name)};  // the variables are 0-based
  if (shard.count < 1 || shard.index < 1 || shard.index > shard.count)
    throw HarnessError(fmt::format("{}={} and {}={} name no shard", index_name, index, total_name, total),
                       exit_code::usage);
  return shard;
}

// What a test without a record is taken to cost: the median recorded test (a stable middle
// that one very slow test does not drag up), or 1 when nothing is recorded.
double median_duration(const Durations& durations) {
  if (durations.empty()) return 1;
  std::vector<double> seconds;
  for (const auto& [name, value] : durations) seconds.push_back(value);
  std::nth_element(seconds.begin(), seconds.begin() + static_cast<long>(seconds.size() / 2), seconds.end());
  return seconds[seconds.size() / 2];
}

}  // namespace

ShardSpec parse_shard(const std::string& text) {
  size_t slash = text.find('/');
  if (slash == std::string::npos) throw HarnessError(fmt::format("--shard {}: expected K/N", text), exit_code::usage);
  ShardSpec shard{parse_count(text.substr(0, slash), "--shard"), parse_count(text.substr(slash + 1), "--shard")};
  if (shard.count < 1 || shard.index < 1 || shard.index > shard.count)
    throw HarnessError(fmt::format("--shard {}: K must be from 1 to N", text), exit_code::usage);
  return shard;
}

std::optional<ShardSpec> shard_from_environment() {
  auto shard = from_variables("TEST_TOTAL_SHARDS", "TEST_SHARD_INDEX");
  if (!shard) shard = from_variables("GTEST_TOTAL_SHARDS", "GTEST_SHARD_INDEX");
  if (const char* status = std::getenv("TEST_SHARD_STATUS_FILE"); shard && status && *status)
    std::ofstream(status, std::ios::app);
  return shard;
}

std::vector<Scenario> take_shard(std::vector<Scenario> tests, const ShardSpec& shard, const Durations& durations) {
  if (shard.count <= 1) return tests;
  double estimate = median_duration(durations);
  std::map<std::string, double> per_file;  // file -> its tests' weight, ordered by file
  for (const auto& test : tests) {
    auto recorded = durations.find(test.name);
    per_file[test.base_name] += recorded != durations.end() ? recorded->second : estimate;
  }
  std::vector<std::pair<std::string, double>> files(per_file.begin(), per_file.end());
  std::stable_sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<double> load(static_cast<size_t>(shard.count), 0);
  std::map<std::string, int> owner;
  for (const auto& [file, weight] : files) {
    auto lightest = std::min_element(load.begin(), load.end()) - load.begin();
    owner[file] = static_cast<int>(lightest) + 1;
    load[static_cast<size_t>(lightest)] += weight;
  }
  std::erase_if(tests, [&](const Scenario& test) { return owner[test.base_name] != shard.index; });
  return tests;
}

}  // namespace fusecheck
