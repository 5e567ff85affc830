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

// A difference between the target and tmpfs to tolerate (`fusecheck fuzz --known FILE`): the
// normalised result field `field` ("result" for the whole result) of calls to `op` ("*" for
// every op), optionally only where tmpfs's result has file type `type`.
struct KnownDifference {
  std::string op = "*";
  std::string field;
  std::string type;  // empty: any
  std::string reason;
  std::string where;  // FILE:LINE:COL of the entry
};

// How the target stamps times, which decides when its "same" time counts (docs/fuzzing.md,
// "Times"): `exact` (every update a new value: memfs's CLOCK_REALTIME), `coarse` (the kernel's
// coarse clock, as tmpfs, ext4 and filesystems passing their times through: an update within a
// tick leaves a time as it was), or `detect` at start with a probe in the target.
enum class TargetClock { detect, exact, coarse };
const char* clock_name(TargetClock clock);  // "detect", "exact", "coarse"

// Reads a known-differences file (docs/fuzzing.md); throws FileError naming FILE:LINE:COL.
std::vector<KnownDifference> load_known_differences(const std::string& path);

struct Options {
  int runs = 1000;                     // sequences that must pass (about 15 s on memfs)
  int max_steps = 45;                  // rapidcheck's size: sequences grow up to about this many operations
  uint64_t seed = 0;                   // 0: pick one (the one used is in Result::seed)
  std::filesystem::path scenario_out;  // counterexample file; empty: ./fusecheck-fuzz-SEED.yaml
  std::string target_name = "target";  // how the scenario's title names the filesystem
  std::string actor_executable;        // empty: fusecheck-actor beside the running executable, else on $PATH
  double step_timeout = deadline::seconds(deadline::fuzz_step);  // per system call, before the target counts as hung
  bool print_report = true;                                      // rapidcheck's report and the scenario path to stderr
  const std::atomic<bool>* stop = nullptr;                       // set (e.g. on SIGINT): remaining runs do nothing
  bool compare_blocks = true;          // st_blocks of regular files: the target allocates whole pages as tmpfs does
  bool compare_statfs = true;          // statvfs deltas: nothing but the fuzzer changes the target's counters
  std::vector<KnownDifference> known;  // differences to look past
  size_t name_max = 255;  // the longest name the target takes (NAME_MAX); longer names are not tried below 255
  TargetClock target_clock = TargetClock::detect;  // how the target stamps times
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
  size_t scenario_operations = 0;           // fuzzer operations those steps make up
  // The first disagreement seen, before shrinking: the call and both results. Shrinking
  // replays on the same target, so a target that kept state between runs may shrink to a
  // sequence that differs elsewhere; this line still names where it first went wrong.
  std::string first_difference;
  TargetClock target_clock = TargetClock::exact;  // the clock the target's times were compared under
  bool clock_detected = false;                    // found by the probe, not given in Options
  double seconds = 0;                             // wall time of the whole check
  std::vector<std::string> notes;                 // what limited the run (e.g. root only)
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
