// The runner: turns parsed scenarios into verdicts on a target. Tests are grouped by mount
// options; each group gets one mount (or one per --jobs shard), and each test a fresh
// workdir on it. Timeouts, dead actors and dead daemons become BROKEN, and the run goes on
// with a fresh mount.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fusecheck/scenario.hpp"
#include "fusecheck/target.hpp"

namespace fusecheck {

enum class Verdict { pass, fail, skip, xfail, xpass, broken };
std::string verdict_name(Verdict verdict);  // "PASS", "FAIL", ...

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
};

// Per-filesystem expectations (docs/scenario-format.md section 10).
struct ExpectationEntry {
  std::string pattern;
  bool skip = false;  // else xfail
  std::string reason;
  std::string where;
  mutable bool used = false;
};

class Expectations {
 public:
  static Expectations load(const std::string& path);  // throws FileError
  const ExpectationEntry* find(const Scenario& scenario) const;
  std::vector<const ExpectationEntry*> unused() const;
  std::string path;

 private:
  std::vector<ExpectationEntry> entries_;
};

struct RunOptions {
  TargetSpec target;
  int jobs = 1;
  int repeat = 1;
  unsigned seed = 0;                 // 0 = files' order; else shuffles within each mount
  std::optional<double> max_timeout;  // caps every step's deadline (seconds)
  const Expectations* expectations = nullptr;
  std::function<void(const TestResult&)> on_result;  // called as each test ends (any thread, serialized)
  std::function<void(const std::string&)> on_notice;  // harness notices (mount errors...)
  std::function<void(const Mount&)> on_mount;          // after each mount and feature probe
  const std::atomic<bool>* stop = nullptr;            // set on SIGINT: tests not started are skipped
};

struct RunStats {
  int mounts = 0;
  int actors_spawned = 0;
};

// Callers should ignore SIGPIPE (the CLI does): an actor that dies mid-request must turn
// into EPIPE and a BROKEN verdict, not kill the caller.
std::vector<TestResult> run_tests(const std::vector<Scenario>& tests, const RunOptions& options,
                                  RunStats* stats = nullptr);

}  // namespace fusecheck
