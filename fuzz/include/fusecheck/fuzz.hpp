// fusecheck-fuzz: rapidcheck state-machine fuzzing of a mounted filesystem against Linux tmpfs
// (differential testing). A counterexample is shrunk, printed with its seed and written as a
// format-1 scenario file that `fusecheck replay` runs on any target. See docs/fuzzing.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fusecheck/deadlines.hpp"

namespace fusecheck::fuzz {

struct Options {
  int runs = 100;                      // sequences that must pass
  int max_steps = 30;                  // rapidcheck's size: sequences grow up to about this many operations
  uint64_t seed = 0;                   // 0: pick one (the one used is in Result::seed)
  std::filesystem::path scenario_out;  // counterexample file; empty: ./fusecheck-fuzz-SEED.yaml
  std::string target_name = "target";  // how the scenario's title names the filesystem
  std::string actor_executable;        // empty: fusecheck-actor beside the running executable, else on $PATH
  double step_timeout = deadline::seconds(deadline::fuzz_step);  // per system call, before the target counts as hung
  bool print_report = true;                                      // rapidcheck's report and the scenario path to stderr
  const std::atomic<bool>* stop = nullptr;                       // set (e.g. on SIGINT): remaining runs do nothing
};

struct Result {
  bool passed = false;
  bool interrupted = false;  // options.stop was set: no verdict, no scenario
  uint64_t seed = 0;
  int runs_passed = 0;
  size_t calls_compared = 0;                // system calls whose results agreed, over passing runs
  std::string report;                       // rapidcheck's message (seed, shrunk sequence)
  std::vector<std::string> counterexample;  // the shrunk operations, one per line
  std::string scenario_yaml;                // empty when passed
  std::filesystem::path scenario_path;      // where scenario_yaml was written
  size_t scenario_steps = 0;                // steps in the scenario's `steps` list
};

// Runs opts.runs random operation sequences in fresh directories under `mountpoint` and on a
// tmpfs of its own (mounted and always unmounted here; needs root), comparing normalised
// results step by step. Throws HarnessError (a std::runtime_error) when it cannot run at
// all (no tmpfs, no actor executable, mountpoint unusable).
Result check_against_tmpfs(const std::filesystem::path& mountpoint, const Options& options = {});

// A tmpfs on a fresh temporary directory, unmounted and removed on destruction: the oracle,
// and the place where tests replay generated scenarios.
class ScopedTmpfs {
 public:
  ScopedTmpfs();  // throws HarnessError (not root, no tmpfs)
  ~ScopedTmpfs();
  ScopedTmpfs(const ScopedTmpfs&) = delete;
  ScopedTmpfs& operator=(const ScopedTmpfs&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace fusecheck::fuzz
