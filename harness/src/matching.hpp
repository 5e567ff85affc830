// Private to the harness: evaluation of `expect` field matchers against an actor's result,
// and the display of values in mismatch reports (octal modes, byte strings, lists).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "fusecheck/scenario.hpp"

namespace fusecheck::matching {

// What a matcher may refer to: the current result, saved results, the clock at the step.
struct MatchContext {
  const nlohmann::json& result;
  const std::map<std::string, nlohmann::json>& saved;
  long long now_ns;
};

// The value a reference stands for; nullopt with `error` set when it cannot be resolved.
std::optional<nlohmann::json> resolve(const ValueRef& ref, const std::string& field, const MatchContext& ctx,
                                      std::string& error);

// "" when the matcher holds, else the expectation as the report prints it.
std::string check_matcher(const Matcher& matcher, const FieldExpect& field, const nlohmann::json& got,
                          const MatchContext& ctx);

// A result value as the report prints it (modes in octal, bytes as text or hex).
std::string show(const std::string& field, FieldKind kind, const nlohmann::json& value);

}  // namespace fusecheck::matching
