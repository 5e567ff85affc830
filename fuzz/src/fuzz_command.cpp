// `fusecheck fuzz`: mounts the --fs target with the harness (as `run` does), fuzzes it against
// a private tmpfs and prints where the counterexample scenario went. memfs declares its
// st_blocks tmpfs-like; every mount made here is exclusive, so statvfs deltas are compared.
#include "fusecheck/fuzz_command.hpp"

#include <unistd.h>

#include <iostream>

#include "fusecheck/cpu_affinity.hpp"
#include "fusecheck/errors.hpp"
#include "fusecheck/exit_codes.hpp"
#include "fusecheck/fuzz.hpp"
#include "fusecheck/target.hpp"

namespace fusecheck::fuzz {

CLI::App* add_fuzz_command(CLI::App& app, CommandOptions& options) {
  auto* command = app.add_subcommand("fuzz", "random operation sequences, differential against tmpfs");
  command->add_option("--fs", options.fs, "target: memfs, exec:CMD, dir:PATH (default memfs)");
  command->add_option("--seed", options.seed, "rapidcheck seed (default: random, printed)");
  command->add_option("--runs", options.runs, "sequences that must pass (default 1000)")->check(CLI::PositiveNumber);
  command->add_option("--max-steps", options.max_steps, "longest sequences, about (default 45)")
      ->check(CLI::PositiveNumber);
  command
      ->add_option("--name-max", options.name_max,
                   "longest name the target takes (default 255); longer names are tried only at 255")
      ->check(CLI::Range(1, 255));
  command->add_option("--out", options.out, "counterexample scenario file (default ./fusecheck-fuzz-SEED.yaml)");
  command->add_option("--known", options.known, "known-differences file: differences to look past (docs/fuzzing.md)");
  command->add_option("--blocks", options.blocks, "st_blocks policy: tmpfs (compare), ignore, auto (tmpfs for memfs)")
      ->check(CLI::IsMember({"tmpfs", "ignore", "auto"}));
  command
      ->add_option("--clock", options.clock,
                   "how the target stamps times: exact, coarse (the kernel's coarse clock, as tmpfs and ext4), "
                   "auto (probed at start; default)")
      ->check(CLI::IsMember({"exact", "coarse", "auto"}));
  command->add_flag("--exclusive", options.exclusive, "dir: nothing else changes its statfs counters (compare deltas)");
  command->add_flag("--all-cpus", options.all_cpus,
                    "let the scheduler spread the run over every CPU (default: all on the CPU it starts on; "
                    "give parallel runs --all-cpus or a taskset of their own)");
  return command;
}

int run_fuzz_command(const CommandOptions& command, const std::atomic<bool>* stop) {
  if (::geteuid() != 0) {
    std::cerr << "fusecheck fuzz: needs root (it mounts a tmpfs as the oracle)\n";
    return exit_code::cannot_run;
  }
  try {
    TargetSpec spec = parse_target(command.fs, command.exclusive);
    // A run is a chain of round trips (fuzzer -> actor -> FUSE daemon -> actor -> fuzzer),
    // so the fuzzer keeps itself, and every process it starts later (the daemon of --fs memfs
    // or exec:, the actors), on the CPU it runs on (cpu_affinity.hpp): on this project's 2-CPU
    // VM the default run took 7.4-8.5 s that way against 10.3-11.3 s spread over both
    // (docs/fuzzing.md, "Speed").
    if (!command.all_cpus)
      if (auto cpus = cpus_from_current(); !cpus.empty()) keep_thread_to_cpu(cpus.front());
    // Read before mounting: a bad file is a usage error with nothing to unmount.
    auto known = command.known.empty() ? std::vector<KnownDifference>{} : load_known_differences(command.known);
    auto mount = Mount::create(spec, {});
    const Options options{
        .runs = command.runs,
        .max_steps = command.max_steps,
        .seed = command.seed,
        .scenario_out = command.out,
        .target_name = spec.text,
        .stop = stop,
        .compare_blocks = command.blocks == "tmpfs" || (command.blocks == "auto" && spec.text == "memfs"),
        .compare_statfs = spec.exclusive || spec.is_fuse(),
        .known = std::move(known),
        .name_max = command.name_max,
        .target_clock = command.clock == "exact"    ? TargetClock::exact
                        : command.clock == "coarse" ? TargetClock::coarse
                                                    : TargetClock::detect,
    };
    auto result = check_against_tmpfs(mount->root(), options);
    if (result.interrupted) return exit_code::interrupted;
    if (result.passed) {
      std::cout << "no counterexample in " << result.runs_passed << " runs (" << result.calls_compared
                << " calls compared, seed " << result.seed << ")\n";
      return exit_code::ok;
    }
    std::cout << "counterexample: " << result.scenario_path.string() << "\n";
    return exit_code::failures;
  } catch (...) {
    return exit_code_for_current_exception("fusecheck fuzz");
  }
}

}  // namespace fusecheck::fuzz
