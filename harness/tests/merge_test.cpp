// Unit tests of what a project's CI uses around a run: JSON results read back and the shards
// of a run merged into one (with every way shards can fail to fit together), shards balanced
// by recorded durations, and the baseline expectations file of --write-expectations.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>

#include "fusecheck/merge.hpp"
#include "fusecheck/report.hpp"
#include "fusecheck/shard.hpp"

using namespace fusecheck;
namespace fs = std::filesystem;

namespace {

class MergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char scratch[] = "/tmp/fusecheck-merge-test-XXXXXX";
    ASSERT_NE(::mkdtemp(scratch), nullptr);
    dir_ = scratch;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  Scenario& scenario(const std::string& name) {
    auto& kept = scenarios_[name];
    kept.name = name;
    kept.base_name = name.substr(0, name.find('@'));
    kept.title = "title of " + name;
    kept.file = kept.base_name + ".yaml";
    return kept;
  }
  TestResult result(const std::string& name, Verdict verdict, double seconds = 0.5) {
    TestResult made;
    made.scenario = &scenario(name);
    made.name = name;
    made.verdict = verdict;
    made.seconds = seconds;
    if (verdict == Verdict::fail) {
      made.reason = "step 1 (stat f)";
      made.mismatches.push_back(Mismatch{"steps", 1, "t.yaml:6:5", "stat f", "size", "== 4", "5\xff", ""});
    }
    return made;
  }
  // Writes the results as `run --json` does and returns the file's path.
  std::string write_json(const std::string& file, const std::vector<TestResult>& results, const std::string& shard = "",
                         const std::string& fs = "memfs") {
    std::string path = (dir_ / file).string();
    JsonReporter reporter(path);
    RunSummary summary;
    for (const auto& one : results) summary.counts.add(one.verdict);
    summary.seconds = static_cast<double>(results.size());
    reporter.start(RunHeader{fs, results.size(), "", shard});
    reporter.finish(results, summary);
    return path;
  }

  fs::path dir_;
  std::map<std::string, Scenario> scenarios_;
};

TEST_F(MergeTest, JsonResultsComeBackWithTheirExactBytes) {
  auto path = write_json("one.json", {result("a/x", Verdict::fail), result("a/y@p=1", Verdict::pass, 2)}, "2/3");
  ResultsFile file = read_results_file(path);
  EXPECT_EQ(file.fs, "memfs");
  ASSERT_TRUE(file.shard);
  EXPECT_EQ(file.shard->index, 2);
  EXPECT_EQ(file.shard->count, 3);
  ASSERT_EQ(file.results.size(), 2u);
  const TestResult& failed = file.results[0];
  EXPECT_EQ(failed.verdict, Verdict::fail);
  EXPECT_EQ(failed.reason, "step 1 (stat f)");
  ASSERT_EQ(failed.mismatches.size(), 1u);
  EXPECT_EQ(failed.mismatches[0].got, "5\xff");  // not UTF-8: from its _hex companion
  EXPECT_EQ(failed.scenario->title, "title of a/x");
  EXPECT_EQ(file.results[1].scenario->base_name, "a/y");
  EXPECT_EQ(recorded_durations(path).at("a/y@p=1"), 2);
}

TEST_F(MergeTest, ShardsMergeIntoOneRunWithOneExitCode) {
  auto one = write_json("1.json", {result("a/x", Verdict::pass), result("a/y", Verdict::skip)}, "1/2");
  auto two = write_json("2.json", {result("b/z", Verdict::fail)}, "2/2");
  MergedResults merged = merge_results({read_results_file(one), read_results_file(two)});
  EXPECT_EQ(merged.results.size(), 3u);
  EXPECT_EQ(merged.summary.counts.summary_line(), "1 passed, 1 failed, 1 skipped, 0 xfailed, 0 xpassed, 0 broken");
  EXPECT_EQ(merged.summary.counts.exit_code(), exit_code::failures);
  EXPECT_EQ(merged.summary.seconds, 2);  // the longest shard
  auto clean = write_json("2c.json", {result("b/z", Verdict::xfail)}, "2/2");
  EXPECT_EQ(merge_results({read_results_file(one), read_results_file(clean)}).summary.counts.exit_code(), 0);
}

TEST_F(MergeTest, ShardsThatDoNotMakeOneRunAreRefused) {
  auto one = write_json("1.json", {result("a/x", Verdict::pass)}, "1/3");
  auto two = write_json("2.json", {result("b/x", Verdict::pass)}, "2/3");
  auto three = write_json("3.json", {result("c/x", Verdict::pass)}, "3/3");
  auto again = write_json("again.json", {result("d/x", Verdict::pass)}, "2/3");
  auto other_split = write_json("other.json", {result("e/x", Verdict::pass)}, "3/4");
  auto duplicate = write_json("dup.json", {result("a/x", Verdict::pass)}, "3/3");
  auto other_fs = write_json("fs.json", {result("c/x", Verdict::pass)}, "3/3", "dir:/tmp");
  auto merge = [](std::vector<std::string> paths) {
    std::vector<ResultsFile> files;
    for (const auto& path : paths) files.push_back(read_results_file(path));
    return merge_results(std::move(files));
  };
  EXPECT_EQ(merge({one, two, three}).results.size(), 3u);
  for (const auto& bad : std::vector<std::vector<std::string>>{{one, two},
                                                               {one, two, three, again},
                                                               {one, two, other_split},
                                                               {one, two, duplicate},
                                                               {one, two, other_fs}}) {
    try {
      merge(bad);
      ADD_FAILURE() << "merged " << bad.back();
    } catch (const HarnessError& error) {
      EXPECT_EQ(error.exit_code, exit_code::usage) << error.what();
    }
  }
  std::ofstream(dir_ / "junk.json") << "{\"tests\": [{\"verdict\": \"MAYBE\", \"name\": \"x\"}]}";
  EXPECT_THROW(read_results_file((dir_ / "junk.json").string()), FileError);
  EXPECT_THROW(read_results_file((dir_ / "absent.json").string()), FileError);
}

std::vector<Scenario> files_of(const std::map<std::string, int>& tests_per_file) {
  std::vector<Scenario> tests;
  for (const auto& [file, count] : tests_per_file)
    for (int variant = 0; variant < count; ++variant) {
      Scenario test;
      test.base_name = file;
      test.name = count == 1 ? file : fmt::format("{}@v={}", file, variant);
      tests.push_back(test);
    }
  return tests;
}

TEST(ShardDurations, RecordedSecondsBalanceTheShardsAndUnrecordedTestsGetTheMedian) {
  // 12 one-test files; "slow" took 10 s, the others 1 s. By count the shards get 6 and 6
  // tests (one of them 15 s); by duration "slow" is alone with at most one other test.
  std::map<std::string, int> layout{{"slow", 1}};
  Durations durations{{"slow", 10}};
  for (int i = 0; i < 11; ++i) {
    layout[fmt::format("f{:02d}", i)] = 1;
    if (i < 10) durations[fmt::format("f{:02d}", i)] = 1;  // f10 is unrecorded: the median, 1 s
  }
  auto tests = files_of(layout);
  auto seconds_of = [&](const std::vector<Scenario>& part) {
    double total = 0;
    for (const auto& test : part) total += durations.count(test.name) ? durations[test.name] : 1;
    return total;
  };
  for (int count = 1; count <= 5; ++count) {
    std::map<std::string, int> seen;
    double longest = 0;
    for (int index = 1; index <= count; ++index) {
      auto part = take_shard(tests, ShardSpec{index, count}, durations);
      for (const auto& test : part) ++seen[test.name];
      longest = std::max(longest, seconds_of(part));
    }
    EXPECT_EQ(seen.size(), tests.size()) << count;
    for (const auto& [name, times] : seen) EXPECT_EQ(times, 1) << name;
    EXPECT_LE(longest, std::max(10.0, 21.0 / count + 1)) << "N=" << count;
  }
  auto by_count = take_shard(tests, ShardSpec{1, 2});
  auto by_time = take_shard(tests, ShardSpec{1, 2}, durations);
  EXPECT_EQ(by_count.size(), 6u);
  EXPECT_GT(std::max(seconds_of(by_count), seconds_of(take_shard(tests, ShardSpec{2, 2}))), 11);
  EXPECT_LE(std::max(seconds_of(by_time), seconds_of(take_shard(tests, ShardSpec{2, 2}, durations))), 11);
}

// A shard drops tests by moving the others down the vector: each kept test's repro file is
// still its own document (yaml-cpp's Node `=` would make a dropped test's document refer to
// the one moved over it, and so change every handle of that document).
TEST(ShardDurations, KeptTestsKeepTheirOwnSourceDocuments) {
  std::vector<Scenario> tests;
  for (int i = 0; i < 8; ++i)
    for (auto& test : parse_scenario_text(
             fmt::format("format: 1\ntitle: title-{}\nrefs: [r]\nparams:\n  n: [1, 2]\nsteps:\n  - {{op: stat, "
                         "path: f}}\n",
                         i),
             "s.yaml", fmt::format("f{}", i)))
      tests.push_back(std::move(test));
  for (int index = 1; index <= 3; ++index)
    for (const auto& test : take_shard(tests, ShardSpec{index, 3}))
      EXPECT_NE(repro_yaml(test, "memfs", 0).find("title: " + test.title + "\n"), std::string::npos) << test.name;
}

TEST_F(MergeTest, WrittenExpectationsExpectTodaysFailuresAndKeepWhatIsStillNeeded) {
  std::string existing_path = (dir_ / "old.yaml").string();
  std::ofstream(existing_path) << "format: 1\nentries:\n"
                                  "  - {test: 'old/fixed', status: xfail, reason: was broken}\n"
                                  "  - {test: 'old/still*', status: xfail, reason: still broken}\n"
                                  "  - {test: 'old/unselected', status: skip, reason: not run today}\n";
  Expectations existing = Expectations::load(existing_path);
  std::vector<TestResult> results{result("a/fails", Verdict::fail),
                                  result("a/hangs", Verdict::broken),
                                  result("a/passes", Verdict::pass),
                                  result("old/fixed", Verdict::xpass),
                                  result("old/still-failing", Verdict::xfail),
                                  result("a/fails", Verdict::fail),
                                  result("a/sometimes", Verdict::pass),
                                  result("a/sometimes", Verdict::fail),
                                  result("a/sometimes", Verdict::pass)};
  results[3].expectation = &existing.entries()[0];
  results[4].expectation = &existing.entries()[1];
  TestResult unmounted = result("a/never-ran", Verdict::broken);
  unmounted.ran = false;
  results.push_back(unmounted);
  std::string path = (dir_ / "new.yaml").string();
  EXPECT_EQ(write_expectations(path, results, &existing, "exec:myfs -f {mnt}\nX"), 3);
  Expectations written = Expectations::load(path);
  std::map<std::string, const ExpectationEntry*> by_test;
  for (const auto& entry : written.entries()) by_test[entry.pattern] = &entry;
  ASSERT_EQ(by_test.size(), 5u);
  EXPECT_FALSE(by_test.at("a/fails")->skip);
  EXPECT_TRUE(by_test.at("a/fails")->placeholder());
  EXPECT_NE(by_test.at("a/fails")->reason.find("FAIL: step 1 (stat f)"), std::string::npos);
  EXPECT_TRUE(by_test.at("a/hangs")->skip);
  // Failing in one repetition of three: an xfail entry would make the other runs XPASS.
  EXPECT_TRUE(by_test.at("a/sometimes")->skip);
  EXPECT_NE(by_test.at("a/sometimes")->reason.find("it was FAIL in 1 of 3 runs: step 1"), std::string::npos)
      << by_test.at("a/sometimes")->reason;
  EXPECT_EQ(by_test.at("old/still*")->reason, "still broken");
  EXPECT_FALSE(by_test.at("old/still*")->placeholder());
  EXPECT_TRUE(by_test.count("old/unselected"));
  EXPECT_FALSE(by_test.count("old/fixed")) << "an entry whose test passes is dropped";
  EXPECT_THROW(write_expectations((dir_ / "no" / "dir.yaml").string(), results, nullptr, "memfs"), HarnessError);
}

}  // namespace
