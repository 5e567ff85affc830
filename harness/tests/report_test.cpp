// Unit tests of the harness's output side: shell quoting, printable text,
// the JUnit and JSON reporters (escaping, recoverable bytes, write errors), repro paths that
// stay inside the results directory whatever a test's name says, and sharding.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <set>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fusecheck/report.hpp"
#include "fusecheck/shard.hpp"
#include "fusecheck/text.hpp"

using namespace fusecheck;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A scratch directory removed at the end of each test.
class Scratch : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fusecheck-report-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

Scenario scenario_named(const std::string& name) {
  Scenario scenario;
  scenario.name = name;
  scenario.base_name = name;
  scenario.title = "a title";
  scenario.file = "t.yaml";
  return scenario;
}

TestResult failed(const Scenario& scenario, const std::string& reason) {
  TestResult result;
  result.scenario = &scenario;
  result.name = scenario.name;
  result.verdict = Verdict::fail;
  result.reason = reason;
  return result;
}

TEST(Text, ShellQuoteLeavesPlainWordsAndQuotesTheRest) {
  EXPECT_EQ(shell_quote("dir:/tmp/x"), "dir:/tmp/x");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("a b;rm"), "'a b;rm'");
}

TEST(Text, PrintableEscapesControlsAndBadBytesButKeepsUtf8) {
  EXPECT_EQ(printable("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(printable("a\x1b[31mb"), "a\\x1b[31mb");
  EXPECT_EQ(printable("bad\xff\xfe"), "bad\\xff\\xfe");
  EXPECT_EQ(printable("\xc2\x9b"), "\\xc2\\x9b");  // C1 CSI
  EXPECT_EQ(printable("two\nlines"), "two\nlines");
  EXPECT_EQ(printable("two\nlines", false), "two\\x0alines");
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));      // overlong '/'
  EXPECT_TRUE(valid_utf8("\xf0\x9f\x99\x82"));
}

TEST_F(Scratch, JsonKeepsEveryByteOfANameThatIsNotUtf8) {
  Scenario scenario = scenario_named("area/bad\xff\x1b[2Jname");
  std::vector<TestResult> results{failed(scenario, "reason \xfe")};
  JsonReporter reporter((dir_ / "out.json").string());
  reporter.start(RunHeader{"memfs", 1, ""});
  reporter.finish(results, RunSummary{});
  auto doc = nlohmann::json::parse(read_text(dir_ / "out.json"));
  const auto& test = doc["tests"][0];
  EXPECT_EQ(test["name"], "area/bad\\xff\\x1b[2Jname");
  // The exact bytes come back from the hex companion.
  std::string hex = test["name_hex"], bytes;
  for (size_t i = 0; i < hex.size(); i += 2) bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  EXPECT_EQ(bytes, scenario.name);
  EXPECT_TRUE(test.contains("reason_hex"));
  EXPECT_FALSE(test.contains("title_hex"));
}

TEST_F(Scratch, JunitStaysWellFormedWithControlsAndBadBytes) {
  Scenario scenario = scenario_named("area/x\xff\x01<y>");
  std::vector<TestResult> results{failed(scenario, "got \x1b[31m")};
  JunitReporter reporter((dir_ / "out.xml").string());
  reporter.finish(results, RunSummary{});
  std::string xml = read_text(dir_ / "out.xml");
  EXPECT_TRUE(valid_utf8(xml));
  for (char c : xml) EXPECT_TRUE(static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t') << int(c);
  EXPECT_NE(xml.find("name=\"area/x\\xff\\x01&lt;y&gt;\""), std::string::npos) << xml;
}

TEST_F(Scratch, TextReporterEscapesWhatATerminalWouldObey) {
  Scenario scenario = scenario_named("area/\x1b]0;owned\x07");
  std::ostringstream out, err;
  TextReporter reporter(TextReporter::Style{}, out, err);
  reporter.start(RunHeader{"memfs", 1, ""});
  reporter.result(failed(scenario, "reason\x1b[2J"));
  EXPECT_EQ(out.str().find('\x1b'), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("\\x1b]0;owned\\x07"), std::string::npos) << out.str();
}

TEST_F(Scratch, UnwritableOutputFailsBeforeTheRunAndWriteErrorsAreReported) {
  EXPECT_THROW(JsonReporter((dir_ / "no" / "such" / "dir.json").string()), HarnessError);
  EXPECT_THROW(JunitReporter(dir_.string()), HarnessError);  // a directory
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  Scenario scenario = scenario_named("area/t");
  std::vector<TestResult> results{failed(scenario, "x")};
  JsonReporter full("/dev/full");
  EXPECT_THROW(full.finish(results, RunSummary{}), HarnessError);
}

TEST_F(Scratch, ReporterListFinishesEveryReporterAndThenReportsTheFailure) {
  std::ostringstream out, err;
  ReporterList list;
  if (::access("/dev/full", W_OK) == 0) list.add(std::make_unique<JsonReporter>("/dev/full"));
  list.add(std::make_unique<TextReporter>(TextReporter::Style{}, out, err));
  RunSummary summary;
  summary.counts.failed = 1;
  if (::access("/dev/full", W_OK) == 0) {
    EXPECT_THROW(list.finish({}, summary), HarnessError);
  } else {
    list.finish({}, summary);
  }
  EXPECT_NE(out.str().find("0 passed, 1 failed"), std::string::npos) << out.str();
}

TEST_F(Scratch, ReproFilesStayInsideTheResultsDirectory) {
  for (const std::string name : {"../../escape", "area/../../../escape", "/abs/olute", "area/./x@a=1,b=2"}) {
    Scenario scenario = scenario_named(name);
    std::string path = write_repro((dir_ / "results").string(), failed(scenario, "x"), "memfs", 0);
    auto relative = fs::weakly_canonical(path).lexically_relative(fs::weakly_canonical(dir_ / "results"));
    EXPECT_FALSE(relative.empty()) << name << " -> " << path;
    EXPECT_NE(*relative.begin(), "..") << name << " -> " << path;
    EXPECT_TRUE(fs::exists(path)) << path;
  }
  EXPECT_FALSE(fs::exists(dir_ / "escape"));
  EXPECT_FALSE(fs::exists(dir_.parent_path() / "escape"));
}

}  // namespace

namespace {

std::vector<Scenario> synthetic_suite() {
  std::vector<Scenario> tests;
  for (int file = 0; file < 23; ++file)
    for (int variant = 0; variant <= file % 4; ++variant) {
      Scenario scenario;
      scenario.base_name = fmt::format("area{}/file{:02d}", file % 3, file);
      scenario.name = variant == 0 ? scenario.base_name : fmt::format("{}@v={}", scenario.base_name, variant);
      scenario.file = "/somewhere/" + scenario.base_name + ".yaml";
      tests.push_back(scenario);
    }
  return tests;
}

TEST(Shard, EveryTestRunsOnExactlyOneShardAndAFilesVariantsStayTogether) {
  auto all = synthetic_suite();
  for (int count = 1; count <= 5; ++count) {
    std::map<std::string, int> seen;
    std::map<std::string, std::set<int>> shards_of_file;
    size_t largest = 0, smallest = all.size();
    for (int index = 1; index <= count; ++index) {
      auto part = take_shard(all, ShardSpec{index, count});
      largest = std::max(largest, part.size());
      smallest = std::min(smallest, part.size());
      for (const auto& test : part) {
        ++seen[test.name];
        shards_of_file[test.base_name].insert(index);
      }
      auto again = take_shard(all, ShardSpec{index, count});
      ASSERT_EQ(part.size(), again.size());
      for (size_t i = 0; i < part.size(); ++i) EXPECT_EQ(part[i].name, again[i].name) << "not deterministic";
    }
    EXPECT_EQ(seen.size(), all.size()) << count;
    for (const auto& [name, times] : seen) EXPECT_EQ(times, 1) << name << " in shard count " << count;
    for (const auto& [file, shards] : shards_of_file) EXPECT_EQ(shards.size(), 1u) << file;
    EXPECT_LE(largest - smallest, 4u) << "unbalanced at N=" << count;
  }
}

TEST(Shard, BadValuesAreUsageErrors) {
  EXPECT_EQ(parse_shard("2/5").index, 2);
  for (const char* bad : {"0/3", "4/3", "1/0", "x/2", "3", "1/2/3"})
    EXPECT_THROW(parse_shard(bad), HarnessError) << bad;
}

}  // namespace
