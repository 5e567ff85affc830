// The `fusecheck fuzz` subcommand, kept in the fuzz library so that tools/fusecheck.cpp only
// registers it and calls it: options --fs, --seed, --runs, --max-steps, --out, --known,
// --blocks, --exclusive, --all-cpus; exit codes
// 0 (no counterexample), 1 (counterexample written), 2 (usage), 3 (broken), 77 (cannot run),
// 130 (interrupted).
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdint>
#include <string>

namespace fusecheck::fuzz {

struct CommandOptions {
  std::string fs = "memfs";
  uint64_t seed = 0;
  int runs = 1000;
  int max_steps = 45;
  size_t name_max = 255;  // the target's NAME_MAX
  std::string out;
  std::string known;            // known-differences file
  std::string blocks = "auto";  // tmpfs | ignore | auto (tmpfs for memfs, else ignore)
  std::string clock = "auto";   // exact | coarse | auto (probed in the target at start)
  bool exclusive = false;       // dir: targets: nothing else changes their statfs counters
  bool all_cpus = false;        // do not keep the run on the CPU it starts on
};

// Adds `fuzz` to the app; the returned subcommand is parsed() when it was chosen.
CLI::App* add_fuzz_command(CLI::App& app, CommandOptions& options);

// Mounts the target, fuzzes it against tmpfs and reports; returns the exit code (130 when
// `stop` was set meanwhile, e.g. by the CLI's SIGINT handler).
int run_fuzz_command(const CommandOptions& options, const std::atomic<bool>* stop = nullptr);

}  // namespace fusecheck::fuzz
