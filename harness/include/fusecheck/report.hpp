// Reporting of results: the text lines users read (per test, failures with mismatches and
// the command that reruns the test), the closing summary line, JUnit XML, JSON, and
// repro.yaml files.
#pragma once

#include <map>
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

// Lines that explain a non-passing result: reason, mismatches (expected vs got, step,
// file:line), the rerun command and the repro file.
std::string describe_result(const TestResult& result, const std::string& rerun_command);

// The shell command that reruns exactly this test on the same target.
std::string rerun_command(const std::string& program, const TestResult& result, const std::string& fs,
                          const std::string& scenarios_dir);

std::string shell_quote_arg(const std::string& word);

// Writes results/<test name>/repro.yaml; returns its path ("" if it could not be written).
std::string write_repro(const std::string& results_dir, const TestResult& result, const std::string& fs, unsigned seed);

void write_junit(const std::string& path, const std::vector<TestResult>& results, const std::string& fs,
                 double seconds);
void write_json(const std::string& path, const std::vector<TestResult>& results, const std::string& fs,
                double seconds, const Counts& counts);

}  // namespace fusecheck
