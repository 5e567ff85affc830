// Reporting of results through one interface, Reporter (start, result, finish): the text
// lines users read, JUnit XML and JSON. Repro files are the runner's (runner.hpp); this file
// also has the counts and summary line, the rerun command and the failure description.
#pragma once

#include <functional>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fusecheck/runner.hpp"

namespace fusecheck {

struct Counts {
  int passed = 0, failed = 0, skipped = 0, xfailed = 0, xpassed = 0, broken = 0;
  void add(Verdict verdict);
  std::string summary_line() const;  // "N passed, N failed, N skipped, ..."
  int exit_code() const;             // 0, 1 or 3 (docs/scenario-format.md section 11)
};

struct RunHeader {
  std::string fs;            // the --fs text
  size_t tests = 0;          // results to come (tests x repetitions)
  std::string expectations;  // the expectations file's path, if any
  std::string shard;         // "K/N" when the run is one shard of a split, else empty
};

struct RunSummary {
  Counts counts;
  double seconds = 0;
  RunStats stats;
};

// Receives a run's events. The runner calls notice/mounted/result (serialised, from any
// thread); the caller calls start before and finish after. finish throws HarnessError when
// the reporter's output could not be written.
class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void start(const RunHeader&) {}
  virtual void notice(const std::string&) {}
  virtual void mounted(const Mount&) {}
  virtual void result(const TestResult&) {}
  virtual void finish(const std::vector<TestResult>&, const RunSummary&) {}
};

// Lines that explain a non-passing result: reason, mismatches (expected vs got, step,
// file:line), the rerun command and the repro file. Names and reasons are printable().
std::string describe_result(const TestResult& result, const std::string& rerun_command);

// The shell command that reruns exactly this test on the same target.
std::string rerun_command(const std::string& program, const TestResult& result, const std::string& fs,
                          const std::string& scenarios_dir);

// The terminal's report: a line per test (problems with details), a progress line on a
// tty, notices on stderr, and the summary line.
class TextReporter : public Reporter {
 public:
  struct Style {
    int verbosity = 0;  // -1 quiet, 0 normal, 1 verbose
    bool tty = false;
    std::function<std::string(const TestResult&)> rerun;  // the command that reruns a result
  };
  TextReporter(Style style, std::ostream& out, std::ostream& err);
  void start(const RunHeader& header) override;
  void notice(const std::string& text) override;
  void mounted(const Mount& mount) override;
  void result(const TestResult& result) override;
  void finish(const std::vector<TestResult>& results, const RunSummary& summary) override;
  // Ends the progress line before something else is printed.
  void clear_progress();

 private:
  std::string details(const TestResult& result) const;
  Style style_;
  std::ostream& out_;
  std::ostream& err_;
  RunHeader header_;
  size_t finished_ = 0;
  bool progress_shown_ = false;
};

// A reporter that writes one file when the run finishes. The file is opened by the
// constructor, so a path that cannot be written fails (HarnessError, exit_code::usage)
// before anything runs; a write that fails later throws HarnessError from finish.
class FileReporter : public Reporter {
 public:
  ~FileReporter() override;
  void start(const RunHeader& header) override { header_ = header; }

 protected:
  FileReporter(std::string path, std::string what);
  std::ofstream& out() { return *out_; }
  void close();  // flushes and closes; throws HarnessError naming the cause
  const std::string& fs() const { return header_.fs; }
  const RunHeader& header() const { return header_; }

 private:
  std::string path_, what_;
  RunHeader header_;
  std::unique_ptr<std::ofstream> out_;
};

// JUnit XML (one testsuite per area).
class JunitReporter : public FileReporter {
 public:
  explicit JunitReporter(std::string path) : FileReporter(std::move(path), "JUnit XML") {}
  void finish(const std::vector<TestResult>& results, const RunSummary& summary) override;
};

// JSON: every result with its mismatches and transcript, and the run's shard if it is one. A
// string that is not valid UTF-8 is stored printable() with a companion "<key>_hex" holding
// its exact bytes. `fusecheck merge` reads it back (merge.hpp).
class JsonReporter : public FileReporter {
 public:
  explicit JsonReporter(std::string path) : FileReporter(std::move(path), "JSON") {}
  void finish(const std::vector<TestResult>& results, const RunSummary& summary) override;
};

// Sends every event to each reporter in turn. finish gives every reporter its turn even
// when one fails, then throws one HarnessError naming every failure.
class ReporterList : public Reporter {
 public:
  void add(std::unique_ptr<Reporter> reporter) { reporters_.push_back(std::move(reporter)); }
  void start(const RunHeader& header) override;
  void notice(const std::string& text) override;
  void mounted(const Mount& mount) override;
  void result(const TestResult& result) override;
  void finish(const std::vector<TestResult>& results, const RunSummary& summary) override;

 private:
  std::vector<std::unique_ptr<Reporter>> reporters_;
};

}  // namespace fusecheck
