// The differential state machine: each rapidcheck command runs one Operation through two
// root actors, one working in a fresh directory on the target and one on a private tmpfs,
// and fails on the first step whose normalised results differ. The last failing run is the
// shrunk counterexample, which becomes a scenario file with tmpfs's results as expectations.
#include "fusecheck/fuzz.hpp"

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <rapidcheck.h>
#include <rapidcheck/state.h>
#include <set>
#include <sstream>
#include <stdexcept>

#include "fusecheck/actor.hpp"
#include "fusecheck/data_dir.hpp"
#include "operation.hpp"

namespace fusecheck::fuzz {
namespace {

// One system call as both filesystems answered it.
struct RecordedStep {
  const Operation* operation;  // owned by the command, alive while the case runs
  size_t request_index;
  json oracle, target;
};

// A root actor that is respawned when a hang or crash on the target made it unusable.
class ActorSlot {
 public:
  ActorSlot(std::string executable, std::filesystem::path root)
      : executable_(std::move(executable)), root_(std::move(root)) {}
  ActorProcess& get() {
    if (!actor_ || !actor_->usable()) actor_ = ActorProcess::start(executable_, Identity{});  // throws HarnessError
    return *actor_;
  }
  const std::filesystem::path& root() const { return root_; }
  void stop() { actor_.reset(); }

 private:
  std::string executable_;
  std::filesystem::path root_;
  std::unique_ptr<ActorProcess> actor_;
};

ActorProcess::Reply call(ActorSlot& slot, const json& request, double timeout) {
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<long>(timeout * 1000));
  return slot.get().call(request, deadline);
}

bool call_ok(ActorSlot& slot, const json& request, double timeout) {
  auto reply = call(slot, request, timeout);
  return reply.status == ActorProcess::Reply::Status::ok && reply.body.value("ok", false);
}

// A fresh, empty 0777 directory per test case on both sides, as `fusecheck replay` gives a
// scenario; removed afterwards so cases never see each other's names.
class CaseWorkdirs {
 public:
  CaseWorkdirs(std::vector<ActorSlot*> slots, std::string name, double timeout)
      : slots_(std::move(slots)), name_(std::move(name)), timeout_(timeout) {
    for (ActorSlot* slot : slots_) {
      bool made = call_ok(*slot, {{"op", "chdir"}, {"path", slot->root().string()}}, timeout_) &&
                  call_ok(*slot, {{"op", "prepare_workdir"}, {"path", name_}, {"mode", 0777}, {"uid", 0}, {"gid", 0}},
                          timeout_) &&
                  call_ok(*slot, {{"op", "chdir"}, {"path", (slot->root() / name_).string()}}, timeout_);
      if (!made) throw HarnessError("cannot make a workdir under " + slot->root().string());
    }
  }
  ~CaseWorkdirs() {
    for (ActorSlot* slot : slots_) {
      try {
        if (call_ok(*slot, {{"op", "chdir"}, {"path", slot->root().string()}}, timeout_))
          call_ok(*slot, {{"op", "rmtree"}, {"path", name_}}, timeout_);
      } catch (const std::exception&) {
        // A target that died mid-case: the failure is already recorded; nothing to clean.
      }
    }
  }

 private:
  std::vector<ActorSlot*> slots_;
  std::string name_;
  double timeout_;
};

struct Differential {
  ActorSlot& target;
  ActorSlot& oracle;
  double timeout;
  const std::atomic<bool>* stop;
  std::vector<RecordedStep> steps;
  bool stopped() const { return stop && stop->load(); }
};

json run_on(ActorSlot& slot, const json& request, double timeout) {
  auto reply = call(slot, request, timeout);
  return normalise_reply(request, reply.body, static_cast<int>(reply.status), reply.detail);
}

struct FsCommand : rc::state::Command<NameModel, Differential> {
  Operation operation;
  explicit FsCommand(const NameModel& model) : operation(Operation::generate(model)) {}

  void checkPreconditions(const NameModel& model) const override { operation.check_preconditions(model); }
  void apply(NameModel& model) const override { operation.apply(model); }
  void run(const NameModel&, Differential& sut) const override {
    if (sut.stopped()) return;  // interrupted: finish quickly, the result is discarded
    const auto requests = operation.requests();
    for (size_t i = 0; i < requests.size(); ++i) {
      json expected = run_on(sut.oracle, requests[i], sut.timeout);
      json got = run_on(sut.target, requests[i], sut.timeout);
      sut.steps.push_back({&operation, i, expected, got});
      if (expected != got)
        RC_FAIL(operation.scenario_step(i) + ": tmpfs gave " + expected.dump() + ", the target " + got.dump());
    }
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

uint64_t pick_seed(uint64_t requested) {
  if (requested != 0) return requested;
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32 | device()) & 0x7fffffffffffffffULL;
}

}  // namespace

std::string scenario_text(const RecordedCase& failure, const std::string& target_name, uint64_t seed) {
  std::set<std::string> features;
  for (const auto& op : failure.operations)
    for (auto& feature : op.required_features()) features.insert(feature);
  std::ostringstream out;
  out << "# Written by fusecheck fuzz: a shrunk counterexample (seed " << seed << ").\n"
      << "# Expectations are Linux tmpfs's results; " << target_name << " differed at the last step,\n"
      << "# where it gave " << failure.target_results.back().dump() << ".\n"
      << "format: 1\n"
      << "title: "
      << json("fuzz counterexample (seed " + std::to_string(seed) + "): " + target_name +
              " differs from tmpfs at step " + std::to_string(failure.step_texts.size()))
             .dump()
      << "\n"
      << "refs:\n  - \"differential fuzzing against Linux tmpfs (docs/fuzzing.md)\"\n"
      << "tags: [fuzz]\n";
  if (!features.empty()) {
    out << "requires: [";
    bool first = true;
    for (const auto& feature : features) out << (first ? "" : ", ") << feature, first = false;
    out << "]\n";
  }
  out << "steps:\n";
  for (size_t i = 0; i < failure.step_texts.size(); ++i)
    out << "  - {" << failure.step_texts[i] << ", expect: " << expect_yaml(failure.oracle_results[i]) << "}\n";
  return out.str();
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

  ScopedTmpfs tmpfs;  // declared before the actors: they leave it before it is unmounted
  ActorSlot target(actor, std::filesystem::absolute(mountpoint)), oracle(actor, tmpfs.path());
  Result result;
  result.seed = pick_seed(options.seed);

  RecordedCase last_failure;
  int case_number = 0;
  const std::string case_prefix = "fuzz-" + std::to_string(::getpid()) + "-";
  auto property = [&] {
    if (options.stop && options.stop->load()) return;
    CaseWorkdirs workdirs({&target, &oracle}, case_prefix + std::to_string(++case_number), options.step_timeout);
    Differential sut{target, oracle, options.step_timeout, options.stop, {}};
    try {
      rc::state::check(NameModel{}, sut, rc::state::gen::execOneOfWithArgs<FsCommand>());
      result.calls_compared += sut.steps.size();
    } catch (...) {
      // rapidcheck only moves on to a failing shrink, so the last failing run is the minimum.
      RecordedCase failure;
      for (const auto& step : sut.steps) {
        if (failure.operations.empty() || step.request_index == 0) failure.operations.push_back(*step.operation);
        failure.step_texts.push_back(step.operation->scenario_step(step.request_index));
        failure.oracle_results.push_back(step.oracle);
        failure.target_results.push_back(step.target);
      }
      last_failure = std::move(failure);
      throw;
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
  target.stop();
  oracle.stop();
  if (options.stop && options.stop->load()) {
    // Runs after the interruption passed vacuously and shrinking was cut short: no verdict.
    result.passed = false;
    result.interrupted = true;
    last_failure = {};
  }

  if (!result.passed && !last_failure.step_texts.empty()) {
    result.scenario_yaml = scenario_text(last_failure, options.target_name, result.seed);
    result.scenario_steps = last_failure.step_texts.size();
    result.scenario_path = options.scenario_out.empty()
                               ? std::filesystem::path("fusecheck-fuzz-" + std::to_string(result.seed) + ".yaml")
                               : options.scenario_out;
    std::ofstream(result.scenario_path) << result.scenario_yaml;
  }
  if (options.print_report && result.interrupted) {
    std::cerr << "fusecheck fuzz: interrupted (seed " << result.seed << ")\n";
  } else if (options.print_report) {
    std::cerr << "fusecheck fuzz: seed " << result.seed << ", " << options.runs << " runs, up to " << options.max_steps
              << " steps\n"
              << result.report << "\n";
    if (!result.scenario_path.empty())
      std::cerr << "counterexample scenario: " << result.scenario_path.string() << " (reproduce: fusecheck fuzz --seed "
                << result.seed << " --runs " << options.runs << " --max-steps " << options.max_steps << ")\n";
  }
  return result;
}

}  // namespace fusecheck::fuzz
