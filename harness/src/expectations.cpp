// Expectations files (docs/scenario-format.md section 10): per-filesystem xfail and skip
// entries, each with a reason, matched against test names or their globs; and the baseline
// file --write-expectations makes from a run's failures.
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fstream>
#include <map>
#include <set>

#include "fusecheck/runner.hpp"
#include "fusecheck/text.hpp"

namespace fusecheck {
namespace {

// What every entry --write-expectations writes says until the user replaces it.
constexpr std::string_view kPlaceholder = "TODO: say why this test fails on this filesystem";

}  // namespace

bool ExpectationEntry::placeholder() const { return reason.rfind(kPlaceholder, 0) == 0; }

Expectations Expectations::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FileError(fmt::format("{}: cannot read the expectations file", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse(text, path);
}

Expectations Expectations::parse(const std::string& text, const std::string& path) {
  Expectations result;
  result.path = path;
  YAML::Node doc;
  auto where = [&](const YAML::Node& node) {
    auto mark = node.Mark();
    return mark.is_null() ? path : fmt::format("{}:{}:{}", path, mark.line + 1, mark.column + 1);
  };
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& error) {
    throw yaml_syntax_error(path, error);
  }
  if (!doc.IsMap()) throw FileError(where(doc) + ": an expectations file is a map with format: 1 and entries:");
  for (const auto& entry : doc) {
    std::string key = entry.first.Scalar();
    if (key != "format" && key != "entries" && key != "filesystem")
      throw FileError(fmt::format("{}: unknown key '{}' (allowed: format, filesystem, entries)", where(entry.first),
                                  printable(key, false)));
  }
  if (!doc["format"] || doc["format"].Scalar() != "1") throw FileError(where(doc) + ": needs format: 1");
  if (doc["entries"] && !doc["entries"].IsSequence())
    throw FileError(where(doc["entries"]) + ": entries must be a list");
  for (const auto& item : doc["entries"]) {
    if (!item.IsMap()) throw FileError(where(item) + ": an entry is a map {test, status, reason}");
    for (const auto& field : item) {
      std::string key = field.first.Scalar();
      if (key != "test" && key != "status" && key != "reason")
        throw FileError(fmt::format("{}: unknown key '{}' (allowed: test, status, reason)", where(field.first),
                                    printable(key, false)));
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

namespace {

// Entries of `existing` worth keeping: any that matched a test that did not pass (or
// matched none: it may be for tests this run did not select).
std::vector<const ExpectationEntry*> entries_still_needed(const std::vector<TestResult>& results,
                                                          const Expectations& existing) {
  std::map<const ExpectationEntry*, bool> needed;  // entry -> a test under it did not pass
  for (const auto& result : results)
    if (result.expectation) needed[result.expectation] |= result.verdict != Verdict::xpass;
  std::vector<const ExpectationEntry*> kept;
  for (const auto& entry : existing.entries()) {
    auto used = needed.find(&entry);
    if (used == needed.end() || used->second) kept.push_back(&entry);
  }
  return kept;
}

void emit_entry(YAML::Emitter& out, const std::string& test, bool skip, const std::string& reason) {
  out << YAML::BeginMap << YAML::Key << "test" << YAML::Value << YAML::DoubleQuoted << test;
  out << YAML::Key << "status" << YAML::Value << (skip ? "skip" : "xfail");
  out << YAML::Key << "reason" << YAML::Value << YAML::DoubleQuoted << reason << YAML::EndMap;
}

}  // namespace

namespace {

// What --write-expectations says of one test over the run's repetitions (--repeat).
struct Outcomes {
  int failed = 0;  // FAIL, or BROKEN after running
  int passed = 0;
  const TestResult* first_failure = nullptr;
};

// An entry for each test that failed: xfail (skip when BROKEN), but skip when it also passed
// in another repetition, since an xfail entry would make every run it passes in an XPASS.
int emit_failures(YAML::Emitter& out, const std::vector<TestResult>& results) {
  int added = 0;
  std::vector<std::string> order;
  std::map<std::string, Outcomes> by_name;
  for (const auto& result : results) {
    bool broken = result.verdict == Verdict::broken && result.ran;
    auto [it, fresh] = by_name.try_emplace(result.name);
    if (fresh) order.push_back(result.name);
    if (result.verdict == Verdict::pass) ++it->second.passed;
    if (result.verdict != Verdict::fail && !broken) continue;
    ++it->second.failed;
    if (!it->second.first_failure) it->second.first_failure = &result;
  }
  for (const auto& name : order) {
    const Outcomes& outcomes = by_name[name];
    if (!outcomes.failed) continue;
    const TestResult& failure = *outcomes.first_failure;
    std::string first_line = failure.reason.substr(0, failure.reason.find('\n'));
    bool intermittent = outcomes.passed > 0;
    std::string how = intermittent ? fmt::format("{} in {} of {} runs", verdict_name(failure.verdict), outcomes.failed,
                                                 outcomes.failed + outcomes.passed)
                                   : verdict_name(failure.verdict);
    emit_entry(out, name, intermittent || failure.verdict == Verdict::broken,
               fmt::format("{} (it was {}: {})", kPlaceholder, how, first_line));
    ++added;
  }
  return added;
}

}  // namespace

int write_expectations(const std::string& path, const std::vector<TestResult>& results, const Expectations* existing,
                       const std::string& fs) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "format" << YAML::Value << 1;
  out << YAML::Key << "entries" << YAML::Value << YAML::BeginSeq;
  int added = emit_failures(out, results);
  if (existing)
    for (const auto* entry : entries_still_needed(results, *existing))
      emit_entry(out, entry->pattern, entry->skip, entry->reason);
  out << YAML::EndSeq << YAML::EndMap;
  std::string temporary = path + ".tmp";
  {
    std::ofstream file(temporary, std::ios::out | std::ios::trunc);
    file << fmt::format(
        "# Written by `fusecheck run --write-expectations` from a run on --fs {}: each FAIL became\n"
        "# an xfail entry and each BROKEN a skip entry (a skip too for a test that also passed in\n"
        "# another repetition: it fails only sometimes). Replace every \"{}\" with why\n"
        "# the test fails here; fusecheck warns while one is left.\n",
        printable(fs, false), kPlaceholder);
    file << out.c_str() << "\n";
    file.close();
    if (!file || ::rename(temporary.c_str(), path.c_str()) != 0) {
      int error = errno;
      ::unlink(temporary.c_str());
      throw HarnessError(fmt::format("cannot write the expectations file {}: {}", path, strerror(error)));
    }
  }
  return added;
}

}  // namespace fusecheck
