// Runs scenarios on mounts (see runner.hpp): workdir per test, actors from a pool, steps
// with deadlines, features probed per mount, and recovery (abort + remount) when a target
// hangs or its daemon dies.
#include "fusecheck/runner.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "fusecheck/actor.hpp"
#include "fusecheck/names.hpp"
#include "fusecheck/ops.hpp"
#include "fusecheck/protocol.hpp"
#include "matching.hpp"

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

namespace {

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
  int err = reply.value("errno", 0);
  return fmt::format("{} ({})", errno_name(err), strerror(err));
}

// ---------------------------------------------------------------- executing a test

enum class StepStatus { ok, mismatch, broken };

struct TestContext {
  const Scenario& scenario;
  Mount& mount;
  const RunOptions& options;
  std::map<std::string, std::unique_ptr<ActorProcess>> actors;
  std::map<std::string, json> saved;
  TestResult& result;
};

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
  if (!actor.kill_and_reap(std::chrono::milliseconds(2000))) what += "; the actor could not be killed (stuck in the kernel)";
  return what;
}

std::string daemon_state(TestContext& ctx) {
  std::string why;
  if (ctx.mount.spec().is_fuse() && !ctx.mount.healthy(why) && !ctx.mount.aborted()) return "; " + why;
  return "";
}

StepStatus evaluate(const Step& step, const json& reply, TestContext& ctx, const std::string& section, int index,
                    long long now_ns) {
  auto mismatch = [&](const std::string& field, const std::string& expected, const std::string& got) {
    ctx.result.mismatches.push_back(Mismatch{section, index, step.where, step.summary, field, expected, got, step.note});
  };
  bool ok = reply.value("ok", false);
  const Expect& expect = step.expect;
  if (expect.kind == Expect::Kind::any) return StepStatus::ok;
  if (expect.kind == Expect::Kind::error) {
    if (ok) {
      mismatch("result", expect.describe(), "success");
      return StepStatus::mismatch;
    }
    int err = reply.value("errno", 0);
    for (int wanted : expect.errnos)
      if (wanted == err) return StepStatus::ok;
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

json build_request(const Step& step, TestContext& ctx, std::string& error) {
  json request = step.request;
  for (const auto& [arg, ref] : step.ref_args) {
    MatchContext match{json::object(), ctx.saved, 0};
    auto value = resolve(ref, arg, match, error);
    if (!value) return json();
    request[arg] = *value;
  }
  return request;
}

StepStatus run_step(const Step& step, TestContext& ctx, const std::string& section, int index) {
  std::string label = fmt::format("{} step {} ({})", section, index, step.summary);
  if (step.op == "sleep") {
    std::this_thread::sleep_for(std::chrono::duration<double>(step.sleep_seconds));
    ctx.result.transcript.push_back(label + ": done");
    return StepStatus::ok;
  }
  std::vector<const Step*> calls;
  if (step.op == "parallel") {
    for (const auto& inner : step.parallel) calls.push_back(&inner);
  } else {
    calls.push_back(&step);
  }
  double timeout = 0;
  for (const Step* call : calls) timeout = std::max(timeout, step_timeout(*call, ctx));
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout));
  for (const Step* call : calls) {
    std::string error;
    json request = build_request(*call, ctx, error);
    if (request.is_null()) {
      ctx.result.reason = fmt::format("{}: {}", label, error);
      return StepStatus::broken;
    }
    if (!ctx.actors.at(call->actor)->send(request)) {
      ctx.result.reason = fmt::format("{}: actor '{}' is gone{}", label, call->actor, daemon_state(ctx));
      return StepStatus::broken;
    }
  }
  StepStatus status = StepStatus::ok;
  std::string broken;
  for (size_t i = 0; i < calls.size(); ++i) {
    const Step& call = *calls[i];
    std::string call_label = calls.size() > 1 ? fmt::format("{} step {}.{} ({})", section, index, i + 1, call.summary) : label;
    ActorProcess& actor = *ctx.actors.at(call.actor);
    auto reply = actor.receive(deadline);
    long long now_ns = realtime_ns();
    using S = ActorProcess::Reply::Status;
    if (reply.status == S::timeout) {
      std::string recovery = recover_from_hang(ctx, actor);
      if (ctx.options.stop && ctx.options.stop->load())
        broken += fmt::format("{}{}: interrupted{}", broken.empty() ? "" : "; ", call_label, recovery);
      else
        broken += fmt::format("{}{}: no answer from actor '{}' within {} s{}", broken.empty() ? "" : "; ", call_label,
                              call.actor, timeout, recovery);
      ctx.result.transcript.push_back(call_label + ": TIMEOUT");
      continue;
    }
    if (reply.status == S::died) {
      broken += fmt::format("{}{}: {}{}", broken.empty() ? "" : "; ", call_label, reply.detail, daemon_state(ctx));
      ctx.result.transcript.push_back(call_label + ": ACTOR DIED");
      continue;
    }
    if (reply.status == S::protocol) {
      broken += fmt::format("{}{}: harness protocol error: {}", broken.empty() ? "" : "; ", call_label, reply.detail);
      continue;
    }
    ctx.result.transcript.push_back(fmt::format("{}: {}", call_label, outcome_text(reply.body)));
    int err = reply.body.value("errno", 0);
    if (!reply.body.value("ok", false) && (err == ENOTCONN || err == ECONNABORTED)) {
      // The kernel fails requests as soon as the daemon's fd closes, a moment before the
      // daemon is seen to exit: give it that moment, so a crash is reported as one.
      std::string why;
      for (int i = 0; i < 100 && ctx.mount.healthy(why); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (!ctx.mount.healthy(why)) {
        broken += fmt::format("{}{}: {} because {}", broken.empty() ? "" : "; ", call_label, outcome_text(reply.body), why);
        continue;
      }
    }
    if (evaluate(call, reply.body, ctx, section, index, now_ns) != StepStatus::ok) status = StepStatus::mismatch;
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
  MountSession(std::unique_ptr<Mount> mount, const RunOptions& options)
      : mount_(std::move(mount)), options_(options), pool_(executable_dir() + "/fusecheck-actor") {}
  ~MountSession() {
    service_.reset();
    pool_.clear();
  }

  Mount& mount() { return *mount_; }
  int spawned() const { return pool_.spawned(); }

  // Root calls the harness makes itself (workdirs, probes) go through one dedicated actor,
  // which is never reset between calls.
  ActorProcess::Reply service(const json& request, double seconds = 10) {
    if (!service_ || !service_->usable()) {
      std::string error;
      service_ = ActorProcess::spawn(executable_dir() + "/fusecheck-actor", Identity{}, error);
      if (!service_) {
        ActorProcess::Reply reply;
        reply.status = ActorProcess::Reply::Status::died;
        reply.detail = error;
        return reply;
      }
    }
    auto reply = service_->call(request, Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
    if (reply.status == ActorProcess::Reply::Status::timeout) {
      mount_->abort_connection("service call timed out");
      service_->kill_and_reap(std::chrono::milliseconds(2000));
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
          features.set(feature, false, fmt::format("the probe directory {} could not be made: {}", dir, reply_text(made)));
      return;
    }
    auto at = [&](const std::string& name) { return dir + "/" + name; };
    call(make_request("create_file", {{"path", at("f")}, {"mode", 0644}}));
    call(make_request("create_file", {{"path", at("g")}, {"mode", 0644}}));
    probe("xattr.user", make_request("setxattr", {{"path", at("f")}, {"name", "user.fusecheck"}, {"data", "31"}}), "setxattr user.*");
    probe("xattr.trusted", make_request("setxattr", {{"path", at("f")}, {"name", "trusted.fusecheck"}, {"data", "31"}}), "setxattr trusted.*");
    probe("xattr.security", make_request("setxattr", {{"path", at("f")}, {"name", "security.fusecheck"}, {"data", "31"}}), "setxattr security.*");
    probe("hardlinks", make_request("link", {{"from", at("f")}, {"to", at("h")}}), "link");
    probe("symlinks", make_request("symlink", {{"target", "f"}, {"path", at("l")}}), "symlink");
    probe("fifo", make_request("mknod", {{"path", at("p")}, {"type", "fifo"}, {"mode", 0644}}), "mknod fifo");
    probe("devices", make_request("mknod", {{"path", at("c")}, {"type", "chr"}, {"mode", 0644}, {"major", 0}, {"minor", 1}}), "mknod chr");
    probe("sockets", make_request("mknod", {{"path", at("s")}, {"type", "sock"}, {"mode", 0644}}), "mknod sock");
    // Each renameat2 probe works on files of its own, so one missing flag cannot hide another.
    for (const char* name : {"n1", "x1", "x2", "w1"}) call(make_request("create_file", {{"path", at(name)}, {"mode", 0644}}));
    probe("rename_noreplace", make_request("renameat2", {{"from", at("n1")}, {"to", at("n2")}, {"flags", RENAME_NOREPLACE}}), "renameat2 RENAME_NOREPLACE");
    probe("rename_exchange", make_request("renameat2", {{"from", at("x1")}, {"to", at("x2")}, {"flags", RENAME_EXCHANGE}}), "renameat2 RENAME_EXCHANGE");
    probe("rename_whiteout", make_request("renameat2", {{"from", at("w1")}, {"to", at("w2")}, {"flags", RENAME_WHITEOUT}}), "renameat2 RENAME_WHITEOUT");
    probe("o_tmpfile", make_request("open", {{"path", dir}, {"flags", O_TMPFILE | O_RDWR}, {"mode", 0600}, {"fd", "t"}}), "open O_TMPFILE");
    {
      // fd-based probes need one actor across calls (the pool resets actors between calls).
      std::string error;
      auto actor = ActorProcess::spawn(executable_dir() + "/fusecheck-actor", Identity{}, error);
      auto deadline = [] { return Clock::now() + std::chrono::seconds(5); };
      auto fd_probe = [&](const std::string& feature, json request, const std::string& what) {
        auto reply = actor->call(request, deadline());
        features.set(feature, reply_ok(reply), fmt::format("{} returned {}", what, reply_text(reply)));
      };
      if (actor && reply_ok(actor->call(make_request("open", {{"path", at("d")}, {"flags", O_CREAT | O_RDWR}, {"mode", 0644}, {"fd", "d"}}), deadline()))) {
        fd_probe("fallocate", make_request("fallocate", {{"fd", "d"}, {"mode", 0}, {"offset", 0}, {"len", 8192}}), "fallocate");
        fd_probe("punch_hole", make_request("fallocate", {{"fd", "d"}, {"mode", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE}, {"offset", 0}, {"len", 4096}}), "fallocate PUNCH_HOLE");
        fd_probe("zero_range", make_request("fallocate", {{"fd", "d"}, {"mode", FALLOC_FL_ZERO_RANGE}, {"offset", 0}, {"len", 4096}}), "fallocate ZERO_RANGE");
        actor->call(make_request("open", {{"path", at("sparse")}, {"flags", O_CREAT | O_RDWR}, {"mode", 0644}, {"fd", "s"}}), deadline());
        actor->call(make_request("pwrite", {{"fd", "s"}, {"offset", 1 << 20}, {"data", "31"}}), deadline());
        auto data = actor->call(make_request("lseek", {{"fd", "s"}, {"offset", 0}, {"whence", SEEK_DATA}}), deadline());
        bool holes = reply_ok(data) && data.body["r"].value("offset", 0LL) > 0;
        features.set("seek_hole", holes, "lseek SEEK_DATA on a file with a 1 MiB hole returned " +
                                             (reply_ok(data) ? std::to_string(data.body["r"].value("offset", 0LL)) : reply_text(data)));
      } else {
        for (const char* feature : {"fallocate", "punch_hole", "zero_range", "seek_hole"})
          features.set(feature, false, actor ? "could not create a probe file" : error);
      }
      if (actor && !actor->usable()) mount_->abort_connection("probe timed out");
    }
    call(make_request("utimensat", {{"path", at("g")}, {"atime", {{"kind", "ns"}, {"ns", 1000000000LL + 123456789}}},
          {"mtime", {{"kind", "ns"}, {"ns", 1000000000LL + 123456789}}}}));
    auto times = call(make_request("stat", {{"path", at("g")}}));
    bool exact = reply_ok(times) && times.body["r"].value("mtime_nsec", 0) == 123456789;
    features.set("timestamps_ns", exact, "utimensat with nanoseconds did not read back exactly");
    call({{"op", "reset"}});  // closes the O_TMPFILE descriptor
    call({{"op", "rmtree"}, {"path", dir}});
    if (mount_->spec().kind == TargetSpec::Kind::dir && ::geteuid() == 0) {
      std::string error;
      Identity nobody{65534, 65534, {}, 022};
      auto actor = ActorProcess::spawn(executable_dir() + "/fusecheck-actor", nobody, error);
      auto reply = actor ? actor->call(make_request("stat", {{"path", mount_->root()}}), Clock::now() + std::chrono::seconds(5))
                         : ActorProcess::Reply{};
      features.set("other_users", actor && reply_ok(reply),
                   fmt::format("uid 65534 cannot reach {}: {}", mount_->root(), actor ? reply_text(reply) : error));
    }
  }

  TestResult run(const Scenario& scenario, int sequence) {
    TestResult result;
    result.scenario = &scenario;
    result.name = scenario.name;
    for (const auto& feature : scenario.requires_features) {
      if (!mount_->features().has(feature)) {
        result.verdict = Verdict::skip;
        auto why = mount_->features().missing.find(feature);
        result.reason = fmt::format("target lacks {}{}", feature,
                                    why != mount_->features().missing.end() && !why->second.empty() ? ": " + why->second : "");
        return result;
      }
    }
    std::string workdir = fmt::format("{}/t{:04d}", mount_->root(), sequence);
    auto step_fail = [&](const std::string& what, const ActorProcess::Reply& reply) {
      result.verdict = Verdict::broken;
      result.reason = fmt::format("preparing the workdir {}: {} gave {}", workdir, what, reply_text(reply));
    };
    // Without root, "owned by root" means owned by the harness's user (chown -1: unchanged).
    bool root = ::geteuid() == 0;
    long long owner = !root && scenario.workdir.uid == 0 ? -1 : static_cast<long long>(scenario.workdir.uid);
    long long group = !root && scenario.workdir.gid == 0 ? -1 : static_cast<long long>(scenario.workdir.gid);
    if (auto r = service({{"op", "prepare_workdir"}, {"path", workdir}, {"mode", scenario.workdir.mode},
                          {"uid", owner}, {"gid", group}});
        !reply_ok(r)) {
      step_fail("mkdir/chown/chmod", r);
      return result;
    }
    // A mount that vanished leaves the bare mountpoint directory, where mkdir works too: no
    // step may run there, or a verdict would be about the wrong filesystem.
    if (std::string why; !on_mount(workdir, why)) {
      lost(result, "before the test", why);
      return result;
    }
    ++tests_on_mount_;
    TestContext ctx{scenario, *mount_, options_, {}, {}, result};
    bool ready = true;
    for (const auto& name : actor_names(scenario)) {
      std::string error;
      auto actor = pool_.take(scenario.actors.at(name), error);
      if (!actor) {
        result.verdict = Verdict::broken;
        result.reason = error;
        ready = false;
        break;
      }
      auto reply = actor->call({{"op", "chdir"}, {"path", workdir}}, Clock::now() + std::chrono::seconds(10));
      if (!reply_ok(reply)) {
        result.verdict = Verdict::broken;
        result.reason = fmt::format("actor '{}' cannot enter its workdir {}: {}", name, workdir, reply_text(reply));
        ready = false;
        if (reply.status == ActorProcess::Reply::Status::timeout) recover_from_hang(ctx, *actor);
        break;
      }
      ctx.actors[name] = std::move(actor);
    }
    bool set_up = ready && run_section(scenario.setup, "setup", ctx);
    if (set_up && !scenario.setup.empty()) {
      if (std::string why; !on_mount(workdir, why)) {
        lost(result, "during the setup", why);
        set_up = false;
      }
    }
    if (set_up) run_section(scenario.steps, "steps", ctx);
    // cleanup runs after PASS, FAIL and a failed setup alike, as long as the target and the
    // actors still answer; its own problems never hide the verdict that came before.
    bool actors_alive = ready && std::all_of(ctx.actors.begin(), ctx.actors.end(),
                                             [](const auto& entry) { return entry.second && entry.second->usable(); });
    std::string unhealthy;
    if (!scenario.cleanup.empty() && actors_alive && lost_mount_.empty() && mount_->healthy(unhealthy)) {
      Verdict before = result.verdict;
      std::string reason = result.reason;
      size_t mismatches = result.mismatches.size();
      result.verdict = Verdict::pass;
      bool cleaned = run_section(scenario.cleanup, "cleanup", ctx);
      if (!cleaned && before == Verdict::pass) {
        // result already says BROKEN with the cleanup step that failed
      } else {
        if (!cleaned) result.transcript.push_back("cleanup did not complete: " + result.reason);
        result.verdict = before;
        result.reason = reason;
        result.mismatches.resize(mismatches);
      }
    }
    for (auto& [name, actor] : ctx.actors) pool_.give_back(std::move(actor));
    std::string why;
    if (lost_mount_.empty() && mount_->healthy(why)) {
      auto removed = service({{"op", "rmtree"}, {"path", workdir}});
      if (!reply_ok(removed)) result.transcript.push_back(fmt::format("could not remove {}: {}", workdir, reply_text(removed)));
    } else if (result.verdict != Verdict::broken) {
      result.verdict = Verdict::broken;
      result.reason = why;
    }
    return result;
  }

  // Whether `path` is on this mount: the service actor stats it, and its st_dev must be the
  // device recorded when the mount came up. A FUSE mount whose daemon is leaving answers
  // ENOTCONN; once it is unmounted, the path resolves on the bare mountpoint directory.
  bool on_mount(const std::string& path, std::string& why) {
    auto reply = service({{"op", "stat"}, {"path", path}});
    if (reply_ok(reply)) {
      auto device = static_cast<dev_t>(reply.body["r"].value("dev", 0ULL));
      if (device == mount_->device()) return true;
      why = fmt::format("{} is on device {}:{}, not on the mount ({}:{})", path, major(device), minor(device),
                        major(mount_->device()), minor(mount_->device()));
    } else {
      why = fmt::format("stat {} gave {}", path, reply_text(reply));
    }
    // A daemon that leaves closes its connection and unmounts a moment before it exits: wait
    // that moment, so that its exit and its last words (the option it refused) are the reason.
    if (mount_->spec().is_fuse())
      for (int i = 0; i < 100 && mount_->daemon_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (std::string gone; !mount_->healthy(gone)) why += "; " + gone;
    else if (mount_->spec().is_fuse()) why += "; the daemon still runs; its output so far:\n" + mount_->daemon_log_tail();
    return false;
  }

  // Non-empty once a test found the mount gone (on_mount failed): the session is finished.
  const std::string& lost_mount() const { return lost_mount_; }
  // Tests that got a workdir on this mount; 0 with lost_mount() means it never worked.
  int tests_on_mount() const { return tests_on_mount_; }

 private:
  void lost(TestResult& result, const std::string& when, const std::string& why) {
    lost_mount_ = why;
    result.verdict = Verdict::broken;
    result.reason = fmt::format("the mount vanished {}: {}", when, why);
  }

  std::unique_ptr<Mount> mount_;
  const RunOptions& options_;
  ActorPool pool_;
  std::unique_ptr<ActorProcess> service_;
  std::string lost_mount_;
  int tests_on_mount_ = 0;
};

struct Shard {
  std::vector<size_t> tests;  // indexes into the expanded list
  std::vector<std::string> mount_options;
};

}  // namespace

std::vector<TestResult> run_tests(const std::vector<Scenario>& tests, const RunOptions& options, RunStats* stats) {
  struct Item {
    const Scenario* scenario;
    int repetition;
  };
  std::vector<Item> items;
  for (int rep = 0; rep < std::max(1, options.repeat); ++rep)
    for (const auto& scenario : tests) items.push_back(Item{&scenario, rep});
  std::vector<TestResult> results(items.size());
  std::vector<bool> done(items.size(), false);
  std::mutex report_mutex;
  auto finish = [&](size_t index, TestResult result) {
    result.repetition = items[index].repetition;
    std::lock_guard lock(report_mutex);
    results[index] = std::move(result);
    done[index] = true;
    if (options.on_result) options.on_result(results[index]);
  };

  // Expectations decide skips before anything is mounted.
  std::map<std::string, std::vector<size_t>> groups;
  for (size_t i = 0; i < items.size(); ++i) {
    const Scenario& scenario = *items[i].scenario;
    const ExpectationEntry* entry = options.expectations ? options.expectations->find(scenario) : nullptr;
    if (entry && entry->skip) {
      TestResult result;
      result.scenario = &scenario;
      result.name = scenario.name;
      result.verdict = Verdict::skip;
      result.reason = fmt::format("expectations ({}): {}", entry->where, entry->reason);
      finish(i, std::move(result));
      continue;
    }
    groups[scenario.mount_key()].push_back(i);
  }

  int jobs = std::max(1, options.jobs);
  if (!options.target.is_fuse()) jobs = 1;  // one directory: tests share its statfs counts
  std::vector<Shard> shards;
  std::mt19937 shuffler(options.seed);
  for (auto& [key, indexes] : groups) {
    if (options.seed != 0) std::shuffle(indexes.begin(), indexes.end(), shuffler);
    size_t pieces = std::min<size_t>(static_cast<size_t>(jobs), indexes.size());
    for (size_t p = 0; p < pieces; ++p) {
      Shard shard;
      shard.mount_options = items[indexes[0]].scenario->mount_options;
      for (size_t k = p; k < indexes.size(); k += pieces) shard.tests.push_back(indexes[k]);
      shards.push_back(std::move(shard));
    }
  }

  std::atomic<size_t> next_shard{0};
  std::atomic<int> mounts{0}, spawned{0}, sequence{0};
  auto apply_expectation = [&](TestResult& result) {
    const ExpectationEntry* entry = options.expectations ? options.expectations->find(*result.scenario) : nullptr;
    if (!entry || entry->skip) return;
    if (result.verdict == Verdict::fail) {
      result.verdict = Verdict::xfail;
      result.reason = fmt::format("expected failure ({}): {}; {}", entry->where, entry->reason, result.reason);
    } else if (result.verdict == Verdict::pass) {
      result.verdict = Verdict::xpass;
      result.reason = fmt::format("listed as xfail at {} ({}) but passed: remove the entry", entry->where, entry->reason);
    }
  };
  auto worker = [&] {
    for (size_t s = next_shard++; s < shards.size(); s = next_shard++) {
      const Shard& shard = shards[s];
      std::unique_ptr<MountSession> session;
      std::string mount_error;
      bool options_refused = false;
      // A mount that failed, or never worked, ends this shard's mounting: its tests are
      // skipped when the target just does not take the shard's options, else broken.
      auto mount_failed = [&](const std::string& error) {
        mount_error = error;
        if (!shard.mount_options.empty()) {
          // Did the options do it? If the target mounts without them, it just does not
          // take these options: its tests are skipped, not broken.
          try {
            Mount::create(options.target, {});
            options_refused = true;
          } catch (const std::exception&) {
          }
        }
        if (options.on_notice && !options_refused) {
          std::lock_guard lock(report_mutex);
          options.on_notice("cannot mount " + options.target.text + ": " + mount_error);
        }
      };
      auto mount_failure_result = [&](const Scenario& scenario) {
        TestResult result;
        result.scenario = &scenario;
        result.name = scenario.name;
        if (options_refused) {
          result.verdict = Verdict::skip;
          std::string first_line = mount_error.substr(mount_error.find("    | ") == std::string::npos ? 0 : mount_error.find("    | ") + 6);
          first_line = first_line.substr(0, first_line.find('\n'));
          result.reason = fmt::format("target refused mount options {}: {}", scenario.mount_key(), first_line);
        } else {
          result.verdict = Verdict::broken;
          result.reason = "the target could not be mounted: " + mount_error;
        }
        return result;
      };
      for (size_t index : shard.tests) {
        const Scenario& scenario = *items[index].scenario;
        auto started = Clock::now();
        if (options.stop && options.stop->load()) {
          TestResult result;
          result.scenario = &scenario;
          result.name = scenario.name;
          result.verdict = Verdict::skip;
          result.reason = "not run: interrupted";
          finish(index, std::move(result));
          continue;
        }
        if (!session && mount_error.empty()) {
          try {
            session = std::make_unique<MountSession>(Mount::create(options.target, shard.mount_options), options);
            ++mounts;
            // Seen in mountinfo is not served: a libfuse 2 daemon (bindfs) mounts first and
            // only then rejects an option, closes the connection and unmounts. A mount is
            // ready once its root answers a stat with the mount's own device.
            if (std::string why; !session->on_mount(session->mount().root(), why))
              throw std::runtime_error("the mount's root did not answer after mounting: " + why);
            session->probe_features();
            // The probes take a while: a mount that did not survive them is a failed mount
            // too, whatever the probes saw.
            if (std::string why; !session->mount().healthy(why))
              throw std::runtime_error("the target unmounted right after mounting: " + why);
            if (options.on_mount) {
              std::lock_guard lock(report_mutex);
              options.on_mount(session->mount());
            }
          } catch (const std::exception& error) {
            if (session) spawned += session->spawned();
            session.reset();
            mount_failed(error.what());
          }
        }
        TestResult result;
        if (!session) {
          result = mount_failure_result(scenario);
        } else {
          result = session->run(scenario, ++sequence);
          std::string why;
          if (!session->lost_mount().empty() && session->tests_on_mount() == 0) {
            // It vanished before its first test got a workdir on it: it never worked.
            spawned += session->spawned();
            session.reset();
            mount_failed("the mount vanished before its first test: " + result.reason);
            result = mount_failure_result(scenario);
          } else if (!session->lost_mount().empty() || !session->mount().healthy(why)) {
            // Start the next test on a fresh mount; this one hung or lost its daemon.
            if (why.empty()) why = session->lost_mount();
            spawned += session->spawned();
            session.reset();
            if (options.on_notice && !(options.stop && options.stop->load())) {
              std::lock_guard lock(report_mutex);
              options.on_notice(fmt::format("remounting {} after {}: {}", options.target.text, scenario.name, why));
            }
          }
        }
        apply_expectation(result);
        result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
        finish(index, std::move(result));
      }
      if (session) spawned += session->spawned();
    }
  };
  std::vector<std::thread> threads;
  for (int j = 1; j < std::min<int>(jobs, static_cast<int>(shards.size())); ++j) threads.emplace_back(worker);
  worker();
  for (auto& thread : threads) thread.join();
  if (stats) {
    stats->mounts = mounts;
    stats->actors_spawned = spawned;
  }
  return results;
}

}  // namespace fusecheck
