// Scenario parser, steps: a step's op is looked up in the op table, its keys and arguments
// checked against the op's row, handles and saved names followed through the file, and
// `repeat:` unrolled into one step per iteration with ${i} set.
#include <algorithm>
#include <regex>

#include "fusecheck/protocol.hpp"
#include "scenario_parser.hpp"

namespace fusecheck::parsing {

using nlohmann::json;

namespace {

const std::vector<std::string> step_common_keys = {"op", "actor", "expect", "save", "note", "timeout", "background"};
constexpr long long kMaxRepeat = 10000;

bool has_times(const std::string& op) { return op == "utimensat" || op == "futimens"; }

using HandleNames = std::map<std::string, std::set<std::string>> FlowState::*;

// The word a handle argument's errors use and the names of that kind open per actor.
std::pair<const char*, HandleNames> handle_kind(ArgType type) {
  switch (type) {
    case ArgType::fd_use:
    case ArgType::fd_bind: return {"fd", &FlowState::fds};
    case ArgType::map_use:
    case ArgType::map_bind: return {"map", &FlowState::maps};
    default: return {"dir", &FlowState::dirs};
  }
}

}  // namespace

std::vector<Step> Parser::steps(const YAML::Node& node, const std::string& section, const Scenario& scenario,
                                const std::string& default_actor, FlowState& flow) const {
  std::vector<Step> out;
  if (!node) return out;
  if (!node.IsSequence()) fail(node, section + " must be a list of steps");
  flow.section = section;
  for (const auto& item : node) {
    if (flow.hung) fail(item, "no step can follow one that expects a hang (the engine aborts the connection)");
    if (item.IsMap() && child(item, "repeat"))
      repeat(item, scenario, default_actor, flow, out);
    else
      out.push_back(step(item, scenario, default_actor, flow, false));
  }
  for (const auto& [actor, where] : flow.background)
    throw FileError(fmt::format("{}: actor '{}' runs this call in the background, but no `await` of it follows in {}",
                                where, actor, section));
  return out;
}

// {repeat: N, start: S, steps: [...]}: the steps N times, with ${i} = S, S+1, ..., S+N-1.
void Parser::repeat(const YAML::Node& node, const Scenario& scenario, const std::string& default_actor, FlowState& flow,
                    std::vector<Step>& out) const {
  check_keys(node, {"repeat", "start", "steps", "note"}, "repeat");
  if (!repeat_vars_.empty()) fail(node, "repeat cannot nest");
  if (params_.count("i")) fail(node, "repeat sets ${i}, which is also a parameter of this scenario");
  long long count = integer(child(node, "repeat"), "repeat");
  if (count < 1 || count > kMaxRepeat)
    fail(child(node, "repeat"), fmt::format("repeat must be within 1..{}", kMaxRepeat));
  long long start = child(node, "start") ? integer(child(node, "start"), "repeat start") : 0;
  const YAML::Node& body = child(node, "steps");
  if (!body || !body.IsSequence() || body.size() == 0) fail(node, "repeat needs steps: a non-empty list of steps");
  struct ClearVars {
    std::map<std::string, std::string>& vars;
    ~ClearVars() { vars.clear(); }
  } clear{repeat_vars_};
  for (long long i = start; i < start + count; ++i) {
    repeat_vars_["i"] = std::to_string(i);
    for (const auto& item : body) {
      if (item.IsMap() && child(item, "repeat")) fail(item, "repeat cannot nest");
      out.push_back(step(item, scenario, default_actor, flow, false));
      out.back().summary += fmt::format(" [i={}]", i);
    }
  }
}

Step Parser::step(const YAML::Node& node, const Scenario& scenario, const std::string& default_actor, FlowState& flow,
                  bool in_parallel) const {
  if (!node.IsMap()) fail(node, "a step must be a map with an op");
  if (!child(node, "op")) fail(node, child(node, "repeat") ? "repeat cannot be used here" : "step has no op");
  if (++budget_->steps > kMaxSteps)
    fail(node, fmt::format("more than {} steps in the file (repeats and params included)", kMaxSteps));
  if (interrupt_requested()) fail(node, "interrupted");
  Step step;
  step.where = where(node);
  step.op = text(child(node, "op"), "op");
  const OpSpec* op = find_op(step.op);
  if (op == nullptr) fail(child(node, "op"), fmt::format("unknown op '{}'", step.op));

  std::vector<std::string> allowed = step_common_keys;
  for (const auto& arg : op->args) allowed.push_back(arg.name);
  if (op->data != DataArg::none) allowed.insert(allowed.end(), data_keys.begin(), data_keys.end());
  if (op->family == OpFamily::engine) std::erase(allowed, std::string("save"));
  if (has_times(step.op)) allowed.push_back("times");
  if (step.op == "parallel") allowed = {"op", "steps", "note"};
  check_keys(node, allowed, "step '" + step.op + "'");

  if (child(node, "note")) step.note = text(child(node, "note"), "note");
  if (child(node, "timeout")) step.timeout = seconds(child(node, "timeout"), "timeout");

  if (step.op == "parallel") {
    if (in_parallel) fail(node, "parallel steps cannot nest");
    return parallel_step(node, scenario, default_actor, flow, std::move(step));
  }
  if (step.op == "sleep") return sleep_step(node, std::move(step));
  if (op->family == OpFamily::engine) return kernel_step(node, scenario, flow, std::move(step));

  step.actor = child(node, "actor") ? text(child(node, "actor"), "actor") : default_actor;
  if (!scenario.actors.count(step.actor))
    fail(child(node, "actor") ? child(node, "actor") : node,
         fmt::format("unknown actor '{}' (declare it under actors:)", step.actor));
  StepInput in{node, *op, scenario, flow, step};
  arguments(in);
  times_and_data(in);
  if (step.actor != "root") step.summary += " (as " + step.actor + ")";
  step.expect = expect(child(node, "expect"), *op, flow);
  save(in);
  actor_flow(node, step, flow);
  if (in_parallel && (step.background || step.expect.kind == Expect::Kind::hang))
    fail(node, "a step inside parallel can neither run in the background nor expect a hang");
  return step;
}

Step Parser::parallel_step(const YAML::Node& node, const Scenario& scenario, const std::string& default_actor,
                           FlowState& flow, Step step) const {
  if (!child(node, "steps") || !child(node, "steps").IsSequence() || child(node, "steps").size() < 2)
    fail(node, "parallel needs steps: a list of at least two steps");
  std::set<std::string> used;
  for (const auto& sub : child(node, "steps")) {
    Step inner = this->step(sub, scenario, default_actor, flow, true);
    if (inner.op == "sleep") fail(sub, "sleep cannot run inside parallel");
    if (!used.insert(inner.actor).second)
      fail(sub, fmt::format("actor '{}' appears twice in one parallel step; each sub-step needs its own actor",
                            inner.actor));
    step.parallel.push_back(std::move(inner));
  }
  step.summary = "parallel";
  return step;
}

Step Parser::sleep_step(const YAML::Node& node, Step step) const {
  if (child(node, "actor")) fail(child(node, "actor"), "sleep is made by the engine and takes no actor");
  step.sleep_seconds = seconds(child(node, "seconds"), "seconds");
  if (step.sleep_seconds > 60) fail(child(node, "seconds"), "sleep longer than 60 s");
  step.summary = fmt::format("sleep {}", step.sleep_seconds);
  return step;
}

void Parser::arguments(StepInput in) const {
  in.step.request["op"] = in.step.op;
  in.step.summary = in.step.op;
  for (const auto& arg : in.op.args) {
    YAML::Node value = child(in.node, arg.name);
    if (!value) {
      if (arg.required) fail(in.node, fmt::format("{} needs '{}'", in.step.op, arg.name));
      continue;
    }
    argument(in, arg, value);
  }
}

void Parser::argument(StepInput in, const ArgSpec& arg, const YAML::Node& value) const {
  json& request = in.step.request;
  std::string& summary = in.step.summary;
  std::string what = in.step.op + " " + arg.name;
  switch (arg.type) {
    case ArgType::path:
    case ArgType::symlink_target:
    case ArgType::name_prefix: return path_argument(in, arg, value);
    case ArgType::fd_use:
    case ArgType::dir_use:
    case ArgType::fd_bind:
    case ArgType::dir_bind:
    case ArgType::map_use:
    case ArgType::map_bind: return handle_argument(in, arg, value);
    case ArgType::mode:
    case ArgType::integer:
    case ArgType::uid:
    case ArgType::gid: return integer_argument(in, arg, value);
    case ArgType::flags:
      request[arg.name] = flags_value(value, arg.family, what);
      summary += " " + flags_text(value);
      return;
    case ArgType::time:
      if (child(in.node, "times")) fail(value, "give either times: null or atime/mtime");
      request[arg.name] = time_value(value, what);
      summary += fmt::format(" {}={}", arg.name, value.IsScalar() ? text(value, what) : "{..}");
      return;
    case ArgType::text:
      request[arg.name] = text(value, what);
      summary += " " + request[arg.name].get<std::string>();
      return;
    case ArgType::choice: {
      std::string choice = text(value, what);
      if (std::find(arg.choices.begin(), arg.choices.end(), choice) == arg.choices.end())
        fail(value, fmt::format("{} '{}' is not one of: {}", what, choice, fmt::join(arg.choices, ", ")));
      request[arg.name] = choice;
      summary += " " + choice;
      return;
    }
    case ArgType::value: {
      ValueRef ref = value_ref(value, what, in.flow, nullptr);
      if (ref.kind == ValueRef::Kind::literal)
        request[arg.name] = ref.literal;
      else
        in.step.ref_args[arg.name] = ref;
      summary += " " + arg.name;
      return;
    }
    case ArgType::seconds:
    case ArgType::spec: return;
  }
}

// Paths, symlink targets and name prefixes: lexically confined to the workdir.
void Parser::path_argument(StepInput in, const ArgSpec& arg, const YAML::Node& value) const {
  std::string text_value = text(value, in.step.op + " " + arg.name);
  if (arg.type == ArgType::path) {
    confined(value, text_value, arg.name);
  } else if (arg.type == ArgType::name_prefix) {
    confined(value, text_value + "0", arg.name);
  } else {
    // A link's text is confined relative to the directory the link is made in.
    if (!child(in.node, "path")) fail(in.node, "symlink needs 'path'");
    auto link = confined(child(in.node, "path"), text(child(in.node, "path"), "path"), "path");
    link.pop_back();
    confined(value, text_value, "symlink target", link);
  }
  in.step.request[arg.name] = text_value;
  in.step.summary += " " + text_value;
}

// fd, dir and map names: a use must name a handle the same actor has open at this point.
void Parser::handle_argument(StepInput in, const ArgSpec& arg, const YAML::Node& value) const {
  std::string name = text(value, in.step.op + " " + arg.name);
  auto [kind, handles] = handle_kind(arg.type);
  auto& open = (in.flow.*handles)[in.step.actor];
  if (arg.type == ArgType::fd_bind || arg.type == ArgType::dir_bind || arg.type == ArgType::map_bind) {
    static const std::regex handle_name("[a-z][a-z0-9_]*");
    if (!std::regex_match(name, handle_name))
      fail(value, fmt::format("handle name '{}' must match [a-z][a-z0-9_]*", name));
    open.insert(name);
  } else {
    if (!open.count(name))
      fail(value,
           fmt::format("{} '{}' is not open in actor '{}' at this step (open it first)", kind, name, in.step.actor));
    if (in.step.op == "close" || in.step.op == "closedir" || in.step.op == "munmap") open.erase(name);
    in.step.summary += " " + name;
  }
  in.step.request[arg.name] = name;
}

void Parser::integer_argument(StepInput in, const ArgSpec& arg, const YAML::Node& value) const {
  std::string what = in.step.op + " " + arg.name;
  long long number = arg.type == ArgType::uid || arg.type == ArgType::gid
                         ? id_value(value, arg.type == ArgType::uid, in.scenario.actors, what)
                         : integer(value, what);
  check_limits(value, arg, number, what);
  in.step.request[arg.name] = number;
  if (arg.type == ArgType::mode)
    in.step.summary += fmt::format(" {}=0{:o}", arg.name, number);
  else
    in.step.summary += fmt::format(" {}={}", arg.name, number);
}

// The op table's limits of an integer argument.
void Parser::check_limits(const YAML::Node& value, const ArgSpec& arg, long long number,
                          const std::string& what) const {
  if (number >= arg.min && number <= arg.max) return;
  if (arg.type == ArgType::mode) {
    if (number < 0) fail(value, fmt::format("{} {} is negative (0..0{:o})", what, number, arg.max));
    fail(value, fmt::format("{} 0{:o} is not a {} (0..0{:o})", what, number, arg.limit_reason, arg.max));
  }
  std::string why = arg.limit_reason.empty() ? "" : "; " + arg.limit_reason;
  fail(value, fmt::format("{} {} is out of range ({}..{}{})", what, number, arg.min, arg.max, why));
}

void Parser::times_and_data(StepInput in) const {
  const YAML::Node& node = in.node;
  if (has_times(in.step.op)) {
    if (child(node, "times")) {
      if (!child(node, "times").IsNull()) fail(child(node, "times"), "times: may only be null (a NULL times array)");
      in.step.request["times_null"] = true;
      in.step.summary += " times=NULL";
    } else if (!child(node, "atime") || !child(node, "mtime")) {
      fail(node, in.step.op + " needs atime and mtime (now, omit, ns or {sec, nsec}), or times: null");
    }
  }
  if (in.op.data == DataArg::none) return;
  int given = 0;
  for (const auto& key : data_keys) {
    if (!child(node, key)) continue;
    ++given;
    std::string bytes = data_value(node, key, child(node, key));
    in.step.request["data"] = to_hex(bytes);
    in.step.summary += fmt::format(" <{} bytes>", bytes.size());
  }
  if (given > 1) fail(node, "give only one of data:, hex:, gen:, zeros:");
  if (given == 0 && in.op.data == DataArg::required) fail(node, in.step.op + " needs data:, hex:, gen: or zeros:");
}

void Parser::save(StepInput in) const {
  if (!child(in.node, "save")) return;
  in.step.save = text(child(in.node, "save"), "save");
  if (in.step.expect.kind != Expect::Kind::ok) fail(child(in.node, "save"), "save: needs a step that expects success");
  if (in.op.results.empty()) fail(child(in.node, "save"), fmt::format("{} has no result to save", in.step.op));
  in.flow.saved[in.step.save] = &in.op;
}

std::string Parser::flags_text(const YAML::Node& node) const {
  if (node.IsScalar()) return substitute(node, node.Scalar());
  std::string out;
  for (const auto& item : node) out += (out.empty() ? "" : "|") + substitute(item, item.Scalar());
  return out.empty() ? "0" : out;
}

}  // namespace fusecheck::parsing
