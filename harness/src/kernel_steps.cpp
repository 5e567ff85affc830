// The kernel interaction steps at run time (docs/scenario-format.md section 5.3): each speaks
// to the target's control channel (docs/control-protocol.md) or to the kernel itself
// (drop_caches, abort_connection; remount through the runner's mount session). Actor-side parts (background calls,
// await, signal, expect: hang) are in runner.cpp, next to the other actor steps.
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <fstream>
#include <fusepp/cache_lock.hpp>
#include <thread>

#include "fusecheck/errors.hpp"
#include "fusecheck/names.hpp"
#include "test_context.hpp"

namespace fusecheck {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

// How long a control command may take: the step's own wait plus a margin for the channel.
milliseconds command_deadline(double step_seconds) {
  return milliseconds(static_cast<long long>(step_seconds * 1000) + 2000);
}

double step_seconds(const Step& step, const TestContext& ctx) {
  double seconds = step.timeout > 0 ? step.timeout : ctx.scenario.timeout;
  if (ctx.options.max_timeout) seconds = std::min(seconds, *ctx.options.max_timeout);
  return seconds;
}

// The scenario's relative paths in a rule, notification or backend request, made absolute
// inside the mount.
json localized(json request, const TestContext& ctx) {
  for (const char* key : {"path", "child_path", "to"})
    if (request.contains(key)) request[key] = control_path(ctx, request[key].get<std::string>());
  if (request.contains("notify")) request["notify"] = localized(request["notify"], ctx);
  return request;
}

std::string describe_record(const json& r) {
  std::string text = fmt::format("#{} {} {}", r.value("seq", 0ULL), r.value("op", "?"), r.value("path", ""));
  if (!r.value("name", "").empty()) text += " name=" + r.value("name", "");
  if (int err = r.value("error", 0)) text += " error=" + errno_name(err);
  if (r.value("interrupted", false)) text += " interrupted";
  if (r.contains("entries")) text += fmt::format(" entries={}", r["entries"].dump());
  return text;
}

std::string describe_matcher(const json& m) {
  std::string text = m["op"].get<std::string>();
  for (const char* key : {"path", "name"})
    if (m.contains(key)) text += fmt::format(" {}={}", key, m[key].get<std::string>());
  if (m.contains("error")) text += " error=" + (m["error"] == 0 ? std::string("ok") : errno_name(m["error"]));
  if (m.contains("interrupted")) text += fmt::format(" interrupted={}", m["interrupted"].get<bool>());
  if (m.contains("entries")) text += fmt::format(" entries={}", m["entries"].get<long long>());
  std::string count;
  for (const auto& [op, value] : m["count"].items())
    count += fmt::format("{}{} {}", count.empty() ? "" : " and ", op, value.get<long long>());
  return text + ", count " + count;
}

bool record_matches(const json& m, const json& r, const TestContext& ctx) {
  if (r.value("op", "") != m["op"]) return false;
  if (m.contains("name") && r.value("name", "") != m["name"]) return false;
  if (m.contains("path") && r.value("path", "") != control_path(ctx, m["path"])) return false;
  if (m.contains("error") && r.value("error", 0) != m["error"]) return false;
  if (m.contains("interrupted") && r.value("interrupted", false) != m["interrupted"]) return false;
  if (m.contains("entries")) {
    long long entries = r.contains("entries") && r["entries"].is_array() ? static_cast<long long>(r["entries"].size())
                                                                         : r.value("entries", 0LL);
    if (entries != m["entries"].get<long long>()) return false;
  }
  return true;
}

bool count_holds(const json& count, long long got) {
  for (const auto& [op, value] : count.items()) {
    long long want = value.get<long long>();
    bool holds = op == "eq"   ? got == want
                 : op == "ne" ? got != want
                 : op == "lt" ? got < want
                 : op == "le" ? got <= want
                 : op == "gt" ? got > want
                              : got >= want;
    if (!holds) return false;
  }
  return true;
}

std::string listing(const std::vector<const json*>& records) {
  std::string text;
  size_t shown = 0;
  for (const json* r : records) {
    if (++shown > 8) {
      text += fmt::format("; ... {} in all", records.size());
      break;
    }
    text += (text.empty() ? "" : "; ") + describe_record(*r);
  }
  return text.empty() ? "none" : text;
}

StepStatus expect_requests(const Step& step, TestContext& ctx, const std::string& section, int index) {
  const json& e = step.engine;
  for (const char* key : {"since", "until"})
    if (e.contains(key) && !ctx.marks.count(e[key].get<std::string>())) {
      ctx.result.reason =
          fmt::format("mark '{}' belongs to the trace of a daemon a remount started again", e[key].get<std::string>());
      return StepStatus::broken;
    }
  uint64_t since = e.contains("since") ? ctx.marks.at(e["since"]) : ctx.previous_mark;
  uint64_t until = e.contains("until") ? ctx.marks.at(e["until"]) : ctx.step_mark;
  json answer = ctx.control->must({{"cmd", "trace"}, {"since", since}}, command_deadline(0));
  std::vector<const json*> window;
  for (const auto& r : answer["requests"])
    if (r.value("seq", 0ULL) < until) window.push_back(&r);
  StepStatus status = StepStatus::ok;
  std::vector<bool> claimed(window.size(), false);
  uint64_t last_first = 0;
  for (const auto& m : e["requests"]) {
    std::vector<const json*> hits;
    for (size_t i = 0; i < window.size(); ++i)
      if (record_matches(m, *window[i], ctx)) {
        hits.push_back(window[i]);
        claimed[i] = true;
      }
    if (!count_holds(m["count"], static_cast<long long>(hits.size()))) {
      ctx.mismatch(step, section, index, "requests", describe_matcher(m),
                   fmt::format("{}: {}", hits.size(), listing(hits)));
      status = StepStatus::mismatch;
    }
    if (e["order"].get<bool>() && !hits.empty()) {
      uint64_t first = hits.front()->value("seq", 0ULL);
      if (first < last_first) {
        ctx.mismatch(step, section, index, "order", describe_matcher(m) + " after the request before it in the list",
                     describe_record(*hits.front()));
        status = StepStatus::mismatch;
      }
      last_first = first;
    }
  }
  if (e["others"] == "none") {
    // The kernel evicts (and forgets) at times no test controls: FORGETs are never "others".
    std::vector<const json*> others;
    for (size_t i = 0; i < window.size(); ++i) {
      std::string op = window[i]->value("op", "");
      if (!claimed[i] && op != "FORGET" && op != "BATCH_FORGET") others.push_back(window[i]);
    }
    if (!others.empty()) {
      ctx.mismatch(step, section, index, "others", "no other requests", listing(others));
      status = StepStatus::mismatch;
    }
  }
  return status;
}

// notify and backend: ok, an errno (matched by its text, which the server's error ends
// with), or for notify a hang (the kernel did not take the notification in time).
StepStatus answered_step(const Step& step, TestContext& ctx, const std::string& section, int index, const json& request,
                         double seconds) {
  json answer = ctx.control->call(request, command_deadline(seconds));
  std::string got = answer.value("ok", false) ? (answer.value("timed_out", false) ? "no answer (a hang)" : "success")
                                              : answer.value("error", "an error");
  const Expect& expect = step.expect;
  bool holds = false;
  if (expect.kind == Expect::Kind::ok) holds = got == "success";
  if (expect.kind == Expect::Kind::hang) holds = answer.value("timed_out", false);
  if (expect.kind == Expect::Kind::error)
    for (int err : expect.errnos) holds = holds || (!answer.value("ok", false) && got.ends_with(strerror(err)));
  if (holds) return StepStatus::ok;
  ctx.mismatch(step, section, index, "result", expect.describe(), got);
  return StepStatus::mismatch;
}

StepStatus control_step(const Step& step, TestContext& ctx, const std::string& section, int index) {
  const json& e = step.engine;
  double seconds = step_seconds(step, ctx);
  if (step.op == "mark") {
    ctx.marks[e["name"]] = ctx.step_mark;
  } else if (step.op == "expect_requests") {
    return expect_requests(step, ctx, section, index);
  } else if (step.op == "fault") {
    json request = localized(e["rule"], ctx);
    request["cmd"] = "fault";
    ctx.control->must(request, command_deadline(0));
  } else if (step.op == "wait_request") {
    int count = e.value("count", 1);
    bool interrupted = e.value("interrupted", false);
    json answer = ctx.control->must({{"cmd", "wait_held"},
                                     {"gate", e["gate"]},
                                     {"count", count},
                                     {"interrupted", interrupted},
                                     {"timeout_ms", static_cast<long long>(seconds * 1000)}},
                                    command_deadline(seconds));
    if (answer.value("timed_out", false)) {
      ctx.mismatch(step, section, index, "held",
                   fmt::format("{} request(s) held{} at gate {}", count, interrupted ? " and interrupted" : "",
                               e["gate"].get<std::string>()),
                   fmt::format("{} within {} s", answer.value("held", 0), seconds));
      return StepStatus::mismatch;
    }
  } else if (step.op == "release") {
    ctx.control->must({{"cmd", "release"}, {"gate", e["gate"]}}, command_deadline(0));
  } else if (step.op == "notify") {
    json request = localized(e, ctx);
    request["cmd"] = "notify";
    request["timeout_ms"] = static_cast<long long>(seconds * 1000);
    return answered_step(step, ctx, section, index, request, seconds);
  } else if (step.op == "backend") {
    json request = localized(e, ctx);
    request["cmd"] = "backend";
    return answered_step(step, ctx, section, index, request, seconds);
  }
  return StepStatus::ok;
}

}  // namespace

namespace {

bool entry_reply(const std::string& op) {
  return op == "LOOKUP" || op == "CREATE" || op == "MKDIR" || op == "MKNOD" || op == "SYMLINK" || op == "LINK";
}

}  // namespace

void append_step_requests(TestContext& ctx, uint64_t since, uint64_t until) {
  json answer = ctx.control->must({{"cmd", "trace"}, {"since", since}}, command_deadline(0));
  for (const auto& r : answer["requests"]) {
    if (r.value("seq", 0ULL) >= until) break;
    std::string op = r.value("op", "");
    std::string result = op == "FORGET" || op == "BATCH_FORGET" ? fmt::format("nlookup {}", r.value("nlookup", 0ULL))
                         : !r.value("answered", false)          ? "not answered yet"
                         : r.value("error", 0) != 0             ? std::string("failed")
                         : entry_reply(op) ? fmt::format("ok, node {}", r.value("reply_node", 0ULL))
                                           : "ok";
    ctx.result.transcript.push_back(
        fmt::format("    request node {} {}: {}", r.value("node", 0ULL), describe_record(r), result));
  }
}

std::string control_path(const TestContext& ctx, const std::string& relative) {
  return relative == "." ? ctx.workdir_in_mount : ctx.workdir_in_mount + "/" + relative;
}

int drop_caches_level(const std::string& what) { return what == "pages" ? 1 : what == "dentries" ? 2 : 3; }

namespace {

// This process's own writes to drop_caches, as /proc/vmstat counts them (drop_pagecache for
// level 1, drop_slab for 2, both for 3).
std::atomic<uint64_t> own_cache_drops{0};

uint64_t machine_cache_drops() {
  std::ifstream vmstat("/proc/vmstat");
  uint64_t total = 0;
  std::string key;
  uint64_t value = 0;
  while (vmstat >> key >> value)
    if (key == "drop_pagecache" || key == "drop_slab") total += value;
  return total;
}

}  // namespace

uint64_t foreign_cache_drops() { return machine_cache_drops() - own_cache_drops.load(); }

std::string drop_kernel_caches(int what, ControlClient* control, milliseconds between_passes) {
  // Not while another fusecheck process runs a kernel scenario.
  {
    fusepp::CacheDrop exclusive;
    for (int pass = 0; pass < 2; ++pass) {
      int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
      if (fd < 0) return fmt::format("cannot open /proc/sys/vm/drop_caches: {}", strerror(errno));
      std::string level = std::to_string(what);
      bool written = ::write(fd, level.data(), level.size()) == static_cast<ssize_t>(level.size());
      int err = errno;
      ::close(fd);
      if (!written) return fmt::format("writing /proc/sys/vm/drop_caches: {}", strerror(err));
      own_cache_drops += (what & 1 ? 1 : 0) + (what & 2 ? 1 : 0);
      if (pass == 0) std::this_thread::sleep_for(between_passes);
    }
  }
  if (control) control->must({{"cmd", "wait_quiet"}, {"quiet_ms", 100}, {"timeout_ms", 5000}}, milliseconds(8000));
  return "";
}

StepStatus run_kernel_step(const Step& step, TestContext& ctx, const std::string& section, int index) {
  if (step.op == "drop_caches") {
    std::string error = drop_kernel_caches(drop_caches_level(step.engine["what"]), ctx.control);
    if (error.empty()) return StepStatus::ok;
    ctx.result.reason = error;
    return StepStatus::broken;
  }
  if (step.op == "remount") return ctx.remount(step, section, index);
  if (step.op == "abort_connection") {
    ctx.mount.abort_connection("the scenario's abort_connection step");
    ctx.aborted_on_purpose = true;
    return StepStatus::ok;
  }
  if (!ctx.control) {
    ctx.result.reason = step.op + " needs the target's control channel, and it has none";
    return StepStatus::broken;
  }
  try {
    return control_step(step, ctx, section, index);
  } catch (const HarnessError& error) {
    ctx.result.reason = fmt::format("{} step {} ({}): {}", section, index, step.summary, error.what());
    return StepStatus::broken;
  }
}

}  // namespace fusecheck
