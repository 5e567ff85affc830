// The runner: turns parsed scenarios into verdicts on a target. Tests are grouped by mount
// options; each group gets one mount (or one per --jobs shard), and each test a fresh
// workdir on it. Timeouts, dead actors and dead daemons become BROKEN, and the run goes on
// with a fresh mount. Results go to a Reporter (report.hpp); problems get a repro file.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "fusecheck/scenario.hpp"
#include "fusecheck/target.hpp"

namespace fusecheck {

class Reporter;

enum class Verdict { pass, fail, skip, xfail, xpass, broken };
std::string verdict_name(Verdict verdict);  // "PASS", "FAIL", ...
// FAIL, XPASS and BROKEN: what makes a run fail, gets details, a rerun line and a repro.
bool is_problem(Verdict verdict);

struct Mismatch {
  std::string section;  // setup, steps, cleanup
  int step = 0;         // 1-based within the section
  std::string where;    // file:line:col of the step
  std::string summary;  // the call, e.g. "chmod f mode=0644 (as alice)"
  std::string field;    // "result" for the call's outcome
  std::string expected;
  std::string got;
  std::string note;
};

// Per-filesystem expectations (docs/scenario-format.md section 10).
struct ExpectationEntry {
  std::string pattern;
  bool skip = false;  // else xfail
  std::string reason;
  std::string where;
  bool placeholder() const;  // the reason is still the one --write-expectations wrote
};

struct TestResult {
  const Scenario* scenario = nullptr;
  std::string name;
  Verdict verdict = Verdict::pass;
  std::string reason;  // skip/xfail/broken reason, or the failing step for FAIL
  std::vector<Mismatch> mismatches;
  std::vector<std::string> transcript;  // one line per executed step
  double seconds = 0;
  int repetition = 0;
  std::string repro_path;
  const ExpectationEntry* expectation = nullptr;  // the entry that matched, if any
  bool ran = true;                                // false: BROKEN without running (no mount): no details, no repro file
};

class Expectations {
 public:
  static Expectations load(const std::string& path);  // throws FileError
  // The same from the file's text; `path` is only for messages.
  static Expectations parse(const std::string& text, const std::string& path);
  // The first entry matching the test; thread-safe (nothing is recorded).
  const ExpectationEntry* find(const Scenario& scenario) const;
  // Entries that no result of a run matched.
  std::vector<const ExpectationEntry*> unused(const std::vector<TestResult>& results) const;
  const std::vector<ExpectationEntry>& entries() const { return entries_; }
  std::string path;

 private:
  std::vector<ExpectationEntry> entries_;
};

// --write-expectations: writes to `path` an expectations file under which this run would
// pass: every FAIL becomes an xfail entry and every BROKEN test that ran a skip entry (a test
// that failed in some repetitions and passed in others a skip entry too), each
// with a placeholder reason (the user must say why; fusecheck warns while one is left),
// followed by the entries of `existing` except those whose every test passed (XPASS: the
// ratchet). Written through a temporary file, so `path` may be the file in use. Returns the
// number of new entries; throws HarnessError if it cannot write.
int write_expectations(const std::string& path, const std::vector<TestResult>& results, const Expectations* existing,
                       const std::string& fs);

struct RunOptions {
  TargetSpec target;
  int jobs = 1;
  int repeat = 1;
  unsigned seed = 0;                  // 0 = files' order; else shuffles within each mount
  std::optional<double> max_timeout;  // caps every step's and service call's deadline (seconds)
  const Expectations* expectations = nullptr;
  Reporter* reporter = nullptr;             // notices, mounts and results as they happen
  std::string repro_dir;                    // FAIL/XPASS/BROKEN results write DIR/<name>/repro.yaml
  const std::atomic<bool>* stop = nullptr;  // set on SIGINT: tests not started are skipped
  // Mount options `dev` and `suid` would let a test's device nodes and setuid files act on
  // the host; a scenario asking for them is skipped unless the user allows them.
  bool allow_dev_suid = false;
  // Runs every scenario that has must_fail_with with it applied (its fault rules before the
  // steps, its mount options): each must then FAIL, which proves it can.
  bool with_breaker = false;
  // `replay --trace`: every test runs with the daemon's control channel (memfs), and each
  // step's transcript line is followed by the FUSE requests that arrived while it ran; on a
  // target without a trace the transcript says why there is none.
  bool trace_steps = false;
  // Each --jobs worker keeps itself, and every process it starts (the daemon, the actors), on
  // a CPU of its own: a step is a chain of wake-ups (harness, actor, daemon), and on a virtual
  // machine one across CPUs costs tens of microseconds. true lets the scheduler spread them.
  bool all_cpus = false;
};

struct RunStats {
  int mounts = 0;
  int actors_spawned = 0;
};

// An actor that dies mid-request turns into EPIPE and a BROKEN verdict, not a dead caller:
// starting the first actor ignores SIGPIPE if the caller left it at its default.
std::vector<TestResult> run_tests(const std::vector<Scenario>& tests, const RunOptions& options,
                                  RunStats* stats = nullptr);

// Writes DIR/<test name>/repro.yaml and returns its path. The name is confined to DIR: each
// path component is kept only if it is a plain name. Throws HarnessError if it cannot write.
std::string write_repro(const std::string& results_dir, const TestResult& result, const std::string& fs, unsigned seed);

}  // namespace fusecheck
