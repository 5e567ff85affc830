// The differential state machine: each rapidcheck command runs one Operation's calls through
// the fuzzer's actors (root and two users), each working in a fresh directory on the target
// and on a private tmpfs, and fails on the first call whose normalised results differ. The
// last failing run is the shrunk counterexample, which becomes a scenario file with tmpfs's
// results as expectations.
#include "fusecheck/fuzz.hpp"

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <fusepp/cache_lock.hpp>
#include <iostream>
#include <random>
#include <rapidcheck.h>
#include <rapidcheck/state.h>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "execution.hpp"
#include "fusecheck/control_client.hpp"
#include "fusecheck/data_dir.hpp"
#include "inode_use.hpp"
#include "normalise.hpp"
#include "operation.hpp"
#include "scenario_writer.hpp"

namespace fusecheck::fuzz {
namespace {

// The oracle's listings held to POSIX (drop_oracle_repeats): a note. Counted per run, and
// summed over the runs that count (the passing ones and the last failing one), so replays
// made while shrinking do not count a listing again.
struct OracleLapses {
  size_t listings = 0;
  std::string first;  // the call, and the names tmpfs listed more than once
  void add(const OracleLapses& run) {
    if (run.listings == 0) return;
    if (listings == 0) first = run.first;
    listings += run.listings;
  }
};

struct Differential {
  Side& target;
  Side& oracle;
  CaseWorkdirs& workdirs;
  const Options& options;
  OracleLapses lapses;
  std::vector<RecordedStep> steps;
  std::vector<const Operation*> owners;  // the operation each step belongs to
  // Other processes' cache drops made while this case's own forget steps waited for the lock
  // or dropped: next to a drop of its own, they change nothing the case relies on.
  uint64_t drops_beside_own = 0;
  bool stopped() const { return options.stop && options.stop->load(); }
};

// Both sides' answers to a call, each normalised by its side's observer, in call order.
std::pair<Observed, Observed> observe_both(Differential& sut, const Call& made, const Answers& answers) {
  Observed expected = sut.oracle.observer.observe(made.request, answers.oracle.body,
                                                  static_cast<int>(answers.oracle.status), answers.oracle.detail);
  if (answers.target.status == ActorProcess::Reply::Status::ok)
    accept_reused_number(sut.oracle.observer, expected, sut.target.observer, answers.target.body,
                         [&](uint64_t ino) { return inode_in_use(sut.oracle.workdir, ino); });
  return {std::move(expected),
          sut.target.observer.observe(made.request, answers.target.body, static_cast<int>(answers.target.status),
                                      answers.target.detail)};
}

// A machine-wide call (drop_caches) is made once, by the fuzzer, and seen by both sides.
std::pair<Observed, Observed> observe_in_fuzzer(Differential& sut, const Call& made) {
  const uint64_t foreign_before = foreign_cache_drops();
  const json reply = run_in_fuzzer(made);
  sut.drops_beside_own += foreign_cache_drops() - foreign_before;
  return {sut.oracle.observer.observe(made.request, reply, 0, ""),
          sut.target.observer.observe(made.request, reply, 0, "")};
}

struct FsCommand : rc::state::Command<NameModel, Differential> {
  Operation operation;
  explicit FsCommand(const NameModel& model) : operation(Operation::generate(model)) {}

  void checkPreconditions(const NameModel& model) const override { operation.check_preconditions(model); }
  void apply(NameModel& model) const override { operation.apply(model); }
  void run(const NameModel&, Differential& sut) const override {
    if (sut.stopped()) return;  // interrupted: finish quickly, the result is discarded
    bool first = true;
    const auto calls = operation.calls();
    for (size_t at = 0; at < calls.size();) {
      if (runs_in_fuzzer(calls[at])) {
        compare(sut, calls[at], observe_in_fuzzer(sut, calls[at]), std::exchange(first, false));
        ++at;
        continue;
      }
      const size_t count = batch_length(calls, at);  // both sides make a batch of calls at once
      if (reads_free_counts(calls, at, count)) sut.workdirs.finish();
      const auto answers = run_batch(sut.oracle, sut.target, calls, at, count, sut.options.step_timeout);
      for (size_t i = 0; i < count; ++i)
        compare(sut, calls[at + i], observe_both(sut, calls[at + i], answers[i]), std::exchange(first, false));
      at += count;
    }
  }
  // Records the call and fails the case if the normalised answers differ.
  void compare(Differential& sut, const Call& made, std::pair<Observed, Observed> observed, bool first) const {
    auto& [expected, got] = observed;
    hold_oracle_to_posix(sut, made, expected.result);
    drop_unknown_times(expected.result, got.result);
    json expected_result = expected.result, got_result = got.result;
    // What a coarse-clock target could not tell is not compared either; tmpfs's result keeps it
    // for the scenario, whose pauses make it hold on replay.
    drop_unknown_times(got_result, expected_result);
    forgive_known(sut.options.known, made.request, expected_result, got_result);
    sut.steps.push_back({made, std::move(expected), std::move(got), first});
    sut.owners.push_back(&operation);
    if (expected_result != got_result)
      RC_FAIL(scenario_step(made) + ": tmpfs gave " + expected_result.dump() + ", the target " + got_result.dump());
  }
  // A rule tmpfs breaks is its bug, not the target's: the target is held to POSIX's answer.
  static void hold_oracle_to_posix(Differential& sut, const Call& made, json& oracle_result) {
    const auto repeated = drop_oracle_repeats(oracle_result);
    if (repeated.empty()) return;
    if (sut.lapses.listings++ != 0) return;
    std::string names;
    for (size_t i = 0; i < repeated.size() && i < 3; ++i) names += (i ? ", " : "") + repeated[i];
    if (repeated.size() > 3) names += " and " + std::to_string(repeated.size() - 3) + " more";
    sut.lapses.first = scenario_step(made) + " repeated " + names;
  }
  void show(std::ostream& os) const override { os << operation; }
};

// rapidcheck's default listener prints progress and, at exit, an RC_PARAMS reproduce string
// that only works for rc::check; our seed and options are the reproduction, so stay quiet.
struct QuietListener : rc::detail::TestListener {
  void onTestCaseFinished(const rc::detail::CaseDescription&) override {}
  void onShrinkTried(const rc::detail::CaseDescription&, bool) override {}
  void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}
};

// How often a case that failed while other processes dropped the kernel's caches runs: the last
// run's failure is taken as it is.
constexpr int kRunsOfAFailingCase = 3;

uint64_t pick_seed(uint64_t requested) {
  if (requested != 0) return requested;
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32 | device()) & 0x7fffffffffffffffULL;
}

// The operations of a failing run, each once, in order, from its recorded calls.
std::vector<Operation> operations_of(const std::vector<RecordedStep>& steps,
                                     const std::vector<const Operation*>& owners) {
  std::vector<Operation> operations;
  const Operation* last = nullptr;
  for (size_t i = 0; i < steps.size(); ++i)
    if (owners[i] != last) operations.push_back(*(last = owners[i]));
  return operations;
}

// What `fusecheck fuzz` prints to stderr at the end of a run.
void print_report(const Result& result, const Options& options) {
  if (result.interrupted) {
    std::cerr << "fusecheck fuzz: interrupted (seed " << result.seed << ")\n";
    return;
  }
  std::cerr << "fusecheck fuzz: seed " << result.seed << ", " << options.runs << " runs, up to " << options.max_steps
            << " steps, " << result.seconds << " s; target clock " << clock_name(result.target_clock)
            << (result.clock_detected ? " (detected)" : " (given)") << "\n"
            << result.report << "\n";
  for (const auto& note : result.notes) std::cerr << "note: " << note << "\n";
  if (!result.first_difference.empty()) std::cerr << "first difference: " << result.first_difference << "\n";
  if (!result.scenario_path.empty())
    std::cerr << "counterexample scenario: " << result.scenario_path.string() << " (reproduce: fusecheck fuzz --seed "
              << result.seed << " --runs " << options.runs << " --max-steps " << options.max_steps << ")\n";
}

}  // namespace

const char* clock_name(TargetClock clock) {
  switch (clock) {
    case TargetClock::detect: return "detect";
    case TargetClock::exact: return "exact";
    case TargetClock::coarse: return "coarse";
  }
  return "?";
}

ScopedTmpfs::ScopedTmpfs() {
  std::string pattern = (std::filesystem::temp_directory_path() / "fusecheck-oracle-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw HarnessError("mkdtemp: " + std::string(std::strerror(errno)));
  if (::mount("tmpfs", pattern.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755") != 0) {
    int err = errno;
    ::rmdir(pattern.c_str());
    throw HarnessError("cannot mount the tmpfs oracle on " + pattern + ": " + std::strerror(err) +
                       (err == EPERM ? " (needs root)" : ""));
  }
  path_ = pattern;
}

ScopedTmpfs::~ScopedTmpfs() {
  // A process still inside it (an actor killed late) makes the plain unmount fail: detach.
  if (::umount2(path_.c_str(), 0) != 0) ::umount2(path_.c_str(), MNT_DETACH);
  ::rmdir(path_.c_str());
}

Result check_against_tmpfs(const std::filesystem::path& mountpoint, const Options& options) {
  if (!std::filesystem::is_directory(mountpoint)) throw HarnessError("not a directory: " + mountpoint.string());
  const std::string actor =
      options.actor_executable.empty() ? helper_executable("fusecheck-actor") : options.actor_executable;
  if (::access(actor.c_str(), X_OK) != 0) throw HarnessError("no actor executable at " + actor);
  const auto started = Clock::now();

  ScopedTmpfs tmpfs;  // declared before the actors: they leave it before it is unmounted
  Side target(actor, std::filesystem::absolute(mountpoint)), oracle(actor, tmpfs.path());
  Result result;
  result.seed = pick_seed(options.seed);
  result.clock_detected = options.target_clock == TargetClock::detect;
  result.target_clock = !result.clock_detected                             ? options.target_clock
                        : target_clock_ticks(target, options.step_timeout) ? TargetClock::coarse
                                                                           : TargetClock::exact;
  const CompareOptions compare{options.compare_blocks, options.compare_statfs,
                               result.target_clock == TargetClock::coarse};

  NameModel initial;
  initial.name_max = options.name_max;
  if (!other_users_reach(target, options.step_timeout)) {
    initial.actors = 1;
    result.notes.push_back("other users cannot reach " + mountpoint.string() +
                           " (a FUSE mount needs allow_other): every call runs as root");
  }

  RecordedCase last_failure;
  OracleLapses lapses, failing_run_lapses;
  auto record_failure = [&](Differential& sut) {
    // rapidcheck only moves on to a failing shrink, so the last failing run is the minimum.
    if (result.first_difference.empty() && !sut.steps.empty()) {
      const auto& step = sut.steps.back();
      result.first_difference = scenario_step(step.call) + ": tmpfs gave " + step.oracle.result.dump() +
                                ", the target " + step.target.result.dump();
    }
    last_failure = RecordedCase{operations_of(sut.steps, sut.owners), std::move(sut.steps)};
    failing_run_lapses = sut.lapses;
  };
  int case_number = 0;
  const std::string case_prefix = "fuzz-" + std::to_string(::getpid()) + "-";
  CaseWorkdirs workdirs({&target, &oracle}, options.step_timeout);
  size_t runs_again = 0;
  // One run of a case's commands in a fresh workdir; throws when it fails. Other fusecheck
  // processes do not drop the kernel's caches meanwhile (the shared cache lock), so the kernel
  // forgets only at the case's own forget steps. A process that drops without the lock may
  // still make a case fail (a bug that only forgetting shows, where no forget step was): such a
  // failure is not trusted and returns false, unless `last_try`.
  auto run_case = [&](const auto& commands, bool last_try) {
    fusepp::CacheSensitive caches_kept;
    const uint64_t foreign_before = foreign_cache_drops();
    CaseWorkdirs::Scope workdir(workdirs, case_prefix + std::to_string(++case_number));
    target.observer = SideObserver(compare);
    oracle.observer = SideObserver(CompareOptions{compare.blocks, compare.statfs, /*coarse_times=*/true});
    Differential sut{target, oracle, workdirs, options, {}, {}, {}};
    try {
      rc::state::runAll(commands, initial, sut);
      result.calls_compared += sut.steps.size();
      lapses.add(sut.lapses);
      return true;
    } catch (const rc::detail::CaseResult&) {
      const bool foreign = foreign_cache_drops() - foreign_before > sut.drops_beside_own;
      if (foreign && !last_try) {
        ++runs_again;
        return false;
      }
      record_failure(sut);
      throw;
    } catch (...) {
      record_failure(sut);
      throw;
    }
  };
  auto property = [&] {
    if (options.stop && options.stop->load()) return;
    const auto commands = *rc::state::gen::commands(initial, rc::state::gen::execOneOfWithArgs<FsCommand>());
    for (int run = 1; !run_case(commands, run == kRunsOfAFailingCase); ++run) {
    }
  };

  rc::detail::TestParams params;
  params.seed = result.seed;
  params.maxSuccess = options.runs;
  params.maxSize = options.max_steps;
  rc::detail::TestMetadata metadata;
  metadata.id = metadata.description = "fusecheck fuzz";
  QuietListener listener;
  const auto outcome = rc::detail::checkTestable(property, metadata, params, listener);

  std::ostringstream report;
  rc::detail::printResultMessage(outcome, report);
  result.report = report.str();
  rc::detail::SuccessResult success;
  rc::detail::FailureResult failure;
  if (outcome.match(success)) {
    result.passed = true;
    result.runs_passed = success.numSuccess;
  } else if (outcome.match(failure)) {
    result.runs_passed = failure.numSuccess;
    for (const auto& op : last_failure.operations) result.counterexample.push_back(op.describe());
  } else {
    throw HarnessError("rapidcheck could not run the property: " + result.report);
  }
  workdirs.finish();
  if (runs_again != 0)
    result.notes.push_back(std::to_string(runs_again) +
                           " failing runs were run again: another process dropped the kernel's caches during them "
                           "without the cache lock");
  lapses.add(failing_run_lapses);
  if (lapses.listings != 0)
    result.notes.push_back("tmpfs listed a name that existed throughout a directory stream more than once, in " +
                           std::to_string(lapses.listings) + " listing(s) (the first: " + lapses.first +
                           "); POSIX lists each once, and the target was held to that (docs/fuzzing.md)");
  if (workdirs.removal_failures() != 0)
    result.notes.push_back(std::to_string(workdirs.removal_failures()) +
                           " case workdirs could not be removed; the first: " + workdirs.first_removal_failure());
  target.stop();
  oracle.stop();
  if (options.stop && options.stop->load()) {
    // Runs after the interruption passed vacuously and shrinking was cut short: no verdict.
    result.passed = false;
    result.interrupted = true;
    last_failure = {};
  }

  if (!result.passed && !last_failure.steps.empty()) {
    result.scenario_yaml = scenario_text(last_failure, options.target_name, result.seed);
    result.scenario_steps = last_failure.steps.size();
    result.scenario_operations = last_failure.operations.size();
    result.scenario_path = options.scenario_out.empty()
                               ? std::filesystem::path("fusecheck-fuzz-" + std::to_string(result.seed) + ".yaml")
                               : options.scenario_out;
    std::ofstream(result.scenario_path) << result.scenario_yaml;
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (options.print_report) print_report(result, options);
  return result;
}

}  // namespace fusecheck::fuzz
