// `fusecheck merge`: the command that joins the JSON results of a run's shards into one
// report (JSON and JUnit XML) with one verdict and exit code (harness: merge.hpp).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace fusecheck::tools {

struct MergeOptions {
  std::vector<std::string> inputs;
  std::string json, junit;
  bool quiet = false;
};

CLI::App* add_merge_command(CLI::App& app, MergeOptions& options);

// Exit code as for `run` on the merged results; 2 when the files do not fit together.
int run_merge_command(const MergeOptions& options);

}  // namespace fusecheck::tools
