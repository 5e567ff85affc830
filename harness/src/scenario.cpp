// Scenario parser, documents: YAML (yaml-cpp) -> Scenario, following docs/scenario-format.md.
// The top-level keys, actors and the params matrix are read here; scalars, steps and expect
// live in scenario_values.cpp, scenario_steps.cpp and scenario_matchers.cpp. Every scalar is
// read through the params substitution, so errors keep the location of the text the author wrote.
#include "fusecheck/scenario.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <type_traits>

#include "fusecheck/names.hpp"
#include "fusecheck/protocol.hpp"
#include "fusecheck/text.hpp"
#include "scenario_parser.hpp"

namespace fusecheck {

std::string Identity::key() const {
  std::string groups_text;
  for (gid_t group : groups) groups_text += fmt::format("{},", group);
  return fmt::format("{}:{}:{}:{:o}", uid, gid, groups_text, umask);
}

static_assert(std::is_nothrow_move_constructible_v<Scenario>, "vectors of scenarios must move, not copy");

std::string Scenario::mount_key() const {
  std::string key;
  for (const auto& option : mount_options) key += (key.empty() ? "" : ",") + option;
  return key;
}

const std::vector<std::string>& known_features() {
  static const std::vector<std::string> features = {"fuse",
                                                    "root",
                                                    "other_users",
                                                    "mount_options",
                                                    "default_permissions",
                                                    "xattr.user",
                                                    "xattr.trusted",
                                                    "xattr.security",
                                                    "hardlinks",
                                                    "symlinks",
                                                    "fifo",
                                                    "devices",
                                                    "sockets",
                                                    "rename_noreplace",
                                                    "rename_exchange",
                                                    "rename_whiteout",
                                                    "fallocate",
                                                    "punch_hole",
                                                    "zero_range",
                                                    "seek_hole",
                                                    "timestamps_ns",
                                                    "o_tmpfile",
                                                    "exclusive_statfs",
                                                    "mmap_shared",
                                                    "o_direct",
                                                    "trace",
                                                    "backend",
                                                    "locks",
                                                    "copy_file_range",
                                                    "file_handles",
                                                    "ioctl_flags",
                                                    "btime"};
  return features;
}

std::string generate_bytes(size_t size, unsigned long long seed, size_t from) {
  // splitmix64: tiny, fast and fully specified, so the bytes are the same everywhere. Its
  // state after k words is seed + k * increment, so `from` is reached without generating the
  // bytes before it (scenarios name bytes tens of kilobytes into a stream).
  constexpr unsigned long long increment = 0x9e3779b97f4a7c15ULL;
  const size_t skip = from % 8;
  std::string bytes(skip + size, '\0');
  unsigned long long state = seed + static_cast<unsigned long long>(from / 8) * increment;
  auto next = [&state] {
    state += increment;
    unsigned long long z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  // Whole words at once where the machine is little-endian (loading the scenarios generates
  // megabytes; byte by byte this was 7% of it).
  const size_t whole = bytes.size() / 8 * 8;
  for (size_t i = 0; i < whole; i += 8) {
    const unsigned long long z = next();
    if constexpr (std::endian::native == std::endian::little)
      std::memcpy(&bytes[i], &z, 8);
    else
      for (size_t k = 0; k < 8; ++k) bytes[i + k] = static_cast<char>(z >> (8 * k));
  }
  if (whole < bytes.size()) {
    const unsigned long long z = next();
    for (size_t k = 0; whole + k < bytes.size(); ++k) bytes[whole + k] = static_cast<char>(z >> (8 * k));
  }
  bytes.erase(0, skip);
  return bytes;
}

namespace parsing {

Identity Parser::identity(const YAML::Node& node, const std::string& name) const {
  check_keys(node, {"uid", "gid", "groups", "umask"}, "actor '" + name + "'");
  if (!child(node, "uid")) fail(node, fmt::format("actor '{}' needs a uid", name));
  Identity id;
  id.uid = static_cast<uid_t>(id_number(child(node, "uid"), "uid"));
  id.gid = child(node, "gid") ? static_cast<gid_t>(id_number(child(node, "gid"), "gid")) : id.uid;
  if (child(node, "groups")) {
    if (!child(node, "groups").IsSequence()) fail(child(node, "groups"), "groups must be a list of gids");
    for (const auto& group : child(node, "groups")) id.groups.push_back(static_cast<gid_t>(id_number(group, "group")));
  }
  if (child(node, "umask")) {
    long long mask = integer(child(node, "umask"), "umask");
    if (mask < 0 || mask > 0777) fail(child(node, "umask"), "umask must be within 0..0777");
    id.umask = static_cast<mode_t>(mask);
  }
  return id;
}

Scenario Parser::scenario(const YAML::Node& doc, const std::string& base_name,
                          const std::vector<std::pair<std::string, std::string>>& combination) {
  check_keys(doc,
             {"format", "title", "refs", "tags", "requires", "mount", "actors", "default_actor", "workdir", "timeout",
              "params", "setup", "steps", "cleanup", "repro", "must_fail_with"},
             "scenario");
  Scenario s;
  s.file = file_;
  s.base_name = base_name;
  s.params = combination;
  s.name = base_name;
  if (!combination.empty()) {
    s.name += "@";
    for (size_t i = 0; i < combination.size(); ++i)
      s.name += (i ? "," : "") + combination[i].first + "=" + combination[i].second;
  }
  scenario_header(doc, s);
  scenario_actors(doc, s);
  std::string default_actor = child(doc, "default_actor") ? text(child(doc, "default_actor"), "default_actor") : "root";
  if (!s.actors.count(default_actor))
    fail(child(doc, "default_actor"), fmt::format("unknown actor '{}'", default_actor));
  if (child(doc, "workdir")) {
    const YAML::Node& w = child(doc, "workdir");
    check_keys(w, {"mode", "owner", "group"}, "workdir");
    if (child(w, "mode")) s.workdir.mode = static_cast<mode_t>(integer(child(w, "mode"), "workdir mode"));
    if (child(w, "owner"))
      s.workdir.uid = static_cast<uid_t>(id_value(child(w, "owner"), true, s.actors, "workdir owner", false));
    if (child(w, "group"))
      s.workdir.gid = static_cast<gid_t>(id_value(child(w, "group"), false, s.actors, "workdir group", false));
  }
  if (child(doc, "timeout")) s.timeout = seconds(child(doc, "timeout"), "timeout");
  if (child(doc, "repro")) check_keys(child(doc, "repro"), {"test", "fs", "seed"}, "repro");
  if (!child(doc, "steps") || !child(doc, "steps").IsSequence() || child(doc, "steps").size() == 0)
    fail(child(doc, "steps") ? child(doc, "steps") : doc, "steps must be a non-empty list");
  FlowState flow;
  s.setup = steps(child(doc, "setup"), "setup", s, "root", flow);
  s.steps = steps(child(doc, "steps"), "steps", s, default_actor, flow);
  s.cleanup = steps(child(doc, "cleanup"), "cleanup", s, default_actor, flow);
  kernel_requirements(doc, s);
  return s;
}

// format, title, refs, tags, requires and mount.
void Parser::scenario_header(const YAML::Node& doc, Scenario& s) const {
  if (!child(doc, "format")) fail(doc, "missing 'format: 1'");
  if (text(child(doc, "format"), "format") != "1")
    fail(child(doc, "format"), "unsupported format (this fusecheck reads format 1)");
  if (!child(doc, "title")) fail(doc, "missing 'title'");
  s.title = text(child(doc, "title"), "title");
  if (!child(doc, "refs")) fail(doc, "missing 'refs' (cite what the scenario checks)");
  s.refs = string_list(child(doc, "refs"), "refs");
  if (s.refs.empty()) fail(child(doc, "refs"), "refs must cite at least one source");
  if (child(doc, "tags")) s.tags = string_list(child(doc, "tags"), "tags");
  if (child(doc, "requires")) {
    for (const auto& feature : string_list(child(doc, "requires"), "requires")) {
      const auto& known = known_features();
      if (std::find(known.begin(), known.end(), feature) == known.end())
        fail(child(doc, "requires"),
             fmt::format("unknown feature '{}' (see docs/scenario-format.md section 6)", feature));
      s.requires_features.insert(feature);
    }
  }
  if (child(doc, "mount")) {
    s.mount_options = string_list(child(doc, "mount"), "mount");
    for (const auto& option : s.mount_options)
      if (option.empty() || option.find_first_of(", ") != std::string::npos)
        fail(child(doc, "mount"), fmt::format("mount option '{}' must be one option without commas or spaces", option));
    std::sort(s.mount_options.begin(), s.mount_options.end());
    if (!s.mount_options.empty()) s.requires_features.insert("mount_options");
  }
}

void Parser::scenario_actors(const YAML::Node& doc, Scenario& s) const {
  s.actors["root"] = Identity{};
  actors_ = &s.actors;
  if (!child(doc, "actors")) return;
  if (!child(doc, "actors").IsMap())
    fail(child(doc, "actors"), "actors must be a map of name: {uid, gid, groups, umask}");
  static const std::regex actor_name("[a-z][a-z0-9_]*");
  for (const auto& entry : child(doc, "actors")) {
    std::string name = entry.first.Scalar();
    if (!std::regex_match(name, actor_name))
      fail(entry.first, fmt::format("actor name '{}' must match [a-z][a-z0-9_]*", name));
    if (name == "root") fail(entry.first, "root is predefined; give another name to a differently configured root");
    s.actors[name] = identity(entry.second, name);
    if (s.actors[name].uid != 0) s.requires_features.insert("other_users");
  }
}

std::vector<std::vector<std::pair<std::string, std::string>>> combinations(const YAML::Node& node,
                                                                           const Parser& parser) {
  std::vector<std::vector<std::pair<std::string, std::string>>> rows;
  if (!node) return {{}};
  if (node.IsMap()) {
    rows.push_back({});
    for (const auto& entry : node) {
      std::string key = entry.first.Scalar();
      std::vector<std::string> values;
      if (entry.second.IsScalar())
        values.push_back(entry.second.Scalar());
      else if (entry.second.IsSequence() && entry.second.size() > 0)
        for (const auto& value : entry.second) {
          if (!value.IsScalar()) parser.fail(value, "parameter values must be scalars");
          values.push_back(value.Scalar());
        }
      else
        parser.fail(entry.second, fmt::format("parameter '{}' needs a non-empty list of values", key));
      std::vector<std::vector<std::pair<std::string, std::string>>> next;
      for (const auto& row : rows)
        for (const auto& value : values) {
          auto extended = row;
          extended.emplace_back(key, value);
          next.push_back(std::move(extended));
        }
      rows = std::move(next);
      if (rows.size() > kMaxCombinations)
        parser.fail(node, fmt::format("params make more than {} combinations", kMaxCombinations));
    }
    return rows;
  }
  if (!node.IsSequence() || node.size() == 0)
    parser.fail(node, "params must be a map of lists or a non-empty list of maps");
  std::vector<std::string> first_keys;
  for (const auto& row_node : node) {
    if (!row_node.IsMap()) parser.fail(row_node, "each params row must be a map");
    std::vector<std::pair<std::string, std::string>> row;
    std::vector<std::string> keys;
    for (const auto& entry : row_node) {
      if (!entry.second.IsScalar()) parser.fail(entry.second, "parameter values must be scalars");
      row.emplace_back(entry.first.Scalar(), entry.second.Scalar());
      keys.push_back(entry.first.Scalar());
    }
    if (first_keys.empty())
      first_keys = keys;
    else if (keys != first_keys)
      parser.fail(row_node, "every params row must have the same keys in the same order");
    rows.push_back(std::move(row));
    if (rows.size() > kMaxCombinations)
      parser.fail(node, fmt::format("params make more than {} combinations", kMaxCombinations));
  }
  return rows;
}

}  // namespace parsing

using parsing::child;
using parsing::ParseBudget;
using parsing::Parser;

FileError yaml_syntax_error(const std::string& file, const YAML::Exception& error) {
  return FileError(fmt::format("{}:{}:{}: YAML syntax error: {}", file, error.mark.line + 1, error.mark.column + 1,
                               printable(error.msg, false)));
}

std::vector<Scenario> parse_scenario_text(const std::string& text, const std::string& file,
                                          const std::string& base_name) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& error) {
    throw yaml_syntax_error(file, error);
  }
  Parser plain(file, {});
  if (!doc.IsMap()) plain.fail(doc, "a scenario file must be a YAML map");
  plain.check_expanded_size(doc);
  std::set<size_t> seen;
  const bool keys_use_params = plain.rewrite_keys(doc, false, seen, true);
  std::vector<Scenario> out;
  ParseBudget budget;
  for (const auto& combination : combinations(child(doc, "params"), plain)) {
    std::map<std::string, std::string> values(combination.begin(), combination.end());
    Parser parser(file, values, &budget);
    // Keys are substituted in place, so each combination reads its own copy of the document
    // (a fresh load keeps every position; YAML::Clone would drop them). `source` stays as
    // written. Values are substituted as they are read: a document whose keys hold no '$'
    // is read as loaded by every combination (loading was 60% of `fusecheck list`). The copy
    // is made by construction: yaml-cpp's `=` would make doc's own node refer to it.
    YAML::Node working = keys_use_params ? YAML::Load(text) : doc;
    if (keys_use_params) {
      seen.clear();
      parser.rewrite_keys(working, true, seen, true);
    }
    out.push_back(parser.scenario(working, base_name, combination));
    out.back().source = DocumentHandle(doc);
  }
  return out;
}

std::vector<Scenario> load_scenario_file(const std::string& path, const std::string& base_name) {
  std::ifstream in(path);
  if (!in) throw FileError(fmt::format("{}: cannot read the file", path));
  std::stringstream content;
  content << in.rdbuf();
  return parse_scenario_text(content.str(), path, base_name);
}

std::string repro_yaml(const Scenario& scenario, const std::string& fs, unsigned seed) {
  YAML::Node doc = YAML::Clone(scenario.source.get());
  if (!scenario.params.empty()) {
    YAML::Node row(YAML::NodeType::Map);
    for (const auto& [key, value] : scenario.params) row[key] = value;
    YAML::Node rows(YAML::NodeType::Sequence);
    rows.push_back(row);
    doc["params"] = rows;
  }
  YAML::Node repro(YAML::NodeType::Map);
  repro["test"] = scenario.name;
  repro["fs"] = fs;
  repro["seed"] = seed;
  doc["repro"] = repro;
  YAML::Emitter out;
  out << doc;
  return fmt::format("# fusecheck repro of {} (from {})\n# run it with: fusecheck replay THIS_FILE\n{}\n",
                     scenario.name, scenario.file, out.c_str());
}

}  // namespace fusecheck
