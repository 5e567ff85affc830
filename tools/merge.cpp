// `fusecheck merge` (see merge.hpp): reads the shards' JSON files, checks they make one
// whole run, prints the problems and the summary, and writes the joined JSON and JUnit XML.
#include "merge.hpp"

#include <fmt/format.h>
#include <iostream>

#include "fusecheck/merge.hpp"
#include "fusecheck/report.hpp"
#include "fusecheck/text.hpp"

namespace fusecheck::tools {

CLI::App* add_merge_command(CLI::App& app, MergeOptions& options) {
  auto* merge = app.add_subcommand(
      "merge", "join the JSON results of a run's shards (run --shard K/N --json FILE) into one report");
  merge->add_option("FILES", options.inputs, "JSON results files, one per shard")->required()->check(CLI::ExistingFile);
  merge->add_option("--json", options.json, "write the joined JSON results here");
  merge->add_option("--junit-xml", options.junit, "write the joined JUnit XML here");
  merge->add_flag("-q,--quiet", options.quiet, "print only the summary");
  return merge;
}

int run_merge_command(const MergeOptions& options) {
  std::vector<ResultsFile> files;
  for (const auto& input : options.inputs) files.push_back(read_results_file(input));
  MergedResults merged = merge_results(std::move(files));
  ReporterList reporters;  // opened before anything is printed: a bad path is exit 2
  if (!options.json.empty()) reporters.add(std::make_unique<JsonReporter>(options.json));
  if (!options.junit.empty()) reporters.add(std::make_unique<JunitReporter>(options.junit));
  reporters.start(RunHeader{merged.fs, merged.results.size(), "", ""});
  for (const auto& result : merged.results) {
    if (options.quiet || !is_problem(result.verdict)) continue;
    std::cout << fmt::format("{:<6} {}\n{}", verdict_name(result.verdict), printable(result.name, false),
                             describe_result(result, ""));
  }
  std::cout << fmt::format("{} (merged from {} files on {}; the longest took {:.2f} s)\n",
                           merged.summary.counts.summary_line(), options.inputs.size(), printable(merged.fs, false),
                           merged.summary.seconds);
  reporters.finish(merged.results, merged.summary);
  return merged.summary.counts.exit_code();
}

}  // namespace fusecheck::tools
