// Scenario parser, kernel interaction steps (docs/scenario-format.md section 5.3): mark,
// expect_requests, fault, wait_request, release, notify, backend, drop_caches, remount,
// abort_connection, signal and await; background actor steps and `expect: hang`; and
// must_fail_with. Fault rules and notifications are checked against the control protocol
// (docs/control-protocol.md) here, so a typo is a file:line:col error, not a run-time one.
#include <algorithm>
#include <regex>

#include "scenario_parser.hpp"

namespace fusecheck::parsing {

using nlohmann::json;

namespace {

// The kernel's opcode names as the control protocol's trace records spell them.
const std::vector<std::string>& opcode_names() {
  static const std::vector<std::string> names = {
      "LOOKUP",       "FORGET",      "GETATTR",     "SETATTR", "READLINK",        "SYMLINK",    "MKNOD",
      "MKDIR",        "UNLINK",      "RMDIR",       "RENAME",  "RENAME2",         "LINK",       "OPEN",
      "READ",         "WRITE",       "STATFS",      "RELEASE", "FSYNC",           "SETXATTR",   "GETXATTR",
      "LISTXATTR",    "REMOVEXATTR", "FLUSH",       "OPENDIR", "READDIR",         "RELEASEDIR", "FSYNCDIR",
      "GETLK",        "SETLK",       "SETLKW",      "ACCESS",  "CREATE",          "IOCTL",      "POLL",
      "BATCH_FORGET", "FALLOCATE",   "READDIRPLUS", "LSEEK",   "COPY_FILE_RANGE", "STATX"};
  return names;
}

// Steps that speak to the control channel; the others (drop_caches, abort_connection,
// signal, await) run on any FUSE target.
bool needs_trace(const std::string& op) {
  return op == "mark" || op == "expect_requests" || op == "fault" || op == "wait_request" || op == "release" ||
         op == "notify" || op == "backend";
}

const std::regex& plain_name() {
  static const std::regex name("[a-z][a-z0-9_]*");
  return name;
}

}  // namespace

json Parser::json_scalar(const YAML::Node& node, const std::string& what) const {
  std::string raw = text(node, what);
  if (raw == "true" || raw == "false") return raw == "true";
  try {
    size_t used = 0;
    double number = std::stod(raw, &used);
    if (used == raw.size()) {
      if (raw.find_first_of(".eE") == std::string::npos) return integer(node, what);
      return number;
    }
  } catch (const std::exception&) {
  }
  return raw;
}

json Parser::notification(const YAML::Node& node, const std::string& what) const {
  json n;
  n["kind"] = text(child(node, "kind"), what + " kind");
  static const std::vector<std::string> kinds = {"inval_entry", "expire_entry", "delete", "inval_inode", "store"};
  if (std::find(kinds.begin(), kinds.end(), n["kind"].get<std::string>()) == kinds.end())
    fail(child(node, "kind"), fmt::format("{} kind must be one of: {}", what, fmt::join(kinds, ", ")));
  std::string path = child(node, "path") ? text(child(node, "path"), what + " path") : ".";
  if (path != ".") confined(child(node, "path"), path, "path");
  n["path"] = path;
  bool entry = n["kind"] != "inval_inode" && n["kind"] != "store";
  if (entry) {
    if (!child(node, "name"))
      fail(node,
           fmt::format("{} {} needs name: (an entry of the directory path:)", what, n["kind"].get<std::string>()));
    n["name"] = text(child(node, "name"), what + " name");
  } else if (child(node, "name")) {
    fail(child(node, "name"), what + " name: belongs to the entry kinds (inval_entry, expire_entry, delete)");
  }
  if (child(node, "child")) {
    if (n["kind"] != "delete") fail(child(node, "child"), "child: belongs to a delete notification");
    confined(child(node, "child"), text(child(node, "child"), "child"), "child");
    n["child_path"] = text(child(node, "child"), "child");
  } else if (n["kind"] == "delete") {
    fail(node, what + " delete needs child: the path of the node being deleted");
  }
  for (const char* key : {"offset", "length"})
    if (child(node, key)) n[key] = integer(child(node, key), what + " " + key);
  if (n["kind"] == "store") {
    if (!child(node, "data")) fail(node, what + " store needs data: (the bytes put into the page cache)");
    n["data"] = text(child(node, "data"), what + " data");
  }
  return n;
}

json Parser::fault_rule(const YAML::Node& node) const {
  if (!node.IsMap()) fail(node, "a fault rule is a map (docs/control-protocol.md, \"Fault rule\")");
  check_keys(node,
             {"op", "path", "name", "nth", "times", "notify", "delay_ms", "hold", "error", "negative_entry", "reply",
              "ignore_interrupts"},
             "fault rule");
  json rule = json::object();
  if (child(node, "op")) {
    std::string op = text(child(node, "op"), "fault op");
    const auto& names = opcode_names();
    if (std::find(names.begin(), names.end(), op) == names.end())
      fail(child(node, "op"), fmt::format("fault op '{}' is not a FUSE opcode name (LOOKUP, GETATTR, READ...)", op));
    rule["op"] = op;
  }
  if (child(node, "path")) {
    std::string path = text(child(node, "path"), "fault path");
    if (path != ".") confined(child(node, "path"), path, "path");
    rule["path"] = path;
  }
  if (child(node, "name")) rule["name"] = text(child(node, "name"), "fault name");
  for (const char* key : {"nth", "times", "delay_ms"})
    if (child(node, key)) rule[key] = non_negative(child(node, key), std::string("fault ") + key);
  if (child(node, "hold")) rule["hold"] = text(child(node, "hold"), "fault hold (a gate name)");
  if (child(node, "error")) {
    auto err = errno_from_name(text(child(node, "error"), "fault error"));
    if (!err) fail(child(node, "error"), "fault error must be an errno name (EIO, ENOENT, ESTALE...)");
    rule["error"] = *err;
  }
  if (child(node, "negative_entry")) rule["negative_entry"] = seconds(child(node, "negative_entry"), "negative_entry");
  if (child(node, "ignore_interrupts"))
    rule["ignore_interrupts"] = boolean(child(node, "ignore_interrupts"), "ignore_interrupts");
  if (child(node, "notify")) {
    if (!child(node, "notify").IsMap()) fail(child(node, "notify"), "fault notify is a notification map");
    check_keys(child(node, "notify"), {"kind", "path", "name", "child", "offset", "length", "data"}, "notification");
    rule["notify"] = notification(child(node, "notify"), "fault notify");
  }
  if (child(node, "reply")) {
    const YAML::Node& reply = child(node, "reply");
    if (!reply.IsMap()) fail(reply, "fault reply is a map of reply changes");
    check_keys(reply,
               {"mode", "size", "ino", "generation", "mtime_ns", "entry_timeout", "attr_timeout", "keep_cache",
                "direct_io", "negative_timeout"},
               "fault reply");
    for (const auto& entry : reply) {
      std::string key = entry.first.Scalar();
      if (key == "keep_cache" || key == "direct_io")
        rule["reply"][key] = boolean(entry.second, key);
      else if (key.ends_with("timeout"))
        rule["reply"][key] = seconds(entry.second, key);
      else if (key == "mtime_ns")  // nanoseconds since the epoch: no size limit
        rule["reply"][key] = integer(entry.second, key);
      else
        rule["reply"][key] = non_negative(entry.second, key);
    }
  }
  return rule;
}

json Parser::request_matcher(const YAML::Node& node) const {
  if (!node.IsMap()) fail(node, "a request matcher is a map such as {op: LOOKUP, name: f, count: 1}");
  check_keys(node, {"op", "name", "path", "error", "interrupted", "entries", "count"}, "request matcher");
  if (!child(node, "op")) fail(node, "a request matcher needs op: (a FUSE opcode name)");
  json m;
  m["op"] = text(child(node, "op"), "op");
  const auto& names = opcode_names();
  if (std::find(names.begin(), names.end(), m["op"].get<std::string>()) == names.end())
    fail(child(node, "op"), fmt::format("'{}' is not a FUSE opcode name", m["op"].get<std::string>()));
  if (child(node, "name")) m["name"] = text(child(node, "name"), "name");
  if (child(node, "path")) {
    std::string path = text(child(node, "path"), "path");
    if (path != ".") confined(child(node, "path"), path, "path");
    m["path"] = path;
  }
  if (child(node, "error")) {
    std::string raw = text(child(node, "error"), "error");
    auto err = raw == "ok" ? std::optional<int>(0) : errno_from_name(raw);
    if (!err) fail(child(node, "error"), "error must be ok or an errno name");
    m["error"] = *err;
  }
  if (child(node, "interrupted")) m["interrupted"] = boolean(child(node, "interrupted"), "interrupted");
  if (child(node, "entries")) m["entries"] = non_negative(child(node, "entries"), "entries");
  m["count"] = json{{"ge", 1}};
  if (const YAML::Node& count = child(node, "count")) {
    if (count.IsScalar()) {
      m["count"] = json{{"eq", non_negative(count, "count")}};
    } else {
      check_keys(count, {"eq", "ne", "lt", "le", "gt", "ge"}, "count");
      m["count"] = json::object();
      for (const auto& entry : count) m["count"][entry.first.Scalar()] = non_negative(entry.second, "count");
    }
  }
  return m;
}

// signal and await name the actor whose background call they concern; the other kernel
// steps are the engine's own.
void Parser::kernel_step_actor(const YAML::Node& node, const Scenario& scenario, const FlowState& flow,
                               Step& step) const {
  const std::string& op = step.op;
  if (child(node, "background"))
    fail(child(node, "background"), op + " is made by the engine and cannot run in the background");
  if (op != "signal" && op != "await") {
    if (child(node, "actor")) fail(child(node, "actor"), op + " is made by the engine and takes no actor");
    return;
  }
  if (!child(node, "actor")) fail(node, op + " needs actor: (the actor whose background call it concerns)");
  step.actor = text(child(node, "actor"), "actor");
  if (!scenario.actors.count(step.actor)) fail(child(node, "actor"), fmt::format("unknown actor '{}'", step.actor));
  if (!flow.background.count(step.actor))
    fail(child(node, "actor"), fmt::format("actor '{}' has no call running in the background here", step.actor));
}

// notify and backend may expect an errno (or, notify, a hang); the others take no expect.
void Parser::kernel_step_expect(const YAML::Node& node, Step& step) const {
  const std::string& op = step.op;
  bool may_expect = op == "notify" || op == "backend";
  if (child(node, "expect") && !may_expect)
    fail(child(node, "expect"),
         op == "await" ? "await checks the expect: of the background step itself" : op + " takes no expect:");
  if (!child(node, "expect")) return;
  std::string raw = text(child(node, "expect"), "expect");
  if (raw == "ok") return;
  if (raw == "hang" && op == "notify") {
    step.expect.kind = Expect::Kind::hang;
    return;
  }
  auto err = errno_from_name(raw);
  if (!err)
    fail(child(node, "expect"),
         fmt::format("{} expect must be ok{} or an errno name", op, op == "notify" ? ", hang" : ""));
  step.expect.kind = Expect::Kind::error;
  step.expect.errnos.push_back(*err);
}

Step Parser::kernel_step(const YAML::Node& node, const Scenario& scenario, FlowState& flow, Step step) const {
  const std::string& op = step.op;
  kernel_step_actor(node, scenario, flow, step);
  kernel_step_expect(node, step);
  json& e = step.engine;
  e = json::object();
  step.summary = op;
  if (op == "mark") {
    std::string name = text(child(node, "name"), "mark name");
    if (!std::regex_match(name, plain_name())) fail(child(node, "name"), "a mark name must match [a-z][a-z0-9_]*");
    flow.marks.insert(name);
    e["name"] = name;
    step.summary += " " + name;
  } else if (op == "expect_requests") {
    for (const char* key : {"since", "until"}) {
      if (!child(node, key)) continue;
      std::string mark = text(child(node, key), key);
      if (!flow.marks.count(mark)) fail(child(node, key), fmt::format("no mark '{}' before this step", mark));
      e[key] = mark;
    }
    if (!child(node, "requests") || !child(node, "requests").IsSequence())
      fail(node, "expect_requests needs requests: a list of request matchers");
    e["requests"] = json::array();
    for (const auto& item : child(node, "requests")) e["requests"].push_back(request_matcher(item));
    e["order"] = child(node, "order") ? boolean(child(node, "order"), "order") : false;
    std::string others = child(node, "others") ? text(child(node, "others"), "others") : "any";
    if (others != "any" && others != "none") fail(child(node, "others"), "others must be any or none");
    e["others"] = others;
    step.summary += e.contains("since") ? " since " + e["since"].get<std::string>() : " of the previous step";
  } else if (op == "fault") {
    e["rule"] = fault_rule(child(node, "rule"));
    step.summary += " " + e["rule"].dump();
  } else if (op == "wait_request" || op == "release") {
    e["gate"] = text(child(node, "gate"), "gate");
    if (child(node, "count")) e["count"] = integer(child(node, "count"), "count");
    if (child(node, "interrupted")) e["interrupted"] = boolean(child(node, "interrupted"), "interrupted");
    step.summary += " " + e["gate"].get<std::string>();
  } else if (op == "notify") {
    e = notification(node, "notify");
    step.summary += " " + e["kind"].get<std::string>() + " " + e["path"].get<std::string>();
  } else if (op == "backend") {
    e["action"] = text(child(node, "action"), "action");
    for (const char* key : {"path", "to"})
      if (child(node, key)) {
        confined(child(node, key), text(child(node, key), key), key);
        e[key] = text(child(node, key), key);
      }
    for (const char* key : {"offset", "size", "mode", "type"})
      if (child(node, key)) e[key] = integer(child(node, key), key);
    if (child(node, "data")) e["data"] = text(child(node, "data"), "data");
    if (child(node, "keep_times")) e["keep_times"] = boolean(child(node, "keep_times"), "keep_times");
    step.summary += " " + e["action"].get<std::string>() + " " + e["path"].get<std::string>();
  } else if (op == "drop_caches") {
    e["what"] = child(node, "what") ? text(child(node, "what"), "what") : "all";
    step.summary += " " + e["what"].get<std::string>();
  } else if (op == "remount") {
    no_handles_across_remount(node, flow);
  } else if (op == "signal") {
    e["signal"] = text(child(node, "signal"), "signal");
    step.summary += " " + e["signal"].get<std::string>() + " to " + step.actor;
    if (e["signal"] == "SIGKILL") flow.background.erase(step.actor);
  } else if (op == "await") {
    flow.background.erase(step.actor);
    step.summary += " " + step.actor;
  }
  if (flow.section != "steps" && op != "mark" && op != "fault")
    fail(node, op + " belongs in steps: (setup and cleanup may only mark and set fault rules)");
  return step;
}

// A remount ends every descriptor, directory stream and mapping on the mount (the unmount
// needs that, and the actors leave the workdir for it): a handle still open is an error here
// rather than an EBUSY or a dead handle at run time.
void Parser::no_handles_across_remount(const YAML::Node& node, const FlowState& flow) const {
  for (const auto* handles : {&flow.fds, &flow.dirs, &flow.maps})
    for (const auto& [actor, names] : *handles)
      if (!names.empty())
        fail(node, fmt::format("remount with '{}' of actor '{}' still open: close it first (a remount ends every "
                               "handle on the mount)",
                               *names.begin(), actor));
  if (!flow.background.empty())
    fail(node, fmt::format("remount while actor '{}' is in its background call from {} (await it first)",
                           flow.background.begin()->first, flow.background.begin()->second));
}

// Background calls, await and `expect: hang` on an actor step.
void Parser::actor_flow(const YAML::Node& node, Step& step, FlowState& flow) const {
  if (flow.background.count(step.actor))
    fail(node, fmt::format("actor '{}' is still in its background call from {} (await it first)", step.actor,
                           flow.background.at(step.actor)));
  if (child(node, "background")) {
    step.background = boolean(child(node, "background"), "background");
    if (step.background && flow.section != "steps")
      fail(child(node, "background"), "background calls belong in steps:");
    if (step.background) {
      if (!step.save.empty()) fail(child(node, "save"), "a background call cannot save its result");
      flow.background[step.actor] = step.where;
      step.summary += " (in the background)";
    }
  }
  if (step.expect.kind != Expect::Kind::hang) return;
  if (flow.section != "steps") fail(child(node, "expect"), "expect: hang belongs in steps:");
  if (step.background)
    fail(child(node, "expect"), "a background call cannot expect a hang; expect it of the call itself");
  flow.hung = true;
}

void Parser::kernel_requirements(const YAML::Node& doc, Scenario& s) const {
  auto scan = [&](const std::vector<Step>& steps) {
    for (const auto& step : steps) {
      const OpSpec* op = find_op(step.op);
      bool kernel = op && op->family == OpFamily::engine && step.op != "sleep" && step.op != "parallel";
      if (kernel || step.background || step.expect.kind == Expect::Kind::hang) s.isolated = true;
      if (needs_trace(step.op)) s.requires_features.insert("trace");
      if (step.op == "backend") s.requires_features.insert("backend");
      if (step.op == "drop_caches" || step.op == "remount") s.requires_features.insert("root");
      // The kernel forgets the dentries and inodes of any filesystem, and a directory target
      // "remounts" too: neither step needs FUSE.
      bool fuse_only = kernel && step.op != "drop_caches" && step.op != "remount";
      if (fuse_only || step.expect.kind == Expect::Kind::hang) s.requires_features.insert("fuse");
    }
  };
  scan(s.setup);
  scan(s.steps);
  scan(s.cleanup);
  bool kernel_tag = std::find(s.tags.begin(), s.tags.end(), "kernel") != s.tags.end();
  if (kernel_tag || child(doc, "must_fail_with")) s.isolated = true;
  if (const YAML::Node& breaker = child(doc, "must_fail_with")) {
    if (!breaker.IsMap()) fail(breaker, "must_fail_with is a map: {fault: RULE or [RULES], mount: [OPTIONS]}");
    check_keys(breaker, {"fault", "mount"}, "must_fail_with");
    if (const YAML::Node& rules = child(breaker, "fault")) {
      if (rules.IsSequence())
        for (const auto& rule : rules) s.breaker_rules.push_back(fault_rule(rule));
      else
        s.breaker_rules.push_back(fault_rule(rules));
      s.requires_features.insert("trace");
    }
    if (child(breaker, "mount")) s.breaker_mount = string_list(child(breaker, "mount"), "must_fail_with mount");
    if (s.breaker_rules.empty() && s.breaker_mount.empty()) fail(breaker, "must_fail_with needs fault: or mount:");
    s.has_breaker = true;
  } else if (kernel_tag) {
    fail(doc, "a scenario tagged kernel needs must_fail_with: what breaks the behaviour it checks");
  }
  // memfs keeps its tree through a remount only when asked over its control channel.
  bool remounts = false;
  for (const auto* steps : {&s.setup, &s.steps, &s.cleanup})
    for (const auto& step : *steps) remounts = remounts || step.op == "remount";
  s.control = s.requires_features.count("trace") != 0 || remounts;
}

}  // namespace fusecheck::parsing
