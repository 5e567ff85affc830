// Runs scenarios on mounts (see runner.hpp): workdir per test, actors from a pool, steps
// with deadlines, features probed per mount, and recovery (abort + remount) when a target
// hangs or its daemon dies. Below: executing a test's steps, a mount's session, the workers.
#include "fusecheck/runner.hpp"
#include "fusecheck/cpu_affinity.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <linux/falloc.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <filesystem>
#include <fstream>
#include <fusepp/cache_lock.hpp>
#include <fusepp/kernel_tick.hpp>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "fusecheck/actor.hpp"
#include "fusecheck/data_dir.hpp"
#include "fusecheck/deadlines.hpp"
#include "fusecheck/errors.hpp"
#include "fusecheck/names.hpp"
#include "fusecheck/ops.hpp"
#include "fusecheck/protocol.hpp"
#include "fusecheck/report.hpp"
#include "handle_probes.hpp"
#include "matching.hpp"
#include "test_context.hpp"
#include "statfs_probe.hpp"

namespace fusecheck {

using nlohmann::json;

std::string verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::pass: return "PASS";
    case Verdict::fail: return "FAIL";
    case Verdict::skip: return "SKIP";
    case Verdict::xfail: return "XFAIL";
    case Verdict::xpass: return "XPASS";
    case Verdict::broken: return "BROKEN";
  }
  return "?";
}

bool is_problem(Verdict verdict) {
  return verdict == Verdict::fail || verdict == Verdict::broken || verdict == Verdict::xpass;
}

namespace {

// The actor executable the CLI ships beside itself.
std::string actor_executable() { return helper_executable("fusecheck-actor"); }

using matching::check_matcher;
using matching::MatchContext;
using matching::resolve;
using matching::show;

long long realtime_ns() {
  timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<long long>(now.tv_sec) * 1000000000LL + now.tv_nsec;
}

std::string outcome_text(const json& reply) {
  if (reply.value("ok", false)) return "success";
  if (int signal = reply.value("signal", 0)) return fmt::format("{} ({})", signal_name(signal), strsignal(signal));
  int err = reply.value("errno", 0);
  return fmt::format("{} ({})", errno_name(err), strerror(err));
}

// ---------------------------------------------------------------- executing a test

double step_timeout(const Step& step, const TestContext& ctx) {
  double seconds = step.timeout > 0 ? step.timeout : ctx.scenario.timeout;
  if (ctx.options.max_timeout) seconds = std::min(seconds, *ctx.options.max_timeout);
  return seconds;
}

// When a call does not come back: a FUSE connection is aborted (only that frees a process
// waiting on the daemon), and the actor is killed.
std::string recover_from_hang(TestContext& ctx, ActorProcess& actor) {
  std::string what;
  if (ctx.mount.spec().is_fuse()) {
    ctx.mount.abort_connection("step timed out");
    what = fmt::format("; aborted FUSE connection {}", ctx.mount.connection());
  }
  if (!actor.kill_and_reap(deadline::actor_reap)) what += "; the actor could not be killed (stuck in the kernel)";
  return what;
}

std::string daemon_state(TestContext& ctx) {
  if (ctx.mount.aborted()) return "";
  auto trouble = ctx.mount.trouble();
  return trouble ? "; " + *trouble : "";
}

StepStatus evaluate(const Step& step, const json& reply, TestContext& ctx, const std::string& section, int index,
                    long long now_ns) {
  auto mismatch = [&](const std::string& field, const std::string& expected, const std::string& got) {
    ctx.result.mismatches.push_back(
        Mismatch{section, index, step.where, step.summary, field, expected, got, step.note});
  };
  bool ok = reply.value("ok", false);
  const Expect& expect = step.expect;
  if (expect.kind == Expect::Kind::any) return StepStatus::ok;
  if (expect.kind == Expect::Kind::error) {
    if (ok) {
      mismatch("result", expect.describe(), "success");
      return StepStatus::mismatch;
    }
    int err = reply.value("errno", 0), signal = reply.value("signal", 0);
    const auto& wanted = signal != 0 ? expect.signals : expect.errnos;
    if (std::find(wanted.begin(), wanted.end(), signal != 0 ? signal : err) != wanted.end()) return StepStatus::ok;
    mismatch("result", expect.describe(), outcome_text(reply));
    return StepStatus::mismatch;
  }
  if (!ok) {
    mismatch("result", "success", outcome_text(reply));
    return StepStatus::mismatch;
  }
  const json& result = reply["r"];
  MatchContext match{result, ctx.saved, now_ns};
  bool all_hold = true;
  for (const auto& field : expect.fields) {
    if (!result.contains(field.field)) {
      mismatch(field.field, "a value", "no such field in the reply");
      all_hold = false;
      continue;
    }
    for (const auto& matcher : field.matchers) {
      std::string failed = check_matcher(matcher, field, result[field.field], match);
      if (!failed.empty()) {
        mismatch(field.field, failed, show(field.field, field.kind, result[field.field]));
        all_hold = false;
      }
    }
  }
  if (all_hold && !step.save.empty()) ctx.saved[step.save] = result;
  return all_hold ? StepStatus::ok : StepStatus::mismatch;
}

// The step's request with saved values filled in; throws HarnessError when a saved value
// it needs is missing (an earlier step did not save it).
json build_request(const Step& step, TestContext& ctx) {
  json request = step.request;
  for (const auto& [arg, ref] : step.ref_args) {
    MatchContext match{json::object(), ctx.saved, 0};
    std::string error;
    auto value = resolve(ref, arg, match, error);
    if (!value) throw HarnessError(error);
    request[arg] = *value;
  }
  return request;
}

Clock::time_point deadline_after(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// Receives one call's answer and checks it; a problem that allows no verdict is appended to
// `broken`. A call expected to hang must not answer before the deadline; then the connection
// is aborted on purpose (the only way out of a deadlock) and the actor is ended.
StepStatus finish_call(const Step& call, TestContext& ctx, Clock::time_point deadline, const std::string& call_label,
                       const std::string& section, int index, std::string& broken) {
  ActorProcess& actor = *ctx.actors.at(call.actor);
  auto reply = actor.receive(deadline);
  long long now_ns = realtime_ns();
  double timeout = step_timeout(call, ctx);
  auto add_broken = [&](const std::string& what) { broken += (broken.empty() ? "" : "; ") + call_label + ": " + what; };
  using S = ActorProcess::Reply::Status;
  if (call.expect.kind == Expect::Kind::hang) {
    if (reply.status == S::timeout) {
      ctx.aborted_on_purpose = true;
      std::string recovery = recover_from_hang(ctx, actor);
      ctx.result.transcript.push_back(call_label + ": no answer, as expected" + recovery);
      return StepStatus::ok;
    }
    if (reply.status != S::ok) {
      add_broken(reply.detail);
      return StepStatus::broken;
    }
    ctx.result.transcript.push_back(fmt::format("{}: {}", call_label, outcome_text(reply.body)));
    ctx.mismatch(call, section, index, "result", call.expect.describe(), outcome_text(reply.body));
    return StepStatus::mismatch;
  }
  if (reply.status == S::timeout && call.background && !(ctx.options.stop && ctx.options.stop->load())) {
    // A call the scenario let run while it held or signalled it: not coming back is its
    // outcome (e.g. a daemon that ignores INTERRUPT), so the step fails rather than breaks.
    ctx.aborted_on_purpose = true;
    std::string recovery = recover_from_hang(ctx, actor);
    ctx.result.transcript.push_back(call_label + ": TIMEOUT" + recovery);
    ctx.mismatch(call, section, index, "result", call.expect.describe(),
                 fmt::format("no answer within {} s{}", timeout, recovery));
    return StepStatus::mismatch;
  }
  if (reply.status == S::timeout) {
    std::string recovery = recover_from_hang(ctx, actor);
    if (ctx.options.stop && ctx.options.stop->load())
      add_broken("interrupted" + recovery);
    else
      add_broken(fmt::format("no answer from actor '{}' within {} s{}", call.actor, timeout, recovery));
    ctx.result.transcript.push_back(call_label + ": TIMEOUT");
    return StepStatus::broken;
  }
  if (reply.status == S::died) {
    add_broken(reply.detail + daemon_state(ctx));
    ctx.result.transcript.push_back(call_label + ": ACTOR DIED");
    return StepStatus::broken;
  }
  if (reply.status == S::protocol) {
    add_broken("harness protocol error: " + reply.detail);
    return StepStatus::broken;
  }
  ctx.result.transcript.push_back(fmt::format("{}: {}", call_label, outcome_text(reply.body)));
  int err = reply.body.value("errno", 0);
  if (!reply.body.value("ok", false) && (err == ENOTCONN || err == ECONNABORTED) && !ctx.aborted_on_purpose) {
    // The kernel fails requests as soon as the daemon's fd closes, a moment before the
    // daemon is seen to exit: give it that moment, so a crash is reported as one.
    auto trouble = ctx.mount.trouble();
    for (auto until = Clock::now() + deadline::daemon_leaving; !trouble && Clock::now() < until;
         trouble = ctx.mount.trouble())
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (trouble) {
      add_broken(fmt::format("{} because {}", outcome_text(reply.body), *trouble));
      return StepStatus::broken;
    }
  }
  return evaluate(call, reply.body, ctx, section, index, now_ns);
}

// signal and await: the actor side of a call running in the background.
StepStatus background_step(const Step& step, TestContext& ctx, const std::string& section, int index,
                           const std::string& label) {
  ActorProcess& actor = *ctx.actors.at(step.actor);
  const Step* call = ctx.background.at(step.actor);
  if (step.op == "signal" && step.engine["signal"] == "SIGUSR1") {
    ::kill(actor.pid(), SIGUSR1);
    ctx.result.transcript.push_back(label + ": sent");
    return StepStatus::ok;
  }
  if (step.op == "signal") {
    ctx.background.erase(step.actor);
    ctx.killed.insert(step.actor);
    bool reaped = actor.kill_and_reap(deadline::actor_reap);
    ctx.result.transcript.push_back(label + (reaped ? ": the actor ended" : ": the actor is stuck in the kernel"));
    if (reaped) return StepStatus::ok;
    ctx.result.reason = label + ": the actor could not be killed (stuck in the kernel)";
    return StepStatus::broken;
  }
  ctx.background.erase(step.actor);
  std::string broken;
  StepStatus status = finish_call(*call, ctx, deadline_after(step_timeout(*call, ctx)), label, section, index, broken);
  if (status == StepStatus::broken) ctx.result.reason = broken;
  return status;
}

// Before every step of a test that reads the trace (an isolated one, or replay --trace): the
// trace marks that delimit "the previous step" for expect_requests. A shared mount has a
// control channel too (for its balance at the end), but no step of its tests reads a mark,
// and a mark is a round trip to the daemon per step (two more context switches).
StepStatus take_step_mark(TestContext& ctx, const std::string& label) {
  if (!ctx.control || !(ctx.scenario.isolated || ctx.options.trace_steps)) return StepStatus::ok;
  try {
    ctx.previous_mark = ctx.step_mark;
    ctx.step_mark = ctx.control->must({{"cmd", "mark"}}, deadline::service_call)["mark"].get<uint64_t>();
    if (ctx.options.trace_steps && ctx.traced_steps++ > 0) append_step_requests(ctx, ctx.previous_mark, ctx.step_mark);
    return StepStatus::ok;
  } catch (const HarnessError& error) {
    ctx.result.reason = fmt::format("{}: {}", label, error.what());
    return StepStatus::broken;
  }
}

// A scenario sleeps so that the next change is stamped later, so the sleep also lasts its
// seconds on the kernel's coarse clock, which tmpfs stamps from.
void sleep_on_the_stamping_clock(double seconds) {
  auto duration = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(seconds));
  fusepp::kernel_tick::sleep_as_the_tick_sees(CLOCK_REALTIME_COARSE, duration, deadline::coarse_clock_lag);
}

StepStatus run_step(const Step& step, TestContext& ctx, const std::string& section, int index) {
  std::string label = fmt::format("{} step {} ({})", section, index, step.summary);
  if (take_step_mark(ctx, label) == StepStatus::broken) return StepStatus::broken;
  if (step.op == "sleep") {
    sleep_on_the_stamping_clock(step.sleep_seconds);
    ctx.result.transcript.push_back(label + ": done");
    return StepStatus::ok;
  }
  if (step.op == "signal" || step.op == "await") return background_step(step, ctx, section, index, label);
  if (!step.engine.is_null()) {
    StepStatus status = run_kernel_step(step, ctx, section, index);
    ctx.result.transcript.push_back(label + (status == StepStatus::ok ? ": done" : ": not as expected"));
    return status;
  }
  std::vector<const Step*> calls;
  if (step.op == "parallel") {
    for (const auto& inner : step.parallel) calls.push_back(&inner);
  } else {
    calls.push_back(&step);
  }
  double timeout = 0;
  for (const Step* call : calls) timeout = std::max(timeout, step_timeout(*call, ctx));
  auto deadline = deadline_after(timeout);
  for (const Step* call : calls) {
    json request;
    try {
      request = build_request(*call, ctx);
    } catch (const HarnessError& error) {
      ctx.result.reason = fmt::format("{}: {}", label, error.what());
      return StepStatus::broken;
    }
    if (ctx.killed.count(call->actor) || !ctx.actors.at(call->actor)->send(request)) {
      ctx.result.reason = fmt::format("{}: actor '{}' is gone{}", label, call->actor, daemon_state(ctx));
      return StepStatus::broken;
    }
  }
  if (step.background) {
    ctx.background[step.actor] = &step;
    ctx.result.transcript.push_back(label + ": started");
    return StepStatus::ok;
  }
  StepStatus status = StepStatus::ok;
  std::string broken;
  for (size_t i = 0; i < calls.size(); ++i) {
    std::string call_label =
        calls.size() > 1 ? fmt::format("{} step {}.{} ({})", section, index, i + 1, calls[i]->summary) : label;
    StepStatus one = finish_call(*calls[i], ctx, deadline, call_label, section, index, broken);
    if (one == StepStatus::mismatch && status == StepStatus::ok) status = one;
  }
  if (!broken.empty()) {
    ctx.result.reason = broken;
    return StepStatus::broken;
  }
  return status;
}

// Runs a section; returns false when the test cannot go on.
bool run_section(const std::vector<Step>& steps, const std::string& section, TestContext& ctx) {
  for (size_t i = 0; i < steps.size(); ++i) {
    StepStatus status = run_step(steps[i], ctx, section, static_cast<int>(i + 1));
    if (status == StepStatus::ok) continue;
    if (status == StepStatus::broken) {
      ctx.result.verdict = Verdict::broken;
      return false;
    }
    if (section == "steps") {
      ctx.result.verdict = Verdict::fail;
      ctx.result.reason = fmt::format("step {} ({}) at {}", i + 1, steps[i].summary, steps[i].where);
    } else {
      ctx.result.verdict = Verdict::broken;
      const Mismatch& first = ctx.result.mismatches.back();
      ctx.result.reason = fmt::format("{} step {} ({}) at {}: expected {}, got {}", section, i + 1, steps[i].summary,
                                      steps[i].where, first.expected, first.got);
    }
    return false;
  }
  return true;
}

std::set<std::string> actor_names(const Scenario& scenario) {
  std::set<std::string> names;
  auto collect = [&](const std::vector<Step>& steps) {
    for (const auto& step : steps) {
      if (!step.actor.empty()) names.insert(step.actor);
      for (const auto& inner : step.parallel) names.insert(inner.actor);
    }
  };
  collect(scenario.setup);
  collect(scenario.steps);
  collect(scenario.cleanup);
  return names;
}

bool reply_ok(const ActorProcess::Reply& reply) {
  return reply.status == ActorProcess::Reply::Status::ok && reply.body.value("ok", false);
}

std::string reply_text(const ActorProcess::Reply& reply) {
  if (reply.status != ActorProcess::Reply::Status::ok) return reply.detail;
  return outcome_text(reply.body);
}

// One mount's worth of work: a service actor (root) for workdirs and probes, and a pool.
class MountSession {
 public:
  // `per_test_balance`: check_balance() follows every test (an isolated test's mount).
  MountSession(std::unique_ptr<Mount> mount, const RunOptions& options, bool per_test_balance)
      : mount_(std::move(mount)), options_(options), pool_(actor_executable()), per_test_balance_(per_test_balance) {}
  ~MountSession() {
    service_.reset();
    pool_.clear();
  }

  Mount& mount() { return *mount_; }
  int spawned() const { return pool_.spawned(); }

  // Root calls the harness makes itself (workdirs, probes) go through one dedicated actor,
  // which is never reset between calls. --timeout caps them as it caps steps.
  ActorProcess::Reply service(const json& request, double seconds = deadline::seconds(deadline::service_call)) {
    if (options_.max_timeout) seconds = std::min(seconds, *options_.max_timeout);
    if (!service_ || !service_->usable()) {
      try {
        service_ = ActorProcess::start(actor_executable(), Identity{});
      } catch (const HarnessError& error) {
        ActorProcess::Reply reply;
        reply.status = ActorProcess::Reply::Status::died;
        reply.detail = error.what();
        return reply;
      }
    }
    auto reply = service_->call(
        request, Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
    if (reply.status == ActorProcess::Reply::Status::timeout) {
      // Say which call: a probe that hangs must not read as a target that left by itself.
      reply.detail = fmt::format("the harness's {} {} got no answer within {} s", request.value("op", "call"),
                                 request.value("path", ""), seconds);
      mount_->abort_connection(reply.detail);
      service_->kill_and_reap(deadline::actor_reap);
      service_.reset();
    }
    return reply;
  }

  void probe_features() {
    Features& features = mount_->features();
    // Every target is probed the same way, memfs included: what FUSE on this kernel cannot
    // carry (e.g. some fallocate modes) then shows as SKIP with the probe's answer, and
    // `run -v` lists it.
    std::string dir = mount_->root() + "/.fusecheck-probe";
    auto call = [&](json request) { return service(request, 5); };
    auto probe = [&](const std::string& feature, json request, const std::string& what) {
      auto reply = call(request);
      features.set(feature, reply_ok(reply), fmt::format("{} returned {}", what, reply_text(reply)));
      return reply;
    };
    auto made = call(make_request("mkdir", {{"path", dir}, {"mode", 0755}}));
    if (!reply_ok(made)) {
      for (const auto& feature : known_features())
        if (!features.has(feature) && !features.missing.count(feature))
          features.set(feature, false,
                       fmt::format("the probe directory {} could not be made: {}", dir, reply_text(made)));
      return;
    }
    auto at = [&](const std::string& name) { return dir + "/" + name; };
    call(make_request("create_file", {{"path", at("f")}, {"mode", 0644}}));
    call(make_request("create_file", {{"path", at("g")}, {"mode", 0644}}));
    probe("xattr.user", make_request("setxattr", {{"path", at("f")}, {"name", "user.fusecheck"}, {"data", "31"}}),
          "setxattr user.*");
    probe("xattr.trusted", make_request("setxattr", {{"path", at("f")}, {"name", "trusted.fusecheck"}, {"data", "31"}}),
          "setxattr trusted.*");
    probe("xattr.security",
          make_request("setxattr", {{"path", at("f")}, {"name", "security.fusecheck"}, {"data", "31"}}),
          "setxattr security.*");
    probe("hardlinks", make_request("link", {{"from", at("f")}, {"to", at("h")}}), "link");
    probe("symlinks", make_request("symlink", {{"target", "f"}, {"path", at("l")}}), "symlink");
    probe("fifo", make_request("mknod", {{"path", at("p")}, {"type", "fifo"}, {"mode", 0644}}), "mknod fifo");
    probe("devices",
          make_request("mknod", {{"path", at("c")}, {"type", "chr"}, {"mode", 0644}, {"major", 0}, {"minor", 1}}),
          "mknod chr");
    probe("sockets", make_request("mknod", {{"path", at("s")}, {"type", "sock"}, {"mode", 0644}}), "mknod sock");
    // Each renameat2 probe works on files of its own, so one missing flag cannot hide another.
    for (const char* name : {"n1", "x1", "x2", "w1"})
      call(make_request("create_file", {{"path", at(name)}, {"mode", 0644}}));
    probe("rename_noreplace",
          make_request("renameat2", {{"from", at("n1")}, {"to", at("n2")}, {"flags", RENAME_NOREPLACE}}),
          "renameat2 RENAME_NOREPLACE");
    probe("rename_exchange",
          make_request("renameat2", {{"from", at("x1")}, {"to", at("x2")}, {"flags", RENAME_EXCHANGE}}),
          "renameat2 RENAME_EXCHANGE");
    probe("rename_whiteout",
          make_request("renameat2", {{"from", at("w1")}, {"to", at("w2")}, {"flags", RENAME_WHITEOUT}}),
          "renameat2 RENAME_WHITEOUT");
    probe("o_tmpfile",
          make_request("open", {{"path", dir}, {"flags", O_TMPFILE | O_RDWR}, {"mode", 0600}, {"fd", "t"}}),
          "open O_TMPFILE");
    probe_descriptor_features(at, dir);
    call(make_request("utimensat", {{"path", at("g")},
                                    {"atime", {{"kind", "ns"}, {"ns", 1000000000LL + 123456789}}},
                                    {"mtime", {{"kind", "ns"}, {"ns", 1000000000LL + 123456789}}}}));
    auto times = call(make_request("stat", {{"path", at("g")}}));
    bool exact = reply_ok(times) && times.body["r"].value("mtime_nsec", 0) == 123456789;
    features.set("timestamps_ns", exact, "utimensat with nanoseconds did not read back exactly");
    probe_control();
    call({{"op", "reset"}});  // closes the O_TMPFILE descriptor
    call({{"op", "rmtree"}, {"path", dir}});
    probe_exclusive_statfs();
    if (!mount_->spec().is_fuse() && ::geteuid() == 0) probe_other_users();
  }

  // What a mount of the same target with the same options and control channel found earlier
  // in this run holds here too (the daemon is started the same way): only this mount's own
  // control channel is opened and asked. An isolated test mounts afresh, and probing again
  // took a probe actor and some thirty calls each time.
  void take_probed_features(const Features& probed) {
    mount_->features() = probed;
    probe_control();
  }

  // The probes on an open descriptor (fallocate's modes, SEEK_DATA): they need one actor
  // across calls, since the pool resets actors between calls.
  void probe_descriptor_features(const std::function<std::string(const std::string&)>& at, const std::string& dir) {
    Features& features = mount_->features();
    auto unsupported = [&](const std::string& why) {
      for (const char* feature : {"fallocate", "punch_hole", "zero_range", "seek_hole", "mmap_shared", "o_direct"})
        features.set(feature, false, why);
      for (const char* feature : handle_features) features.set(feature, false, why);
    };
    std::unique_ptr<ActorProcess> actor;
    try {
      actor = ActorProcess::start(actor_executable(), Identity{});
    } catch (const HarnessError& failure) {
      return unsupported(failure.what());
    }
    auto probe_deadline = [] { return Clock::now() + deadline::feature_probe; };
    auto fd_probe = [&](const std::string& feature, json request, const std::string& what) {
      auto reply = actor->call(request, probe_deadline());
      features.set(feature, reply_ok(reply), fmt::format("{} returned {}", what, reply_text(reply)));
    };
    auto opened =
        actor->call(make_request("open", {{"path", at("d")}, {"flags", O_CREAT | O_RDWR}, {"mode", 0644}, {"fd", "d"}}),
                    probe_deadline());
    if (reply_ok(opened)) {
      fd_probe("fallocate", make_request("fallocate", {{"fd", "d"}, {"mode", 0}, {"offset", 0}, {"len", 8192}}),
               "fallocate");
      fd_probe("punch_hole",
               make_request(
                   "fallocate",
                   {{"fd", "d"}, {"mode", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE}, {"offset", 0}, {"len", 4096}}),
               "fallocate PUNCH_HOLE");
      fd_probe("zero_range",
               make_request("fallocate", {{"fd", "d"}, {"mode", FALLOC_FL_ZERO_RANGE}, {"offset", 0}, {"len", 4096}}),
               "fallocate ZERO_RANGE");
      fd_probe(
          "mmap_shared",
          make_request(
              "mmap",
              {{"fd", "d"}, {"map", "m"}, {"length", 4096}, {"prot", PROT_READ | PROT_WRITE}, {"flags", MAP_SHARED}}),
          "mmap MAP_SHARED PROT_WRITE");
      fd_probe("o_direct", make_request("open", {{"path", at("d")}, {"flags", O_RDWR | O_DIRECT}, {"fd", "o"}}),
               "open O_DIRECT");
      actor->call(
          make_request("open", {{"path", at("sparse")}, {"flags", O_CREAT | O_RDWR}, {"mode", 0644}, {"fd", "s"}}),
          probe_deadline());
      actor->call(make_request("pwrite", {{"fd", "s"}, {"offset", 1 << 20}, {"data", "31"}}), probe_deadline());
      auto data =
          actor->call(make_request("lseek", {{"fd", "s"}, {"offset", 0}, {"whence", SEEK_DATA}}), probe_deadline());
      bool holes = reply_ok(data) && data.body["r"].value("offset", 0LL) > 0;
      features.set("seek_hole", holes,
                   "lseek SEEK_DATA on a file with a 1 MiB hole returned " +
                       (reply_ok(data) ? std::to_string(data.body["r"].value("offset", 0LL)) : reply_text(data)));
      probe_handle_features(
          {[&](const json& request) { return actor->call(request, probe_deadline()); }, reply_ok, reply_text}, dir,
          features);
    } else {
      unsupported("could not create a probe file");
    }
    if (!actor->usable()) mount_->abort_connection("probe timed out");
  }

  // Whether another uid reaches a directory target (a FUSE mount always lets it: allow_other).
  void probe_other_users() {
    std::string why;
    try {
      auto actor = ActorProcess::start(actor_executable(), Identity{65534, 65534, {}, 022});
      auto reply =
          actor->call(make_request("stat", {{"path", mount_->root()}}), Clock::now() + deadline::feature_probe);
      if (reply_ok(reply)) return mount_->features().set("other_users", true, "");
      why = reply_text(reply);
    } catch (const HarnessError& failure) {
      why = failure.what();
    }
    mount_->features().set("other_users", false, fmt::format("uid 65534 cannot reach {}: {}", mount_->root(), why));
  }

  // exclusive_statfs is the mount's claim (a FUSE daemon's counts are its own; dir: only with
  // --exclusive), believed only if the target's statfs totals are not those of a filesystem
  // the machine shares: a passthrough daemon over the root disk reports the root disk's.
  void probe_exclusive_statfs() {
    Features& features = mount_->features();
    if (!features.has("exclusive_statfs")) return;
    std::string failure;
    auto target_statfs = [&]() -> std::optional<StatfsCounts> {
      auto reply =
          service(make_request("statvfs", {{"path", mount_->root()}}), deadline::seconds(deadline::feature_probe));
      if (!reply_ok(reply)) {
        failure = "statvfs returned " + reply_text(reply);
        return std::nullopt;
      }
      const json& r = reply.body["r"];
      return StatfsCounts{r.value("frsize", 0ULL), r.value("blocks", 0ULL), r.value("files", 0ULL),
                          r.value("bfree", 0ULL), r.value("ffree", 0ULL)};
    };
    // A file with data: a target whose file count is stuck (a bug a statfs scenario should
    // catch) still shows its blocks move. It goes in a directory of its own, which mkdir
    // refuses to reuse, so nothing already on the target is overwritten.
    const std::string probe_dir = mount_->root() + "/.fusecheck-statfs-probe";
    const std::string probe_file = probe_dir + "/f";
    auto call = [&](const json& request) {
      return reply_ok(service(request, deadline::seconds(deadline::feature_probe)));
    };
    auto change_target = [&](bool make) {
      if (!make)
        return call(make_request("unlink", {{"path", probe_file}})) &&
               call(make_request("rmdir", {{"path", probe_dir}}));
      if (!call(make_request("mkdir", {{"path", probe_dir}, {"mode", 0755}}))) return false;
      if (call(make_request("create_file",
                            {{"path", probe_file}, {"mode", 0644}, {"data", std::string(2 * 16384, '7')}})))
        return true;
      call(make_request("rmdir", {{"path", probe_dir}}));
      return false;
    };
    auto shared = shared_filesystem_with(target_statfs, mount_->root(), change_target);
    if (!failure.empty())
      features.set("exclusive_statfs", false, failure);
    else if (shared)
      features.set("exclusive_statfs", false,
                   fmt::format("its statfs is that of {}, which the whole machine uses (for an exec: target, a "
                               "{{src}} without --src-dir is a private tmpfs)",
                               *shared));
  }

  TestResult run(const Scenario& scenario, int sequence) {
    TestResult result;
    result.scenario = &scenario;
    result.name = scenario.name;
    if (lacks_a_feature(scenario, result)) return result;
    std::string workdir = fmt::format("{}/t{:04d}", mount_->root(), sequence);
    if (!prepare_workdir(scenario, workdir, result)) return result;
    ++tests_on_mount_;
    TestContext ctx{scenario, *mount_, options_, {}, {}, result};
    ctx.control = control_.get();
    ctx.workdir_in_mount = workdir.substr(mount_->root().size());
    ctx.remount = [this, &ctx, &workdir](const Step& step, const std::string& section, int index) {
      return remount_in_test(ctx, workdir, step, section, index);
    };
    bool ready = start_actors(scenario, workdir, ctx);
    if (ready && options_.with_breaker) ready = apply_breaker(scenario, ctx);
    bool set_up = ready && run_section(scenario.setup, "setup", ctx);
    if (set_up && !scenario.setup.empty()) {
      if (auto why = off_mount(workdir)) {
        lost(result, "during the setup", *why);
        set_up = false;
      }
    }
    if (set_up) run_section(scenario.steps, "steps", ctx);
    end_background_calls(ctx);
    if (options_.trace_steps) finish_step_trace(ctx);
    if (per_test_balance_ && !ctx.aborted_on_purpose) compare_counts_with_the_filesystem();
    if (ready && !ctx.aborted_on_purpose) run_cleanup(scenario, ctx);
    for (auto& [name, actor] : ctx.actors)
      if (!ctx.killed.count(name)) pool_.give_back(std::move(actor));
    if (ctx.aborted_on_purpose) {
      // The scenario ended the connection itself: the mount is finished, not broken.
      lost_mount_ = "the scenario aborted the FUSE connection";
      aborted_on_purpose_ = true;
      return result;
    }
    remove_workdir(workdir, result);
    return result;
  }

  // After a test on a mount with a trace: every reference the kernel got must come back once
  // its caches are dropped, and every open handle must have been released. The actors go
  // first (a cwd pins a directory). A violation fails the test and names the node.
  void check_balance(TestResult& result) {
    if (!control_ || aborted_on_purpose_ || !lost_mount_.empty() || mount_->trouble()) return;
    service_.reset();
    pool_.clear();
    try {
      control_->must({{"cmd", "release_all"}}, deadline::service_call);
      control_->must({{"cmd", "clear_faults"}}, deadline::service_call);
      // After the drop nothing may be held (the filesystem's own counts were compared at the
      // end of the steps, while the kernel still held what they gave it). Dentries and inodes
      // only (2): the inode shrinker drops an unused inode's clean pages itself before it
      // evicts it, while dropping the page cache (1) empties the whole machine's, which took
      // 100-180 ms per test on a machine busy compiling (and slowed everything else on it).
      std::vector<std::string> problems = std::move(counts_at_end_of_steps_);
      std::string error = drop_kernel_caches(2, control_.get());
      if (!error.empty()) throw HarnessError(error);
      json after = control_->must({{"cmd", "balance"}}, deadline::service_call);
      for (const auto& key : {"problems", "outstanding"})
        for (const auto& line : after[key]) problems.push_back(fmt::format("{}: {}", key, line.get<std::string>()));
      if (problems.empty()) return;
      for (const auto& line : problems) result.transcript.push_back("lookup balance: " + line);
      if (result.verdict != Verdict::pass) return;
      result.verdict = Verdict::fail;
      result.reason = fmt::format("lookup balance: {}{}", problems.front(),
                                  problems.size() > 1 ? fmt::format(" (and {} more)", problems.size() - 1) : "");
    } catch (const HarnessError& error) {
      if (result.verdict == Verdict::pass) {
        result.verdict = Verdict::broken;
        result.reason = std::string("lookup balance check: ") + error.what();
      }
    }
  }

  // When the mount's last test is done: the lookup and open balance over its whole life. A
  // daemon that can stay through an unmount (remount_after_unmount) is unmounted first, so the
  // balance is read after the kernel ended the connection: the filesystem's own counts were
  // compared with the kernel's then, and every handle must have been released. Another
  // daemon's balance is read while mounted (its problems only: the kernel may still hold
  // references). One line per problem, naming the node; empty when clean or not checkable.
  std::vector<std::string> balance_at_unmount() {
    if (!control_ || aborted_on_purpose_ || !lost_mount_.empty() || mount_->trouble()) return {};
    std::vector<std::string> lines;
    auto collect = [&](const json& balance, std::initializer_list<const char*> keys) {
      for (const char* key : keys)
        for (const auto& line : balance[key]) lines.push_back(fmt::format("{}: {}", key, line.get<std::string>()));
    };
    try {
      service_.reset();
      pool_.clear();
      std::string why;
      if (!control_->offers("remount_after_unmount", why, deadline::service_call)) {
        collect(control_->must({{"cmd", "balance"}}, deadline::service_call), {"problems"});
        return lines;
      }
      remount_mount(true);
      collect(control_->must({{"cmd", "balance"}}, deadline::service_call), {"problems", "outstanding"});
    } catch (const HarnessError& error) {
      lines.push_back(std::string("the balance check could not be made: ") + error.what());
    }
    return lines;
  }

  // Why `path` is not on this mount, or nullopt if it is: the service actor stats it, and
  // its st_dev must be the device recorded when the mount came up. A FUSE mount whose
  // daemon is leaving answers ENOTCONN; once unmounted, the path resolves on the bare
  // mountpoint directory.
  std::optional<std::string> off_mount(const std::string& path) {
    auto reply = service({{"op", "stat"}, {"path", path}});
    std::string why;
    if (reply_ok(reply)) {
      auto device = static_cast<dev_t>(reply.body["r"].value("dev", 0ULL));
      if (device == mount_->device()) return std::nullopt;
      why = fmt::format("{} is on device {}:{}, not on the mount ({}:{})", path, major(device), minor(device),
                        major(mount_->device()), minor(mount_->device()));
    } else {
      why = fmt::format("stat {} gave {}", path, reply_text(reply));
    }
    // A daemon that leaves closes its connection and unmounts a moment before it exits: wait
    // that moment, so that its exit and its last words (the option it refused) are the reason.
    if (mount_->spec().is_fuse())
      for (auto until = Clock::now() + deadline::daemon_leaving; mount_->daemon_running() && Clock::now() < until;)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (auto gone = mount_->trouble())
      why += "; " + *gone;
    else if (mount_->spec().is_fuse())
      why += "; the daemon still runs; its output so far:\n" + mount_->daemon_log_tail();
    return why;
  }

  // Non-empty once a test found the mount gone (off_mount said so): the session is finished.
  const std::string& lost_mount() const { return lost_mount_; }
  bool aborted_on_purpose() const { return aborted_on_purpose_; }
  // Tests that got a workdir on this mount; 0 with lost_mount() means it never worked.
  int tests_on_mount() const { return tests_on_mount_; }

 private:
  void lost(TestResult& result, const std::string& when, const std::string& why) {
    lost_mount_ = why;
    result.verdict = Verdict::broken;
    result.reason = fmt::format("the mount vanished {}: {}", when, why);
  }

  // The remount step: the actors leave the mount (`reset`; the parser lets no handle stay
  // open across a remount), it is unmounted and mounted again, and they enter the workdir
  // again: a workdir that is gone then is the target losing its contents, a mismatch. A
  // directory target has its dentry and inode caches dropped instead (nothing of ours to
  // unmount). BROKEN when the remount itself cannot be made.
  StepStatus remount_in_test(TestContext& ctx, const std::string& workdir, const Step& step, const std::string& section,
                             int index) {
    // An actor that left the workdir and could not go back is at the real root: it must run
    // nothing more (no cleanup step), so every actor ends with a failed remount.
    auto end_actors = [&] {
      for (auto& [name, actor] : ctx.actors) {
        actor->kill_and_reap(deadline::actor_reap);
        ctx.killed.insert(name);
      }
    };
    auto broken = [&](const std::string& why) {
      end_actors();
      ctx.result.reason = fmt::format("{} step {} (remount): {}", section, index, why);
      return StepStatus::broken;
    };
    for (auto& [name, actor] : ctx.actors) {
      auto reply = actor->call({{"op", "reset"}}, Clock::now() + deadline::actor_reset);
      if (!reply_ok(reply))
        return broken(fmt::format("actor '{}' could not leave the mount: {}", name, reply_text(reply)));
    }
    service_.reset();  // a fresh one is started on demand, off the mount
    if (!mount_->spec().is_fuse()) {
      if (std::string error = drop_kernel_caches(2, nullptr); !error.empty()) return broken(error);
    } else {
      try {
        std::string why;
        bool stays = control_ && control_->offers("remount_after_unmount", why, deadline::service_call);
        if (remount_mount(stays)) {
          ctx.marks.clear();  // the new daemon's trace starts again at 1
          ctx.step_mark = 0;
        }
      } catch (const HarnessError& error) {
        return broken(error.what());
      }
      ctx.control = control_.get();
    }
    for (auto& [name, actor] : ctx.actors) {
      auto reply = actor->call({{"op", "chdir"}, {"path", workdir}}, Clock::now() + service_deadline());
      if (reply_ok(reply)) continue;
      if (reply.status == ActorProcess::Reply::Status::ok && reply.body.value("errno", 0) == ENOENT) {
        end_actors();
        ctx.mismatch(step, section, index, "workdir", "the test's directory, kept by the target",
                     "gone after the remount (ENOENT)");
        return StepStatus::mismatch;
      }
      return broken(fmt::format("actor '{}' cannot enter {} after the remount: {}", name, workdir, reply_text(reply)));
    }
    return StepStatus::ok;
  }

  // Mount::remount, and a new connection to the daemon's control socket. A daemon that was to
  // stay is told not to when the unmount fails (the mount serves on). Throws HarnessError.
  bool remount_mount(bool daemon_stays) {
    bool restarted = false;
    try {
      restarted = mount_->remount(daemon_stays);
    } catch (const HarnessError&) {
      if (daemon_stays && !mount_->trouble())
        control_->call({{"cmd", "remount_after_unmount"}, {"cancel", true}}, deadline::service_call);
      throw;
    }
    control_.reset();
    if (mount_->control_socket())
      control_ = std::make_unique<ControlClient>(*mount_->control_socket(), deadline::mount_ready);
    return restarted;
  }

  // The control channel, when the daemon was started with one: `trace` if it answers the
  // protocol's commands, `backend` if it also changes the filesystem behind the kernel's back.
  void probe_control() {
    Features& features = mount_->features();
    const auto& socket = mount_->control_socket();
    std::string none =
        mount_->spec().is_fuse()
            ? "the daemon was not started with a control channel (memfs is, for scenarios that need one; an exec: "
              "command takes its socket where it says {control})"
            : "a dir: target has no daemon, so no control channel";
    if (!socket) {
      features.set("trace", false, none);
      features.set("backend", false, none);
      return;
    }
    try {
      control_ = std::make_unique<ControlClient>(*socket, deadline::feature_probe);
      std::string why;
      features.set("trace", control_->offers("mark", why, deadline::feature_probe), why);
      bool backend = control_->offers("backend", why, deadline::feature_probe);
      features.set("backend", backend, "the control channel has no backend command: " + why);
    } catch (const HarnessError& error) {
      control_.reset();
      features.set("trace", false, error.what());
      features.set("backend", false, error.what());
    }
  }

  // must_fail_with's fault rules, set before the setup: the first rule that acts on a request
  // wins, so they come before the scenario's own.
  bool apply_breaker(const Scenario& scenario, TestContext& ctx) {
    for (const auto& rule : scenario.breaker_rules) {
      Step step;
      step.op = "fault";
      step.engine = {{"rule", rule}};
      step.summary = "must_fail_with fault " + rule.dump();
      if (run_kernel_step(step, ctx, "setup", 0) != StepStatus::ok) {
        ctx.result.verdict = Verdict::broken;
        return false;
      }
    }
    return true;
  }

  // A filesystem that reports its own lookup counts (memfs does) must agree with the wire
  // while the kernel still holds the references the test gave it: once the workdir is gone
  // and the caches dropped, a count it never raised is indistinguishable from a settled one.
  void compare_counts_with_the_filesystem() {
    counts_at_end_of_steps_.clear();
    if (!control_) return;
    try {
      json balance = control_->must({{"cmd", "balance"}}, deadline::service_call);
      for (const auto& line : balance["problems"])
        counts_at_end_of_steps_.push_back("after the steps: " + line.get<std::string>());
    } catch (const HarnessError& error) {
      counts_at_end_of_steps_.push_back(std::string("after the steps: ") + error.what());
    }
  }

  // replay --trace: the last step's requests (those that arrive once it is quiet), or why
  // this target has no trace.
  void finish_step_trace(TestContext& ctx) {
    if (!ctx.control) {
      auto why = mount_->features().missing.find("trace");
      ctx.result.transcript.push_back("no request trace on this target: " + (why != mount_->features().missing.end()
                                                                                 ? why->second
                                                                                 : std::string("no control channel")));
      return;
    }
    try {
      ctx.control->must({{"cmd", "wait_quiet"}, {"quiet_ms", 50}, {"timeout_ms", 2000}}, deadline::service_call);
      if (ctx.traced_steps > 0) append_step_requests(ctx, ctx.step_mark, std::numeric_limits<uint64_t>::max());
    } catch (const HarnessError& error) {
      ctx.result.transcript.push_back(std::string("the trace could not be read: ") + error.what());
    }
  }

  // Calls still running in the background when the steps ended early: their gates are
  // opened and their actors ended (they cannot take another request).
  void end_background_calls(TestContext& ctx) {
    if (ctx.background.empty()) return;
    if (control_ && !ctx.aborted_on_purpose) {
      try {
        control_->call({{"cmd", "release_all"}}, deadline::service_call);
      } catch (const HarnessError&) {
      }
    }
    for (const auto& [name, step] : ctx.background) {
      ctx.actors.at(name)->kill_and_reap(deadline::actor_reap);
      ctx.killed.insert(name);
    }
    ctx.background.clear();
  }

  Clock::duration service_deadline() const {
    double seconds = deadline::seconds(deadline::service_call);
    if (options_.max_timeout) seconds = std::min(seconds, *options_.max_timeout);
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  }

  bool lacks_a_feature(const Scenario& scenario, TestResult& result) {
    for (const auto& feature : scenario.requires_features) {
      if (mount_->features().has(feature)) continue;
      result.verdict = Verdict::skip;
      auto why = mount_->features().missing.find(feature);
      result.reason =
          fmt::format("target lacks {}{}", feature,
                      why != mount_->features().missing.end() && !why->second.empty() ? ": " + why->second : "");
      return true;
    }
    return false;
  }

  bool prepare_workdir(const Scenario& scenario, const std::string& workdir, TestResult& result) {
    // Without root, "owned by root" means owned by the harness's user (chown -1: unchanged).
    bool root = ::geteuid() == 0;
    long long owner = !root && scenario.workdir.uid == 0 ? -1 : static_cast<long long>(scenario.workdir.uid);
    long long group = !root && scenario.workdir.gid == 0 ? -1 : static_cast<long long>(scenario.workdir.gid);
    auto made = service({{"op", "prepare_workdir"},
                         {"path", workdir},
                         {"mode", scenario.workdir.mode},
                         {"uid", owner},
                         {"gid", group}});
    if (!reply_ok(made)) {
      result.verdict = Verdict::broken;
      result.reason = fmt::format("preparing the workdir {}: mkdir/chown/chmod gave {}", workdir, reply_text(made));
      return false;
    }
    // A mount that vanished leaves the bare mountpoint directory, where mkdir works too: no
    // step may run there, or a verdict would be about the wrong filesystem.
    if (auto why = off_mount(workdir)) {
      lost(result, "before the test", *why);
      return false;
    }
    return true;
  }

  bool start_actors(const Scenario& scenario, const std::string& workdir, TestContext& ctx) {
    TestResult& result = ctx.result;
    for (const auto& name : actor_names(scenario)) {
      std::unique_ptr<ActorProcess> actor;
      try {
        actor = pool_.take(scenario.actors.at(name));
      } catch (const HarnessError& error) {
        result.verdict = Verdict::broken;
        result.reason = error.what();
        return false;
      }
      auto reply = actor->call({{"op", "chdir"}, {"path", workdir}}, Clock::now() + service_deadline());
      if (!reply_ok(reply)) {
        result.verdict = Verdict::broken;
        result.reason = fmt::format("actor '{}' cannot enter its workdir {}: {}", name, workdir, reply_text(reply));
        if (reply.status == ActorProcess::Reply::Status::timeout) recover_from_hang(ctx, *actor);
        return false;
      }
      ctx.actors[name] = std::move(actor);
    }
    return true;
  }

  // cleanup runs after PASS, FAIL and a failed setup alike, as long as the target and the
  // actors still answer; its own problems never hide the verdict that came before.
  void run_cleanup(const Scenario& scenario, TestContext& ctx) {
    TestResult& result = ctx.result;
    bool actors_alive = std::all_of(ctx.actors.begin(), ctx.actors.end(),
                                    [](const auto& entry) { return entry.second && entry.second->usable(); });
    if (scenario.cleanup.empty() || !actors_alive || !lost_mount_.empty() || mount_->trouble()) return;
    Verdict before = result.verdict;
    std::string reason = result.reason;
    size_t mismatches = result.mismatches.size();
    result.verdict = Verdict::pass;
    bool cleaned = run_section(scenario.cleanup, "cleanup", ctx);
    if (!cleaned && before == Verdict::pass) return;  // BROKEN, with the cleanup step that failed
    if (!cleaned) result.transcript.push_back("cleanup did not complete: " + result.reason);
    result.verdict = before;
    result.reason = reason;
    result.mismatches.resize(mismatches);
  }

  void remove_workdir(const std::string& workdir, TestResult& result) {
    auto trouble = lost_mount_.empty() ? mount_->trouble() : std::optional<std::string>(lost_mount_);
    if (!trouble) {
      auto removed = service({{"op", "rmtree"}, {"path", workdir}});
      if (!reply_ok(removed))
        result.transcript.push_back(fmt::format("could not remove {}: {}", workdir, reply_text(removed)));
    } else if (result.verdict != Verdict::broken) {
      result.verdict = Verdict::broken;
      result.reason = *trouble;
    }
  }

  std::unique_ptr<Mount> mount_;
  const RunOptions& options_;
  ActorPool pool_;
  std::unique_ptr<ActorProcess> service_;
  std::unique_ptr<ControlClient> control_;
  std::string lost_mount_;
  bool aborted_on_purpose_ = false;
  // Only check_balance() reads the counts taken at the end of a test's steps; a shared
  // mount's balance is read once, when it ends, and asking after every test would cost a
  // report of every node the mount has ever seen (seconds per hundred tests late in a run).
  bool per_test_balance_;
  std::vector<std::string> counts_at_end_of_steps_;
  int tests_on_mount_ = 0;
};

// What a run will do: every test (x repetitions) as an item, and the items that need a
// mount split into shards: one per (mount options, --jobs slot).
struct RunPlan {
  struct Item {
    const Scenario* scenario;
    int repetition;
  };
  struct Shard {
    std::vector<size_t> tests;  // indexes into items
    std::vector<std::string> mount_options;
    bool isolated = false;  // one kernel scenario, alone on the machine, on its own mount
    bool control = false;   // the daemon starts with its control channel
  };
  std::vector<Item> items;
  std::vector<size_t> skipped;  // skipped by an expectations entry, before any mount
  std::vector<Shard> shards;
  // Run one at a time after every other shard has finished: they drop the kernel's caches
  // (which would disturb any test running beside them) and count requests (which another
  // test's cache drop would disturb).
  std::vector<Shard> isolated;
  int jobs = 1;
};

RunPlan plan_run(const std::vector<Scenario>& tests, const RunOptions& options) {
  RunPlan plan;
  for (int rep = 0; rep < std::max(1, options.repeat); ++rep)
    for (const auto& scenario : tests) plan.items.push_back(RunPlan::Item{&scenario, rep});
  std::map<std::string, std::vector<size_t>> groups;
  for (size_t i = 0; i < plan.items.size(); ++i) {
    const Scenario& scenario = *plan.items[i].scenario;
    const ExpectationEntry* entry = options.expectations ? options.expectations->find(scenario) : nullptr;
    if (entry && entry->skip) {
      plan.skipped.push_back(i);
    } else if (scenario.isolated) {
      RunPlan::Shard shard{{i}, scenario.mount_options, true, scenario.control || options.trace_steps};
      if (options.with_breaker) {
        shard.mount_options.insert(shard.mount_options.end(), scenario.breaker_mount.begin(),
                                   scenario.breaker_mount.end());
      }
      plan.isolated.push_back(std::move(shard));
    } else {
      groups[scenario.mount_key()].push_back(i);
    }
  }
  plan.jobs = std::max(1, options.jobs);
  if (!options.target.is_fuse()) plan.jobs = 1;  // one directory: tests share its statfs counts
  std::mt19937 shuffler(options.seed);
  for (auto& [key, indexes] : groups) {
    if (options.seed != 0) std::shuffle(indexes.begin(), indexes.end(), shuffler);
    size_t pieces = std::min<size_t>(static_cast<size_t>(plan.jobs), indexes.size());
    for (size_t p = 0; p < pieces; ++p) {
      RunPlan::Shard shard;
      shard.mount_options = plan.items[indexes[0]].scenario->mount_options;
      shard.control = true;  // memfs: for the balance check when the mount ends
      for (size_t k = p; k < indexes.size(); k += pieces) shard.tests.push_back(indexes[k]);
      plan.shards.push_back(std::move(shard));
    }
  }
  return plan;
}

TestResult result_for(const Scenario& scenario, Verdict verdict, std::string reason) {
  TestResult result;
  result.scenario = &scenario;
  result.name = scenario.name;
  result.verdict = verdict;
  result.reason = std::move(reason);
  return result;
}

// An expectations entry turns FAIL into XFAIL and PASS into XPASS.
void apply_expectation(TestResult& result, const Expectations* expectations) {
  const ExpectationEntry* entry = expectations ? expectations->find(*result.scenario) : nullptr;
  result.expectation = entry;
  if (!entry || entry->skip) return;
  if (result.verdict == Verdict::fail) {
    result.verdict = Verdict::xfail;
    result.reason = fmt::format("expected failure ({}): {}; {}", entry->where, entry->reason, result.reason);
  } else if (result.verdict == Verdict::pass) {
    result.verdict = Verdict::xpass;
    result.reason = fmt::format("listed as xfail at {} ({}) but passed: remove the entry", entry->where, entry->reason);
  }
}

// What the workers share: the results, and the reporter behind one lock.
class RunRecorder {
 public:
  RunRecorder(const RunPlan& plan, const RunOptions& options)
      : plan_(plan), options_(options), results_(plan.items.size()) {}

  void finish(size_t index, TestResult result) {
    result.repetition = plan_.items[index].repetition;
    if (is_problem(result.verdict) && result.ran && !options_.repro_dir.empty()) {
      try {
        result.repro_path = write_repro(options_.repro_dir, result, options_.target.text, options_.seed);
      } catch (const HarnessError& error) {
        result.transcript.push_back(error.what());
      }
    }
    std::lock_guard lock(mutex_);
    results_[index] = std::move(result);
    if (options_.reporter) options_.reporter->result(results_[index]);
  }
  void notice(const std::string& text) {
    std::lock_guard lock(mutex_);
    if (options_.reporter) options_.reporter->notice(text);
  }
  void mounted(const Mount& mount) {
    std::lock_guard lock(mutex_);
    if (options_.reporter) options_.reporter->mounted(mount);
  }
  // The target cannot be mounted at all: the first worker to find out reports it (once per
  // run, with the daemon's output); the others stop trying.
  void mark_unmountable(const std::string& error) {
    std::lock_guard lock(mutex_);
    if (unmountable_) return;
    unmountable_ = error;
    std::string text = error;
    while (!text.empty() && text.back() == '\n') text.pop_back();
    if (options_.reporter)
      options_.reporter->notice(fmt::format("cannot mount {}: {}\nevery test that needs a mount is BROKEN (not run)",
                                            options_.target.text, text));
  }
  // A result that belongs to no scenario (the balance check of a shared mount).
  void add(TestResult result) {
    std::lock_guard lock(mutex_);
    extra_.push_back(std::move(result));
    if (options_.reporter) options_.reporter->result(extra_.back());
  }
  std::optional<std::string> unmountable() {
    std::lock_guard lock(mutex_);
    return unmountable_;
  }
  // Features probed on a mount, by mount options and control channel (ShardWorker::mount).
  std::optional<Features> probed_features(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto found = probed_.find(key);
    return found == probed_.end() ? std::nullopt : std::optional<Features>(found->second);
  }
  void remember_features(const std::string& key, const Features& features) {
    std::lock_guard lock(mutex_);
    probed_.emplace(key, features);
  }
  std::vector<TestResult> take_results() {
    for (auto& result : extra_) results_.push_back(std::move(result));
    return std::move(results_);
  }

  std::atomic<int> mounts{0}, spawned{0}, sequence{0};

 private:
  const RunPlan& plan_;
  const RunOptions& options_;
  std::mutex mutex_;
  std::vector<TestResult> results_;
  std::vector<TestResult> extra_;
  std::optional<std::string> unmountable_;
  std::map<std::string, Features> probed_;
};

// Runs one shard's tests on its mount, mounting again after a mount is lost. A mount that
// fails (or never works) ends the shard's mounting: its tests are skipped when the target
// just does not take the shard's options, else broken.
class ShardWorker {
 public:
  ShardWorker(const RunPlan::Shard& shard, const RunPlan& plan, const RunOptions& options, RunRecorder& recorder)
      : shard_(shard), plan_(plan), options_(options), recorder_(recorder) {}
  ~ShardWorker() { end_session(); }

  void run() {
    for (size_t index : shard_.tests) {
      const Scenario& scenario = *plan_.items[index].scenario;
      auto started = Clock::now();
      if (stopping()) {
        recorder_.finish(index, result_for(scenario, Verdict::skip, "not run: interrupted"));
        continue;
      }
      if (auto option = refused_mount_option()) {
        recorder_.finish(index, result_for(scenario, Verdict::skip,
                                           fmt::format("mount option '{}' needs --allow-dev-suid", *option)));
        continue;
      }
      TestResult result = run_watching_caches(scenario);
      if (stopping() && result.verdict == Verdict::broken) {
        // Ctrl-C cut it short: no verdict, and no repro of an interruption.
        result.verdict = Verdict::skip;
        result.reason = "interrupted: " + result.reason;
      }
      apply_expectation(result, options_.expectations);
      result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
      recorder_.finish(index, std::move(result));
    }
    if (session_ && !shard_.isolated && !stopping()) check_balance_at_unmount();
  }

 private:
  bool stopping() const { return options_.stop && options_.stop->load(); }

  TestResult run_mounted(const Scenario& scenario) {
    if (!session_ && mount_error_.empty()) {
      if (auto error = recorder_.unmountable())
        mount_error_ = *error;
      else
        mount();
    }
    return session_ ? run_on_session(scenario) : mount_failure_result(scenario);
  }

  // An isolated test that FAILs while a process that does not take the cache lock dropped the
  // kernel's caches may have lost its premise between two steps (a page or a dentry it had
  // just made the kernel cache): it runs once more, on a fresh mount, and says so. A real
  // failure fails both times.
  TestResult run_watching_caches(const Scenario& scenario) {
    uint64_t drops_before = foreign_cache_drops();
    TestResult result = run_mounted(scenario);
    uint64_t foreign = foreign_cache_drops() - drops_before;
    if (!shard_.isolated || result.verdict != Verdict::fail || foreign == 0 || stopping()) return result;
    std::string first = fmt::format(
        "first attempt FAILED while other processes dropped the kernel's caches (/proc/vmstat drop_pagecache + "
        "drop_slab grew by {}), so it ran again: {}",
        foreign, result.reason);
    end_session();
    drops_before = foreign_cache_drops();
    TestResult again = run_mounted(scenario);
    again.transcript.insert(again.transcript.begin(), first);
    if (again.verdict == Verdict::fail && foreign_cache_drops() != drops_before)
      again.reason += " (another process dropped the kernel's caches during this attempt too)";
    return again;
  }

  std::optional<std::string> refused_mount_option() const {
    if (options_.allow_dev_suid) return std::nullopt;
    for (const auto& option : shard_.mount_options)
      if (option == "dev" || option == "suid") return option;
    return std::nullopt;
  }

  // A shared mount's balance over the whole run (MountSession::balance_at_unmount): a
  // problem fails the run as a result of its own, named after the mount's options.
  void check_balance_at_unmount() {
    auto started = Clock::now();
    std::vector<std::string> lines = session_->balance_at_unmount();
    if (lines.empty()) return;
    TestResult result;
    result.name = fmt::format("lookup-balance[{}]", fmt::join(shard_.mount_options, ","));
    result.verdict = Verdict::fail;
    result.reason = fmt::format("the balance at the end of the mount: {}{}", lines.front(),
                                lines.size() > 1 ? fmt::format(" (and {} more)", lines.size() - 1) : "");
    for (const auto& line : lines) result.transcript.push_back("lookup balance: " + line);
    result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    recorder_.add(std::move(result));
  }

  void end_session() {
    if (session_) recorder_.spawned += session_->spawned();
    session_.reset();
  }

  void mount() {
    try {
      session_ = std::make_unique<MountSession>(Mount::create(options_.target, shard_.mount_options, shard_.control),
                                                options_, shard_.isolated);
      ++recorder_.mounts;
      // Seen in mountinfo is not served: a libfuse 2 daemon (bindfs) mounts first and only
      // then rejects an option, closes the connection and unmounts. A mount is ready once
      // its root answers a stat with the mount's own device.
      if (auto why = session_->off_mount(session_->mount().root()))
        throw HarnessError("the mount's root did not answer after mounting: " + *why);
      const std::string features_key = fmt::format("{}|{}", fmt::join(shard_.mount_options, ","), shard_.control);
      std::optional<Features> probed = recorder_.probed_features(features_key);
      if (probed)
        session_->take_probed_features(*probed);
      else
        session_->probe_features();
      // The probes take a while: a mount that did not survive them is a failed mount too,
      // whatever the probes saw.
      if (auto why = session_->mount().trouble())
        throw HarnessError("the mount did not survive the feature probes: " + *why);
      if (!probed) recorder_.remember_features(features_key, session_->mount().features());
      recorder_.mounted(session_->mount());
    } catch (const HarnessError& error) {
      end_session();
      mount_failed(error.what());
    }
  }

  void mount_failed(const std::string& error) {
    mount_error_ = error;
    if (!shard_.mount_options.empty()) {
      // Did the options do it? If the target mounts without them, it just does not take
      // these options: its tests are skipped, not broken.
      try {
        Mount::create(options_.target, {});
        options_refused_ = true;
      } catch (const HarnessError&) {
      }
    }
    if (!options_refused_) recorder_.mark_unmountable(mount_error_);
  }

  TestResult mount_failure_result(const Scenario& scenario) const {
    if (!options_refused_) {
      std::string first_line = mount_error_.substr(0, mount_error_.find('\n'));
      TestResult result =
          result_for(scenario, Verdict::broken, "not run: the target could not be mounted: " + first_line);
      result.ran = false;
      return result;
    }
    size_t quoted = mount_error_.find("    | ");
    std::string first_line = mount_error_.substr(quoted == std::string::npos ? 0 : quoted + 6);
    first_line = first_line.substr(0, first_line.find('\n'));
    return result_for(scenario, Verdict::skip,
                      fmt::format("target refused mount options {}: {}", scenario.mount_key(), first_line));
  }

  TestResult run_on_session(const Scenario& scenario) {
    // An isolated test relies on what the kernel caches between its steps: other fusecheck
    // processes' drop_caches wait until it is done (docs/kernel-interaction.md).
    std::optional<fusepp::CacheSensitive> caches_in_use;
    if (shard_.isolated) caches_in_use.emplace();
    TestResult result = session_->run(scenario, ++recorder_.sequence);
    if (shard_.isolated) session_->check_balance(result);
    caches_in_use.reset();
    if (!session_->lost_mount().empty() && session_->tests_on_mount() == 0) {
      // It vanished before its first test got a workdir on it: it never worked.
      end_session();
      mount_failed("the mount vanished before its first test: " + result.reason);
      return mount_failure_result(scenario);
    }
    std::optional<std::string> why;
    if (!session_->lost_mount().empty())
      why = session_->lost_mount();
    else
      why = session_->mount().trouble();
    if (why) {
      // Start the next test on a fresh mount; this one hung or lost its daemon.
      bool on_purpose = session_->aborted_on_purpose();
      end_session();
      if (!stopping() && !on_purpose)
        recorder_.notice(fmt::format("remounting {} after {}: {}", options_.target.text, scenario.name, *why));
    }
    return result;
  }

  const RunPlan::Shard& shard_;
  const RunPlan& plan_;
  const RunOptions& options_;
  RunRecorder& recorder_;
  std::unique_ptr<MountSession> session_;
  std::string mount_error_;
  bool options_refused_ = false;
};

// A file name made from a test name: no separators, no "." or "..", nothing a shell or a
// terminal would read specially.
std::string safe_component(const std::string& part) {
  std::string safe;
  for (char c : part)
    safe += (c == ',' || c == '=' || c == ' ' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '_' : c;
  if (safe.empty() || safe == "." || safe == "..") safe = "_" + safe;
  return safe;
}

}  // namespace

std::vector<TestResult> run_tests(const std::vector<Scenario>& tests, const RunOptions& options, RunStats* stats) {
  RunPlan plan = plan_run(tests, options);
  RunRecorder recorder(plan, options);
  for (size_t index : plan.skipped) {
    const ExpectationEntry* entry = options.expectations->find(*plan.items[index].scenario);
    TestResult result = result_for(*plan.items[index].scenario, Verdict::skip,
                                   fmt::format("expectations ({}): {}", entry->where, entry->reason));
    result.expectation = entry;
    recorder.finish(index, std::move(result));
  }
  std::atomic<size_t> next_shard{0};
  const std::vector<int> cpus = options.all_cpus ? std::vector<int>{} : cpus_from_current();
  auto worker = [&](int j) {
    if (!cpus.empty()) keep_thread_to_cpu(cpus[static_cast<size_t>(j) % cpus.size()]);
    for (size_t s = next_shard++; s < plan.shards.size(); s = next_shard++)
      ShardWorker(plan.shards[s], plan, options, recorder).run();
  };
  cpu_set_t own_cpus;
  const bool restore = !cpus.empty() && ::sched_getaffinity(0, sizeof own_cpus, &own_cpus) == 0;
  std::vector<std::thread> threads;
  for (int j = 1; j < std::min<int>(plan.jobs, static_cast<int>(plan.shards.size())); ++j)
    threads.emplace_back(worker, j);
  worker(0);
  for (auto& thread : threads) thread.join();
  for (const auto& shard : plan.isolated) ShardWorker(shard, plan, options, recorder).run();
  if (restore) ::sched_setaffinity(0, sizeof own_cpus, &own_cpus);
  if (stats) {
    stats->mounts = recorder.mounts;
    stats->actors_spawned = recorder.spawned;
  }
  return recorder.take_results();
}

std::string write_repro(const std::string& results_dir, const TestResult& result, const std::string& fs,
                        unsigned seed) {
  if (!result.scenario) throw HarnessError("no scenario to write a repro file for");
  namespace stdfs = std::filesystem;
  stdfs::path dir = results_dir;
  std::istringstream parts(result.name);
  for (std::string part; std::getline(parts, part, '/');) dir /= safe_component(part);
  std::error_code ec;
  stdfs::create_directories(dir, ec);
  stdfs::path file = dir / "repro.yaml";
  std::ofstream out(file);
  out << repro_yaml(*result.scenario, fs, seed);
  out.flush();
  if (!out) throw HarnessError(fmt::format("cannot write {}: {}", file.string(), ec ? ec.message() : strerror(errno)));
  return file.string();
}

}  // namespace fusecheck
