// Field matchers of `expect` (docs/scenario-format.md section 8): comparisons, masks, saved
// references, byte strings and listings. Listings are indexed by name, since directories of
// thousands of entries are common in the scenarios.
#include "matching.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <set>
#include <unordered_map>

#include "fusecheck/names.hpp"
#include "fusecheck/protocol.hpp"

namespace fusecheck::matching {

using nlohmann::json;

namespace {

using Int = __int128;

bool as_int(const json& value, Int& out) {
  if (value.is_number_unsigned()) {
    out = static_cast<Int>(value.get<unsigned long long>());
    return true;
  }
  if (value.is_number_integer()) {
    out = static_cast<Int>(value.get<long long>());
    return true;
  }
  if (value.is_boolean()) {
    out = value.get<bool>() ? 1 : 0;
    return true;
  }
  return false;
}

std::string int_text(Int value) {
  if (value == 0) return "0";
  bool negative = value < 0;
  std::string digits;
  for (Int v = negative ? -value : value; v > 0; v /= 10) digits += static_cast<char>('0' + static_cast<int>(v % 10));
  if (negative) digits += '-';
  return {digits.rbegin(), digits.rend()};
}

bool octal_field(const std::string& field) { return field == "mode" || field == "perm"; }

std::string show_value(const std::string& field, FieldKind kind, const json& value) {
  if (kind == FieldKind::bytes && value.is_string()) {
    auto bytes = from_hex(value.get<std::string>()).value_or("");
    bool printable = std::all_of(bytes.begin(), bytes.end(), [](unsigned char c) { return c >= 32 && c < 127; });
    if (printable && bytes.size() <= 64) return fmt::format("\"{}\" ({} bytes)", bytes, bytes.size());
    std::string hex = value.get<std::string>();
    return fmt::format("{} bytes, hex {}{}", bytes.size(), hex.substr(0, 32), hex.size() > 32 ? "..." : "");
  }
  Int number;
  if (!value.is_boolean() && as_int(value, number)) {
    if (octal_field(field)) return fmt::format("0{:o}", static_cast<unsigned long long>(number));
    return int_text(number);
  }
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() > 300 ? text.substr(0, 300) + "..." : text;
}

std::string bytes_difference(const json& expected, const json& got) {
  auto a = from_hex(expected.get<std::string>()).value_or("");
  auto b = from_hex(got.get<std::string>()).value_or("");
  size_t at = 0;
  while (at < a.size() && at < b.size() && a[at] == b[at]) ++at;
  return fmt::format(" (first difference at offset {}; expected {} bytes, got {})", at, a.size(), b.size());
}

std::string element_key(const json& element) {
  if (element.is_object()) return element.value("name", "");
  return element.is_string() ? element.get<std::string>() : element.dump();
}

// An expected list element (string or {name, type?, ino?}) matches a got element.
bool element_matches(const json& expected, const json& got) {
  if (!expected.is_object()) return element_key(got) == element_key(expected);
  for (const auto& [key, value] : expected.items()) {
    if (!got.is_object() || !got.contains(key)) {
      if (key == "name" && element_key(got) == value) continue;
      return false;
    }
    if (got[key] != value) {
      Int a, b;
      if (!(as_int(got[key], a) && as_int(value, b) && a == b)) return false;
    }
  }
  return true;
}

}  // namespace

namespace {

// Applies a reference's `add:` offset; the referenced value must then be an integer.
std::optional<json> offset(const json& value, const ValueRef& ref, std::string& error) {
  if (ref.add == 0) return value;
  Int number;
  if (value.is_boolean() || !as_int(value, number)) {
    error = fmt::format("add: {} needs an integer, the referenced value is {}", ref.add, value.dump());
    return std::nullopt;
  }
  number += ref.add;
  if (number >= 0) return json(static_cast<unsigned long long>(number));
  return json(static_cast<long long>(number));
}

}  // namespace

std::optional<json> resolve(const ValueRef& ref, const std::string& field, const MatchContext& ctx,
                            std::string& error) {
  switch (ref.kind) {
    case ValueRef::Kind::literal: return ref.literal;
    case ValueRef::Kind::field:
      if (!ctx.result.contains(ref.field)) {
        error = "the result has no field " + ref.field;
        return std::nullopt;
      }
      return offset(ctx.result[ref.field], ref, error);
    case ValueRef::Kind::saved: {
      auto saved = ctx.saved.find(ref.saved);
      if (saved == ctx.saved.end()) {
        error = fmt::format("saved result '{}' is missing (its step did not run or failed)", ref.saved);
        return std::nullopt;
      }
      const std::string& wanted = ref.field.empty() ? field : ref.field;
      if (!saved->second.contains(wanted)) {
        error = fmt::format("saved result '{}' has no field {}", ref.saved, wanted);
        return std::nullopt;
      }
      return offset(saved->second[wanted], ref, error);
    }
  }
  return std::nullopt;
}

namespace {

// The expectation text of a failed comparison, with a referenced value and octal modes shown.
std::string describe_with(const Matcher& matcher, const FieldExpect& field, const json& value) {
  std::string base = matcher.describe();
  if (matcher.value.kind != ValueRef::Kind::literal) return base + " = " + show_value(field.field, field.kind, value);
  Int n;
  if (field.kind != FieldKind::bytes && octal_field(field.field) && as_int(value, n)) {
    std::string prefix = matcher.kind == Matcher::Kind::mask_eq ? fmt::format("& 0{:o} == ", matcher.mask)
                                                                : base.substr(0, base.find(' ') + 1);
    return prefix + show_value(field.field, field.kind, value);
  }
  return base;
}

bool compare(Matcher::Kind kind, Int got, Int want) {
  switch (kind) {
    case Matcher::Kind::eq: return got == want;
    case Matcher::Kind::ne: return got != want;
    case Matcher::Kind::lt: return got < want;
    case Matcher::Kind::le: return got <= want;
    case Matcher::Kind::gt: return got > want;
    default: return got >= want;
  }
}

// eq, ne, lt, le, gt, ge and mask_eq, against a literal or a resolved reference.
std::string check_comparison(const Matcher& matcher, const FieldExpect& field, const json& got,
                             const MatchContext& ctx) {
  std::string error;
  auto value = resolve(matcher.value, field.field, ctx, error);
  if (!value) return matcher.describe() + " (" + error + ")";
  Int got_number = 0, want = 0;
  bool both_numbers = as_int(got, got_number) && !got.is_boolean() && as_int(*value, want) && !value->is_boolean();
  bool holds;
  if (matcher.kind == Matcher::Kind::mask_eq) {
    holds = both_numbers && (got_number & matcher.mask) == want;
  } else if (both_numbers) {
    holds = compare(matcher.kind, got_number, want);
  } else {
    bool equal = *value == got;
    holds = matcher.kind == Matcher::Kind::eq ? equal : matcher.kind == Matcher::Kind::ne ? !equal : false;
    if (!holds && field.kind == FieldKind::bytes && matcher.kind == Matcher::Kind::eq)
      return describe_with(matcher, field, *value) + " " + show_value(field.field, field.kind, *value) +
             bytes_difference(*value, got);
  }
  if (holds) return "";
  if (field.kind == FieldKind::bytes) return "== " + show_value(field.field, field.kind, *value);
  return describe_with(matcher, field, *value);
}

// bits_set, bits_clear, one_of, changed, unchanged and recent.
std::string check_scalar(const Matcher& matcher, const FieldExpect& field, const json& got, const MatchContext& ctx) {
  Int got_number = 0;
  bool numeric = as_int(got, got_number) && !got.is_boolean();
  switch (matcher.kind) {
    case Matcher::Kind::bits_set:
      return numeric && (got_number & matcher.mask) == matcher.mask ? "" : matcher.describe();
    case Matcher::Kind::bits_clear: return numeric && (got_number & matcher.mask) == 0 ? "" : matcher.describe();
    case Matcher::Kind::one_of:
      for (const auto& item : matcher.items) {
        Int want;
        if (item == got || (numeric && as_int(item, want) && want == got_number)) return "";
      }
      return matcher.describe();
    case Matcher::Kind::recent: {
      double window = matcher.value.literal.get<double>();
      Int distance = got_number - ctx.now_ns;
      if (distance < 0) distance = -distance;
      return numeric && distance <= static_cast<Int>(window * 1e9)
                 ? ""
                 : fmt::format("{} (engine clock {})", matcher.describe(), int_text(ctx.now_ns));
    }
    default: {  // changed, unchanged
      std::string error;
      auto value = resolve(matcher.value, field.field, ctx, error);
      if (!value) return matcher.describe() + " (" + error + ")";
      bool same = *value == got;
      bool holds = matcher.kind == Matcher::Kind::changed ? !same : same;
      return holds
                 ? ""
                 : fmt::format("{} (saved value {})", matcher.describe(), show_value(field.field, field.kind, *value));
    }
  }
}

// Names of up to 20 problem elements, then the total: "a, b, ... (57 in all)".
struct ProblemList {
  std::string text;
  size_t count = 0;
  void add(const std::string& item) {
    if (count++ < 20) text += (text.empty() ? "" : ", ") + item;
  }
  std::string shown() const { return count > 20 ? text + fmt::format(", ... ({} in all)", count) : text; }
};

using ListIndex = std::unordered_multimap<std::string, size_t>;

// How many got elements match `item`.
size_t matches_of(const json& item, const json& got, const ListIndex& by_key) {
  auto [first, last] = by_key.equal_range(element_key(item));
  return static_cast<size_t>(
      std::count_if(first, last, [&](const auto& entry) { return element_matches(item, got[entry.second]); }));
}

std::string check_contains(const Matcher& matcher, const json& got, const ListIndex& by_key) {
  bool want_present = matcher.kind == Matcher::Kind::contains;
  ProblemList problems;
  for (const auto& item : matcher.items)
    if ((matches_of(item, got, by_key) > 0) != want_present) problems.add(element_key(item));
  if (problems.count == 0) return "";
  return fmt::format("{} ({} {})", want_present ? "contains the listed names" : "excludes the listed names",
                     want_present ? "missing:" : "present:", problems.shown());
}

std::string check_each_once(const Matcher& matcher, const json& got, const ListIndex& by_key) {
  ProblemList problems;
  for (const auto& item : matcher.items) {
    size_t times = matches_of(item, got, by_key);
    if (times != 1) problems.add(fmt::format("{} x{}", element_key(item), times));
  }
  if (problems.count == 0) return "";
  return fmt::format("each of {} listed names exactly once (got {})", matcher.items.size(), problems.shown());
}

std::string check_sequence(const Matcher& matcher, const json& got) {
  if (got.size() != matcher.items.size())
    return fmt::format("the sequence of {} elements (got {})", matcher.items.size(), got.size());
  for (size_t at = 0; at < got.size(); ++at)
    if (!element_matches(matcher.items[at], got[at]))
      return fmt::format("the sequence (element {} differs: expected {})", at, matcher.items[at].dump());
  return "";
}

// set: each expected element matches exactly one got element, and nothing is left over.
std::string check_set(const Matcher& matcher, const json& got, const ListIndex& by_key) {
  std::vector<bool> taken(got.size(), false);
  ProblemList missing, extra;
  for (const auto& item : matcher.items) {
    bool found = false;
    auto [first, last] = by_key.equal_range(element_key(item));
    for (auto it = first; it != last && !found; ++it)
      if (!taken[it->second] && element_matches(item, got[it->second])) taken[it->second] = found = true;
    if (!found) missing.add(element_key(item));
  }
  for (size_t i = 0; i < got.size(); ++i)
    if (!taken[i]) extra.add(element_key(got[i]));
  if (missing.count == 0 && extra.count == 0) return "";
  return fmt::format("the set of {} elements (missing: [{}], unexpected: [{}])", matcher.items.size(), missing.shown(),
                     extra.shown());
}

std::string check_list(const Matcher& matcher, const FieldExpect& field, const json& got, const MatchContext& ctx) {
  if (!got.is_array()) return matcher.describe() + " (the result is not a list)";
  if (matcher.kind == Matcher::Kind::len) {
    FieldExpect length{field.field + " length", FieldKind::integer, {}, field.where};
    for (const auto& inner : matcher.nested) {
      std::string failed = check_matcher(inner, length, json(got.size()), ctx);
      if (!failed.empty()) return "length " + failed;
    }
    return "";
  }
  if (matcher.kind == Matcher::Kind::unique) {
    std::set<std::string> seen;
    for (const auto& element : got)
      if (!seen.insert(element_key(element)).second)
        return fmt::format("no duplicates ('{}' appears twice)", element_key(element));
    return "";
  }
  if (matcher.kind == Matcher::Kind::sequence) return check_sequence(matcher, got);
  // Index the listing by name: directories of thousands of entries are common here.
  ListIndex by_key;
  for (size_t i = 0; i < got.size(); ++i) by_key.emplace(element_key(got[i]), i);
  if (matcher.kind == Matcher::Kind::contains || matcher.kind == Matcher::Kind::excludes)
    return check_contains(matcher, got, by_key);
  if (matcher.kind == Matcher::Kind::each_once) return check_each_once(matcher, got, by_key);
  return check_set(matcher, got, by_key);
}

}  // namespace

// Checks one matcher; returns "" when it holds, else the expectation text for the report.
std::string check_matcher(const Matcher& matcher, const FieldExpect& field, const json& got, const MatchContext& ctx) {
  if (matcher.compares()) return check_comparison(matcher, field, got, ctx);
  if (matcher.tests_scalar()) return check_scalar(matcher, field, got, ctx);
  return check_list(matcher, field, got, ctx);
}

std::string show(const std::string& field, FieldKind kind, const json& value) { return show_value(field, kind, value); }

}  // namespace fusecheck::matching

// Descriptions of matchers and expectations, as the report prints them.
namespace fusecheck {

namespace {
std::string offset_text(long long add) {
  if (add == 0) return "";
  return add > 0 ? fmt::format(" + {}", add) : fmt::format(" - {}", -static_cast<unsigned long long>(add));
}
}  // namespace

std::string Matcher::describe() const {
  auto value_text = [this] {
    switch (value.kind) {
      case ValueRef::Kind::saved:
        return fmt::format("saved '{}'{}{}", value.saved, value.field.empty() ? "" : "." + value.field,
                           offset_text(value.add));
      case ValueRef::Kind::field: return "field " + value.field + offset_text(value.add);
      default: return value.literal.dump();
    }
  };
  auto items_text = [this] {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item.dump();
    return "[" + out + "]";
  };
  switch (kind) {
    case Kind::eq: return "== " + value_text();
    case Kind::ne: return "!= " + value_text();
    case Kind::lt: return "< " + value_text();
    case Kind::le: return "<= " + value_text();
    case Kind::gt: return "> " + value_text();
    case Kind::ge: return ">= " + value_text();
    case Kind::mask_eq: return fmt::format("& 0{:o} == {}", mask, value_text());
    case Kind::bits_set: return fmt::format("has bits 0{:o} set", mask);
    case Kind::bits_clear: return fmt::format("has bits 0{:o} clear", mask);
    case Kind::one_of: return "one of " + items_text();
    case Kind::changed: return "changed since '" + value.saved + "'";
    case Kind::unchanged: return "unchanged since '" + value.saved + "'";
    case Kind::recent: return fmt::format("within {} s of now", value.literal.dump());
    case Kind::set: return "the set " + items_text();
    case Kind::sequence: return "the sequence " + items_text();
    case Kind::contains: return "contains " + items_text();
    case Kind::excludes: return "excludes " + items_text();
    case Kind::each_once: return "each exactly once: " + items_text();
    case Kind::unique: return "no duplicates";
    case Kind::len: {
      std::string out = "length";
      for (const auto& inner : nested) out += " " + inner.describe();
      return out;
    }
  }
  return "?";
}

std::string Expect::describe() const {
  if (kind == Kind::any) return "any result";
  if (kind == Kind::ok) return "success";
  if (kind == Kind::hang) return "no answer (a hang)";
  std::string names;
  for (int err : errnos) names += (names.empty() ? "" : " or ") + errno_name(err);
  for (int signal : signals) names += (names.empty() ? "" : " or ") + signal_name(signal);
  return names;
}

}  // namespace fusecheck
