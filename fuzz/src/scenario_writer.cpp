// Writes a recorded case as a scenario file: each call becomes a step whose expectation is
// what tmpfs gave, in the normalised form the fuzzer compared (docs/fuzzing.md), so the file
// checks exactly what the fuzzer checked, no more and no less.
#include "scenario_writer.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace fusecheck::fuzz {
namespace {

std::string octal(unsigned value) {
  std::ostringstream out;
  out << '0' << std::oct << value;
  return out.str();
}

std::string saved(size_t step) { return "s" + std::to_string(step); }

// Steps whose results later steps refer to (they get `save:`).
std::set<size_t> referenced_steps(const RecordedCase& recorded) {
  std::set<size_t> steps;
  for (const auto& step : recorded.steps) {
    const Links& links = step.oracle.links;
    for (const auto& link : {links.previous_observation, links.ino_source, links.previous_statvfs})
      if (link) steps.insert(*link);
  }
  return steps;
}

// "prefix12" -> ("prefix", 12); names without a decimal tail stay alone.
bool split_number(const std::string& name, std::string& prefix, long& number) {
  size_t digits = name.find_last_not_of("0123456789") + 1;
  if (digits == name.size() || (name.size() - digits > 1 && name[digits] == '0') || name.size() - digits > 6)
    return false;
  prefix = name.substr(0, digits);
  number = std::stol(name.substr(digits));
  return true;
}

// Appends `{range: ...}` items for runs of numbered names (create_many's), by prefix.
void add_ranges(std::string& items, const std::map<std::string, std::set<long>>& numbered) {
  for (const auto& [prefix, numbers] : numbered) {
    for (auto it = numbers.begin(); it != numbers.end();) {
      long start = *it, count = 0;
      while (it != numbers.end() && *it == start + count) ++it, ++count;
      items += (items.empty() ? "" : ", ") + std::string("{range: {prefix: ") + json(prefix).dump() +
               ", count: " + std::to_string(count) + ", start: " + std::to_string(start) + "}}";
    }
  }
}

// Whether `name` is a numbered name worth a range: then it goes into `numbered`.
bool add_numbered(std::map<std::string, std::set<long>>& numbered, const std::string& name) {
  std::string prefix;
  long number = 0;
  if (!split_number(name, prefix, number) || prefix.empty()) return false;
  numbered[prefix].insert(number);
  return true;
}

// listdir entries as a `set`, runs of numbered names (create_many's) as ranges; the types
// of ranged names that are not regular files are added as `contains`.
std::string entries_yaml(const json& entries) {
  std::map<std::string, std::set<long>> numbered;
  std::string items, typed;
  for (const auto& entry : entries) {
    const std::string name = entry[0], type = entry[1];
    std::string item = "{name: " + json(name).dump() + ", type: " + type + "}";
    if (add_numbered(numbered, name)) {
      if (type != "file") typed += (typed.empty() ? "" : ", ") + item;
    } else {
      items += (items.empty() ? "" : ", ") + item;
    }
  }
  add_ranges(items, numbered);
  return "{set: [" + items + "]" + (typed.empty() ? "" : ", contains: [" + typed + "]") + "}";
}

// Names as list items, numbered runs as ranges.
std::string names_items(const std::vector<std::string>& names) {
  std::map<std::string, std::set<long>> numbered;
  std::string items;
  for (const auto& name : names)
    if (!add_numbered(numbered, name)) items += (items.empty() ? "" : ", ") + json(name).dump();
  add_ranges(items, numbered);
  return items;
}

// A readdir_many listing at the end: tmpfs's names (those not changed since opendir) each
// exactly once, names changed meanwhile any number of times (POSIX leaves them open), and
// none of the other names the target listed instead.
std::string listed_yaml(const json& listed, const json* target_fields) {
  const auto expected = listed.get<std::vector<std::string>>();
  std::vector<std::string> extra;
  if (target_fields && target_fields->contains("listed"))
    for (const auto& name : target_fields->at("listed").get<std::vector<std::string>>())
      if (!std::count(expected.begin(), expected.end(), name) && !std::count(extra.begin(), extra.end(), name))
        extra.push_back(name);
  return "listed: {each_once: [" + names_items(expected) + "]" +
         (extra.empty() ? "" : ", excludes: [" + names_items(extra) + "]") + "}";
}

std::string time_yaml(const json& fields, const char* time, const Links& links) {
  std::string matchers;
  auto add = [&](const std::string& text) { matchers += (matchers.empty() ? "" : ", ") + text; };
  if (fields.contains(time))
    add(std::string(fields.at(time) == "same" ? "unchanged: " : "changed: ") + saved(*links.previous_observation));
  return matchers.empty() ? "" : std::string(time) + ": {" + matchers + "}";
}

std::string fields_yaml(const json& fields, const Links& links, const json* target_fields) {
  std::string text;
  auto add = [&](const std::string& item) {
    if (!item.empty()) text += (text.empty() ? "" : ", ") + item;
  };
  for (const auto& [key, value] : fields.items()) {
    if (key == "perm") {
      add("perm: " + octal(value.get<unsigned>()));
    } else if (key == "ino") {
      if (links.ino_source) add("ino: {eq: {saved: " + saved(*links.ino_source) + ", field: ino}}");
    } else if (key == "rdev") {
      add("rdev_major: " + value[0].dump() + ", rdev_minor: " + value[1].dump());
    } else if (key == "entries") {
      add("entries: " + entries_yaml(value));
    } else if (key == "listed") {
      add(listed_yaml(value, target_fields));
    } else if (key == "names") {
      std::string names;
      for (const auto& name : value) names += (names.empty() ? "" : ", ") + name.dump();
      add("names: {set: [" + names + "]}");
    } else if (key == "data") {
      add("data: {hex: " + value.dump() + "}");
    } else if (key == "ffree_delta" || key == "bfree_delta") {
      add(key.substr(0, 5) + ": {eq: {saved: " + saved(*links.previous_statvfs) + ", add: " + value.dump() + "}}");
    } else if (key == "atime" || key == "mtime" || key == "ctime") {
      continue;  // below, as matchers of the time fields
    } else {
      add(key + ": " + (value.is_string() ? value.get<std::string>() : value.dump()));
    }
  }
  if (fields.contains("type") && !fields.contains("name"))  // a stat result
    for (const char* time : {"atime", "mtime", "ctime"}) add(time_yaml(fields, time, links));
  return "{" + text + "}";
}

bool scenario_has_changed_times(const RecordedCase& recorded) {
  for (const auto& step : recorded.steps) {
    const json& result = step.oracle.result;
    if (!result.contains("ok") || !result.at("ok").is_object()) continue;
    for (const char* time : {"atime", "mtime", "ctime"})
      if (result.at("ok").value(time, "") == "changed") return true;
  }
  return false;
}

bool is_stat(const Call& made) {
  const std::string op = made.request.value("op", "");
  return op == "lstat" || op == "stat" || op == "fstat" || op == "statx";
}

// tmpfs's clock ticks (4 ms here) and so may the target's: a pause before each operation, and
// before a call that follows a stat within one (truncate twice, each observed), puts every
// change in a later tick than the value it replaces, so "changed" holds on replay as it did
// here. A scenario that expects no change needs none.
bool pauses_before(const RecordedCase& recorded, size_t index) {
  const auto& steps = recorded.steps;
  return steps[index].starts_operation || (index > 0 && is_stat(steps[index - 1].call) && !is_stat(steps[index].call));
}

}  // namespace

std::string expect_yaml(const RecordedCase& recorded, size_t index) {
  const Observed& oracle = recorded.steps.at(index).oracle;
  const json& normalised = oracle.result;
  if (normalised.contains("errno")) return normalised.at("errno").get<std::string>();
  if (normalised.contains("signal")) return normalised.at("signal").get<std::string>();
  if (normalised.contains("broken")) return "ok";  // the oracle never breaks; kept total
  const json& fields = normalised.at("ok");
  const json& target = recorded.steps.at(index).target.result;
  const json* target_fields = target.contains("ok") && target.at("ok").is_object() ? &target.at("ok") : nullptr;
  return fields.empty() ? "ok" : fields_yaml(fields, oracle.links, target_fields);
}

std::string scenario_text(const RecordedCase& failure, const std::string& target_name, uint64_t seed) {
  std::set<std::string> features;
  for (const auto& op : failure.operations)
    for (auto& feature : op.required_features()) features.insert(feature);
  std::set<size_t> actors;
  for (const auto& step : failure.steps) actors.insert(step.call.actor);
  std::ostringstream out;
  out << "# Written by fusecheck fuzz: a shrunk counterexample (seed " << seed << ").\n"
      << "# Expectations are Linux tmpfs's results; " << target_name << " differed at the last step,\n"
      << "# where it gave " << failure.steps.back().target.result.dump() << ".\n"
      << "format: 1\n"
      << "title: "
      << json("fuzz counterexample (seed " + std::to_string(seed) + "): " + target_name +
              " differs from tmpfs at step " + std::to_string(failure.steps.size()))
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
  if (actors.size() > 1 || !actors.count(0)) {
    out << "actors:\n";
    for (size_t actor : actors) {
      if (actor == 0) continue;
      const Identity& who = fuzz_actors().at(actor).identity;
      std::string groups;
      for (gid_t group : who.groups) groups += (groups.empty() ? "" : ", ") + std::to_string(group);
      out << "  " << fuzz_actors().at(actor).name << ": {uid: " << who.uid << ", gid: " << who.gid << ", groups: ["
          << groups << "], umask: " << octal(who.umask) << "}\n";
    }
  }
  const auto saves = referenced_steps(failure);
  const bool pause = scenario_has_changed_times(failure);
  out << "steps:\n";
  for (size_t i = 0; i < failure.steps.size(); ++i) {
    if (pause && pauses_before(failure, i)) out << "  - {op: sleep, seconds: 0.005}\n";
    out << "  - {" << scenario_step(failure.steps[i].call);
    if (saves.count(i)) out << ", save: " << saved(i);
    // A step the engine runs (drop_caches) takes no expect: it has no result to compare.
    if (!runs_in_fuzzer(failure.steps[i].call)) out << ", expect: " << expect_yaml(failure, i);
    out << "}\n";
  }
  return out.str();
}

}  // namespace fusecheck::fuzz
