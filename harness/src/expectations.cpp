// Expectations files (docs/scenario-format.md section 10): per-filesystem xfail and skip
// entries, each with a reason, matched against test names or their globs.
#include <fnmatch.h>

#include <fmt/format.h>
#include <set>

#include "fusecheck/runner.hpp"

namespace fusecheck {

Expectations Expectations::load(const std::string& path) {
  Expectations result;
  result.path = path;
  YAML::Node doc;
  auto where = [&](const YAML::Node& node) {
    auto mark = node.Mark();
    return mark.is_null() ? path : fmt::format("{}:{}:{}", path, mark.line + 1, mark.column + 1);
  };
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw FileError(fmt::format("{}: cannot read the expectations file", path));
  } catch (const YAML::Exception& error) {
    throw FileError(
        fmt::format("{}:{}:{}: YAML syntax error: {}", path, error.mark.line + 1, error.mark.column + 1, error.msg));
  }
  if (!doc.IsMap()) throw FileError(where(doc) + ": an expectations file is a map with format: 1 and entries:");
  for (const auto& entry : doc) {
    std::string key = entry.first.Scalar();
    if (key != "format" && key != "entries" && key != "filesystem")
      throw FileError(
          fmt::format("{}: unknown key '{}' (allowed: format, filesystem, entries)", where(entry.first), key));
  }
  if (!doc["format"] || doc["format"].Scalar() != "1") throw FileError(where(doc) + ": needs format: 1");
  if (doc["entries"] && !doc["entries"].IsSequence())
    throw FileError(where(doc["entries"]) + ": entries must be a list");
  for (const auto& item : doc["entries"]) {
    if (!item.IsMap()) throw FileError(where(item) + ": an entry is a map {test, status, reason}");
    for (const auto& field : item) {
      std::string key = field.first.Scalar();
      if (key != "test" && key != "status" && key != "reason")
        throw FileError(fmt::format("{}: unknown key '{}' (allowed: test, status, reason)", where(field.first), key));
    }
    ExpectationEntry entry;
    entry.where = where(item);
    if (!item["test"] || !item["test"].IsScalar()) throw FileError(where(item) + ": entry needs test: NAME-or-glob");
    entry.pattern = item["test"].Scalar();
    if (!item["status"] || (item["status"].Scalar() != "xfail" && item["status"].Scalar() != "skip"))
      throw FileError(where(item["status"] ? item["status"] : item) + ": status must be xfail or skip");
    entry.skip = item["status"].Scalar() == "skip";
    if (!item["reason"] || !item["reason"].IsScalar() || item["reason"].Scalar().empty())
      throw FileError(where(item) + ": every entry needs a reason");
    entry.reason = item["reason"].Scalar();
    result.entries_.push_back(entry);
  }
  return result;
}

const ExpectationEntry* Expectations::find(const Scenario& scenario) const {
  for (const auto& entry : entries_) {
    if (entry.pattern == scenario.name || entry.pattern == scenario.base_name ||
        ::fnmatch(entry.pattern.c_str(), scenario.name.c_str(), 0) == 0 ||
        ::fnmatch(entry.pattern.c_str(), scenario.base_name.c_str(), 0) == 0) {
      return &entry;
    }
  }
  return nullptr;
}

std::vector<const ExpectationEntry*> Expectations::unused(const std::vector<TestResult>& results) const {
  std::set<const ExpectationEntry*> used;
  for (const auto& result : results) used.insert(result.expectation);
  std::vector<const ExpectationEntry*> out;
  for (const auto& entry : entries_)
    if (!used.count(&entry)) out.push_back(&entry);
  return out;
}

}  // namespace fusecheck
