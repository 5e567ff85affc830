// Private to the runner: the state of one test while its steps run (runner.cpp executes actor
// steps, kernel_steps.cpp the kernel interaction steps), and a step's outcome.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "fusecheck/actor.hpp"
#include "fusecheck/control_client.hpp"
#include "fusecheck/runner.hpp"

namespace fusecheck {

enum class StepStatus { ok, mismatch, broken };

struct TestContext {
  const Scenario& scenario;
  Mount& mount;
  const RunOptions& options;
  std::map<std::string, std::unique_ptr<ActorProcess>> actors;
  std::map<std::string, nlohmann::json> saved;
  TestResult& result;
  // Kernel interaction: the control channel (null on a target without one), the workdir as
  // the control protocol names it ("/t0001"), named trace marks, the trace marks taken before
  // the current and the previous step, and actor calls running in the background.
  ControlClient* control = nullptr;
  std::string workdir_in_mount;
  std::map<std::string, uint64_t> marks;
  uint64_t step_mark = 0, previous_mark = 0;
  std::map<std::string, const Step*> background;
  std::set<std::string> killed;     // actors a signal step ended
  bool aborted_on_purpose = false;  // a step aborted the connection, or a hang was expected
  // The remount step (docs/kernel-interaction.md, "Remount"): the mount's session unmounts
  // and mounts again, the actors leave and re-enter the workdir.
  std::function<StepStatus(const Step& step, const std::string& section, int index)> remount;
  int traced_steps = 0;  // replay --trace: steps whose requests are (to be) listed

  void mismatch(const Step& step, const std::string& section, int index, const std::string& field,
                const std::string& expected, const std::string& got) {
    result.mismatches.push_back(Mismatch{section, index, step.where, step.summary, field, expected, got, step.note});
  }
};

// Runs one kernel interaction step (mark, expect_requests, fault, wait_request, release,
// notify, backend, drop_caches, remount, abort_connection).
StepStatus run_kernel_step(const Step& step, TestContext& ctx, const std::string& section, int index);

// replay --trace: the requests with since <= seq < until, one transcript line each.
// Throws HarnessError when the control channel fails.
void append_step_requests(TestContext& ctx, uint64_t since, uint64_t until);

// A path of the scenario ("f", "." for the workdir) as the control protocol names it.
std::string control_path(const TestContext& ctx, const std::string& relative);

}  // namespace fusecheck
