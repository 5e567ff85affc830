// Known-differences files for `fusecheck fuzz --known FILE`: differences between a target and
// tmpfs that the user has accepted (each with a reason), removed from both results before
// they are compared. Untrusted input: every error names FILE:LINE:COL.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <functional>
#include <set>

#include "fusecheck/fuzz.hpp"
#include "fusecheck/ops.hpp"
#include "fusecheck/runner.hpp"
#include "normalise.hpp"

namespace fusecheck::fuzz {
namespace {

// The normalised result fields a known difference may name (docs/fuzzing.md).
const std::set<std::string>& known_fields() {
  static const std::set<std::string> fields = {
      "result", "type",  "perm",    "nlink", "uid",  "gid",   "size",    "rdev",        "blocks",      "ino",  "atime",
      "mtime",  "ctime", "entries", "names", "data", "count", "namemax", "ffree_delta", "bfree_delta", "name", "end"};
  return fields;
}

std::string scalar(const YAML::Node& item, const char* key,
                   const std::function<std::string(const YAML::Node&)>& where) {
  const YAML::Node node = item[key];
  if (!node || !node.IsScalar() || node.Scalar().empty())
    throw FileError(where(node ? node : item) + ": '" + key + "' must be a word");
  return node.Scalar();
}

KnownDifference parse_entry(const YAML::Node& item, const std::function<std::string(const YAML::Node&)>& where) {
  if (!item.IsMap()) throw FileError(where(item) + ": an entry is a map {op, field, type, reason}");
  for (const auto& pair : item) {
    const std::string key = pair.first.Scalar();
    if (key != "op" && key != "field" && key != "type" && key != "reason")
      throw FileError(fmt::format("{}: unknown key '{}' (allowed: op, field, type, reason)", where(pair.first), key));
  }
  KnownDifference entry;
  entry.where = where(item);
  if (item["op"]) entry.op = scalar(item, "op", where);
  if (entry.op != "*" && find_op(entry.op) == nullptr)
    throw FileError(where(item["op"]) + ": unknown op '" + entry.op + "'");
  entry.field = scalar(item, "field", where);
  if (!known_fields().count(entry.field))
    throw FileError(where(item["field"]) + ": unknown field '" + entry.field + "'");
  if (item["type"]) entry.type = scalar(item, "type", where);
  entry.reason = scalar(item, "reason", where);
  return entry;
}

}  // namespace

std::vector<KnownDifference> load_known_differences(const std::string& path) {
  auto where = [&](const YAML::Node& node) {
    auto mark = node.Mark();
    return mark.is_null() ? path : fmt::format("{}:{}:{}", path, mark.line + 1, mark.column + 1);
  };
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw FileError(path + ": cannot read the known-differences file");
  } catch (const YAML::Exception& error) {
    throw FileError(
        fmt::format("{}:{}:{}: YAML syntax error: {}", path, error.mark.line + 1, error.mark.column + 1, error.msg));
  }
  if (!doc.IsMap()) throw FileError(where(doc) + ": a known-differences file is a map with format: 1 and known:");
  for (const auto& pair : doc)
    if (pair.first.Scalar() != "format" && pair.first.Scalar() != "known")
      throw FileError(
          fmt::format("{}: unknown key '{}' (allowed: format, known)", where(pair.first), pair.first.Scalar()));
  if (!doc["format"] || doc["format"].Scalar() != "1") throw FileError(where(doc) + ": needs format: 1");
  if (!doc["known"] || !doc["known"].IsSequence()) throw FileError(where(doc) + ": known must be a list");
  std::vector<KnownDifference> entries;
  for (const auto& item : doc["known"]) entries.push_back(parse_entry(item, where));
  return entries;
}

void forgive_known(const std::vector<KnownDifference>& known, const json& request, json& expected, json& got) {
  const std::string op = request.at("op");
  for (const auto& entry : known) {
    if (entry.op != "*" && entry.op != op) continue;
    if (entry.field == "result") {
      expected = got = json{{"known", entry.reason}};
      return;
    }
    if (!expected.contains("ok") || !got.contains("ok") || !expected.at("ok").is_object()) continue;
    if (!entry.type.empty() && expected.at("ok").value("type", "") != entry.type) continue;
    expected.at("ok").erase(entry.field);
    if (got.at("ok").is_object()) got.at("ok").erase(entry.field);
  }
}

}  // namespace fusecheck::fuzz
