// Unit tests of `expect` matchers on synthetic results: integer comparisons and masks,
// saved references, byte strings, and listings (set, each_once, ranges, duplicates).
#include <gtest/gtest.h>

#include "../src/matching.hpp"
#include "fusecheck/protocol.hpp"
#include "fusecheck/scenario.hpp"

using namespace fusecheck;
using nlohmann::json;

namespace {

// Parses one step `op: OP` with `expect: EXPECT` and checks `result` against it; returns the
// failed expectation texts ("" entries are dropped).
std::vector<std::string> mismatches(const std::string& op_line, const std::string& expect, const json& result,
                                    const std::map<std::string, json>& saved = {}) {
  std::string step_text = op_line.substr(0, op_line.size() - 1) + ", expect: " + expect + "}";
  std::string text =
      "format: 1\ntitle: t\nrefs: [r]\nsteps:\n  - {op: stat, path: f, save: before}\n  - " + step_text + "\n";
  auto tests = parse_scenario_text(text, "m.yaml", "m");
  const Step& step = tests.at(0).steps.at(1);
  matching::MatchContext ctx{result, saved, 1000};
  std::vector<std::string> failed;
  for (const auto& field : step.expect.fields)
    for (const auto& matcher : field.matchers) {
      std::string why = matching::check_matcher(matcher, field, result.at(field.field), ctx);
      if (!why.empty()) failed.push_back(field.field + ": " + why);
    }
  return failed;
}

TEST(Matching, IntegersMasksAndSavedReferences) {
  json stat{{"mode", 0102755}, {"perm", 02755}, {"size", 10}, {"ctime", 500}, {"mtime", 500}};
  std::map<std::string, json> saved{{"before", json{{"ctime", 400}, {"size", 10}}}};
  EXPECT_TRUE(
      mismatches("{op: stat, path: f}", "{perm: {mask: 02000, eq: 02000}, mode: {bits_set: 0755}}", stat).empty());
  EXPECT_TRUE(
      mismatches("{op: stat, path: f}", "{ctime: {gt: {saved: before}}, mtime: {eq: {field: ctime}}}", stat, saved)
          .empty());
  EXPECT_TRUE(
      mismatches("{op: stat, path: f}", "{size: {unchanged: before}, ctime: {changed: before}}", stat, saved).empty());
  auto failed = mismatches("{op: stat, path: f}", "{perm: 0644, size: {lt: 5}}", stat);
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_EQ(failed[0], "perm: == 0644");
  EXPECT_EQ(failed[1], "size: < 5");
}

TEST(Matching, ReferencesWithAnOffsetStateExactDeltas) {
  // statvfs-like numbers are unsigned in results; the offset may take them below a literal 0.
  json stat{{"size", 7}, {"ctime", 505}, {"mtime", 500}, {"blocks", 0}};
  std::map<std::string, json> saved{{"before", json{{"size", 10u}, {"blocks", 2u}}}};
  EXPECT_TRUE(mismatches("{op: stat, path: f}", "{size: {eq: {saved: before, add: -3}}}", stat, saved).empty());
  EXPECT_TRUE(mismatches("{op: stat, path: f}",
                         "{mtime: {eq: {field: ctime, add: -5}}, ctime: {gt: {field: mtime, add: 4}}}", stat, saved)
                  .empty());
  EXPECT_TRUE(
      mismatches("{op: stat, path: f}", "{blocks: {eq: {saved: before, field: blocks, add: -0x2}}}", stat, saved)
          .empty());
  EXPECT_TRUE(
      mismatches("{op: stat, path: f}", "{blocks: {gt: {saved: before, field: size, add: -11}}}", stat, saved).empty());
  auto failed = mismatches("{op: stat, path: f}",
                           "{size: {eq: {saved: before, add: -2}}, ctime: {le: {field: mtime, add: 4}}}", stat, saved);
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_EQ(failed[0], "size: == saved 'before' - 2 = 8");
  EXPECT_EQ(failed[1], "ctime: <= field mtime + 4 = 504");
  // Op arguments resolve through the same function (seekdir pos: {saved: t, field: pos, add: 1}).
  ValueRef pos{ValueRef::Kind::saved, {}, "t", "pos", 1};
  std::string error;
  std::map<std::string, json> told{{"t", json{{"pos", 41}}}};
  matching::MatchContext ctx{json::object(), told, 0};
  EXPECT_EQ(matching::resolve(pos, "pos", ctx, error), json(42));
  // An offset needs a number to apply to.
  std::map<std::string, json> text_saved{{"t", json{{"pos", "x"}}}};
  matching::MatchContext text_ctx{json::object(), text_saved, 0};
  EXPECT_FALSE(matching::resolve(pos, "pos", text_ctx, error).has_value());
  EXPECT_NE(error.find("add: 1 needs an integer"), std::string::npos) << error;
}

TEST(Matching, ByteStringsReportTheFirstDifference) {
  json read{{"data", to_hex("hello world")}, {"size", 11}};
  EXPECT_TRUE(mismatches("{op: read_file, path: f}", "{data: \"hello world\"}", read).empty());
  EXPECT_TRUE(mismatches("{op: read_file, path: f}", "{data: {hex: \"68656c6c6f20776f726c64\"}}", read).empty());
  auto failed = mismatches("{op: read_file, path: f}", "{data: \"hello there\"}", read);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].find("first difference at offset 6"), std::string::npos) << failed[0];
}

TEST(Matching, ListingsWithRangesSetsAndEachOnce) {
  json names = json::array({".", "..", "f0", "f1", "f2", "new", "new"});
  json listing{{"names", names}, {"count", names.size()}, {"entries", json::array()}};
  EXPECT_TRUE(
      mismatches("{op: listdir, path: d}", "{names: {each_once: [., .., {range: {prefix: f, count: 3}}]}}", listing)
          .empty());
  EXPECT_TRUE(
      mismatches("{op: listdir, path: d}", "{names: {contains: [new], excludes: [f3], len: 7}}", listing).empty());
  auto dup = mismatches("{op: listdir, path: d}", "{names: {unique: true}}", listing);
  ASSERT_EQ(dup.size(), 1u);
  EXPECT_NE(dup[0].find("'new' appears twice"), std::string::npos) << dup[0];
  auto set =
      mismatches("{op: listdir, path: d}", "{names: {set: [., .., {range: {prefix: f, count: 4}}, new]}}", listing);
  ASSERT_EQ(set.size(), 1u);
  EXPECT_NE(set[0].find("missing: [f3], unexpected: [new]"), std::string::npos) << set[0];
  auto once = mismatches("{op: listdir, path: d}", "{names: {each_once: [new, f9]}}", listing);
  ASSERT_EQ(once.size(), 1u);
  EXPECT_NE(once[0].find("new x2, f9 x0"), std::string::npos) << once[0];
}

}  // namespace
