// Reading JSON results back (the files `run --json` writes) and joining the results of the
// shards of one run into one report: `fusecheck merge`, and the recorded durations that
// `--shard-durations` balances shards by.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fusecheck/report.hpp"
#include "fusecheck/shard.hpp"

namespace fusecheck {

// One JSON results file. Its results point into `scenarios`, which hold only what the
// reports show of a scenario (title, file, name).
struct ResultsFile {
  std::string path;
  std::string fs;
  std::optional<ShardSpec> shard;  // the run's --shard, if it had one
  double seconds = 0;
  std::vector<std::shared_ptr<const Scenario>> scenarios;
  std::vector<TestResult> results;
};

// Throws FileError (exit 2) naming the file for anything that is not such a file.
ResultsFile read_results_file(const std::string& path);

// Seconds per test name (the mean over repetitions) from a JSON results file.
Durations recorded_durations(const std::string& path);

// The results of several files as one run. Throws HarnessError (usage) when they do not fit
// together: different targets, a test in two files, or shards of a split missing, repeated
// or from different splits. Their seconds is the longest file's (shards run side by side).
struct MergedResults {
  std::string fs;
  std::vector<std::shared_ptr<const Scenario>> scenarios;
  std::vector<TestResult> results;
  RunSummary summary;
};
MergedResults merge_results(std::vector<ResultsFile> files);

}  // namespace fusecheck
