// Private to the scenario parser: the Parser class whose member functions are spread over
// scenario.cpp (documents, params, actors), scenario_values.cpp (scalars, paths, data),
// scenario_steps.cpp (steps and their arguments, repeat) and scenario_matchers.cpp (expect).
#pragma once

#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>
#include <yaml-cpp/yaml.h>

#include "fusecheck/names.hpp"
#include "fusecheck/ops.hpp"
#include "fusecheck/scenario.hpp"
#include "fusecheck/text.hpp"

namespace fusecheck::parsing {

inline constexpr long long kMaxId = 4294967294LL;  // uid_t/gid_t without the (uid_t)-1 "no change"
inline const std::vector<std::string> data_keys = {"data", "hex", "gen", "zeros"};

// Limits that keep the parsing of one file linear in its size and its memory bounded,
// whatever aliases, params, repeats or data forms it uses (docs/scenario-format.md section 1).
inline constexpr size_t kMaxExpandedNodes = 2'000'000;  // YAML nodes counted through aliases
inline constexpr size_t kMaxCombinations = 1000;        // params rows
inline constexpr size_t kMaxSteps = 100'000;            // steps of all combinations, repeats unrolled
inline constexpr size_t kMaxDataBytes = 32 << 20;       // data:, gen:, zeros:, ranges of all combinations
inline constexpr double kMaxTimeout = 600;              // seconds, scenario and step timeouts

// map[key] as yaml-cpp answers it (an undefined node when the key is absent), without its
// cost for an absent key: yaml-cpp formats the key through a std::stringstream for the
// undefined node's error message, 4,800 instructions a time, and a step probes many optional
// keys (8% of loading every scenario). Only that message's key text differs.
YAML::Node child(const YAML::Node& map, std::string_view key);

// What one file has used of the limits so far, shared by the parsers of its combinations.
struct ParseBudget {
  size_t steps = 0;
  size_t data_bytes = 0;
};

// Per-actor handle names open at this point of the file, and saved results so far.
struct FlowState {
  std::map<std::string, std::set<std::string>> fds, dirs, maps;
  std::map<std::string, const OpSpec*> saved;
  std::set<std::string> marks;                    // trace marks named so far
  std::map<std::string, std::string> background;  // actor -> where its unanswered call is
  bool hung = false;                              // a step expecting a hang came: it must be the last
  std::string section;                            // setup, steps or cleanup
};

// What one step is being built from, handed between the named stages of Parser::step.
struct StepInput {
  const YAML::Node& node;
  const OpSpec& op;
  const Scenario& scenario;
  FlowState& flow;
  Step& step;
};

class Parser {
 public:
  Parser(std::string file, std::map<std::string, std::string> params, ParseBudget* budget = nullptr)
      : file_(std::move(file)), params_(std::move(params)), budget_(budget ? budget : &own_budget_) {}

  // The message is made printable on one line: it may quote the file's own bytes.
  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const {
    throw FileError(fmt::format("{}: {}", where(node), printable(message, false)));
  }
  std::string where(const YAML::Node& node) const;

  // Map keys, in place; true if one outside params holds a '$' (see scenario_values.cpp).
  bool rewrite_keys(YAML::Node node, bool substitute_params, std::set<size_t>& seen, bool top = false) const;
  // Fails unless the document, counted through its aliases, has at most kMaxExpandedNodes nodes.
  void check_expanded_size(const YAML::Node& doc) const;
  // Charges `bytes` of generated data or list items to the file's budget.
  void spend_data(const YAML::Node& node, size_t bytes) const;
  Scenario scenario(const YAML::Node& doc, const std::string& base_name,
                    const std::vector<std::pair<std::string, std::string>>& combination);

  // Scalars, lists, paths and data (scenario_values.cpp).
  std::string substitute(const YAML::Node& node, const std::string& raw) const;
  std::string text(const YAML::Node& node, const std::string& what) const;
  long long integer_text(const YAML::Node& node, const std::string& raw, const std::string& what) const;
  long long integer(const YAML::Node& node, const std::string& what) const;
  double seconds(const YAML::Node& node, const std::string& what) const;
  bool boolean(const YAML::Node& node, const std::string& what) const;
  void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& what) const;
  std::vector<std::string> string_list(const YAML::Node& node, const std::string& what) const;
  std::vector<std::string> confined(const YAML::Node& node, const std::string& path, const std::string& what,
                                    std::vector<std::string> start = {}) const;
  std::string data_value(const YAML::Node& step, const std::string& key, const YAML::Node& value) const;
  long long non_negative(const YAML::Node& node, const std::string& what) const;
  std::string bytes_literal(const YAML::Node& node, const std::string& what) const;
  long flags_value(const YAML::Node& node, FlagFamily family, const std::string& what) const;
  long long id_value(const YAML::Node& node, bool want_uid, const std::map<std::string, Identity>& actors,
                     const std::string& what, bool allow_unchanged = true) const;
  long long id_number(const YAML::Node& node, const std::string& what) const;
  nlohmann::json time_value(const YAML::Node& node, const std::string& what) const;

  // expect: and its field matchers (scenario_matchers.cpp).
  ValueRef value_ref(const YAML::Node& node, const std::string& what, const FlowState& flow,
                     const OpSpec* current) const;
  nlohmann::json literal_of(FieldKind kind, const YAML::Node& node, const std::string& what,
                            const ResultField* field = nullptr) const;
  std::vector<Matcher> matchers(FieldKind kind, const YAML::Node& node, const std::string& field, const FlowState& flow,
                                const OpSpec& op) const;
  Expect expect(const YAML::Node& node, const OpSpec& op, const FlowState& flow) const;

  // Steps (scenario_steps.cpp).
  std::vector<Step> steps(const YAML::Node& node, const std::string& section, const Scenario& scenario,
                          const std::string& default_actor, FlowState& flow) const;
  Step step(const YAML::Node& node, const Scenario& scenario, const std::string& default_actor, FlowState& flow,
            bool in_parallel) const;

 private:
  Identity identity(const YAML::Node& node, const std::string& name) const;
  void scenario_header(const YAML::Node& doc, Scenario& s) const;
  void scenario_actors(const YAML::Node& doc, Scenario& s) const;

  Matcher field_matcher(const std::string& key, const YAML::Node& value, const YAML::Node& node, FieldKind kind,
                        const std::string& field, const FlowState& flow, const OpSpec& op) const;
  void list_items(Matcher& m, FieldKind kind, const YAML::Node& value, const std::string& field,
                  const ResultField* spec) const;

  void repeat(const YAML::Node& node, const Scenario& scenario, const std::string& default_actor, FlowState& flow,
              std::vector<Step>& out) const;
  Step parallel_step(const YAML::Node& node, const Scenario& scenario, const std::string& default_actor,
                     FlowState& flow, Step step) const;
  Step sleep_step(const YAML::Node& node, Step step) const;
  // Kernel interaction steps and must_fail_with (scenario_kernel.cpp).
  Step kernel_step(const YAML::Node& node, const Scenario& scenario, FlowState& flow, Step step) const;
  void kernel_step_actor(const YAML::Node& node, const Scenario& scenario, const FlowState& flow, Step& step) const;
  void kernel_step_expect(const YAML::Node& node, Step& step) const;
  void no_handles_across_remount(const YAML::Node& node, const FlowState& flow) const;
  void actor_flow(const YAML::Node& node, Step& step, FlowState& flow) const;
  nlohmann::json fault_rule(const YAML::Node& node) const;
  nlohmann::json notification(const YAML::Node& node, const std::string& what) const;
  nlohmann::json request_matcher(const YAML::Node& node) const;
  nlohmann::json json_scalar(const YAML::Node& node, const std::string& what) const;
  void kernel_requirements(const YAML::Node& doc, Scenario& s) const;
  void arguments(StepInput in) const;
  void argument(StepInput in, const ArgSpec& arg, const YAML::Node& value) const;
  void path_argument(StepInput in, const ArgSpec& arg, const YAML::Node& value) const;
  void handle_argument(StepInput in, const ArgSpec& arg, const YAML::Node& value) const;
  void integer_argument(StepInput in, const ArgSpec& arg, const YAML::Node& value) const;
  void check_limits(const YAML::Node& value, const ArgSpec& arg, long long number, const std::string& what) const;
  void times_and_data(StepInput in) const;
  void save(StepInput in) const;
  std::string flags_text(const YAML::Node& node) const;

  std::string file_;
  std::map<std::string, std::string> params_;
  ParseBudget own_budget_;
  ParseBudget* budget_;
  mutable const std::map<std::string, Identity>* actors_ = nullptr;
  // The repeat counter while a repeat's steps are read (${i}); empty outside one.
  mutable std::map<std::string, std::string> repeat_vars_;
};

}  // namespace fusecheck::parsing
