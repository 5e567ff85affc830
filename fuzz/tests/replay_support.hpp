// Test support shared by the fuzzer's mounted tests: runs a generated counterexample scenario
// on a directory (a mount, a tmpfs) with the harness and returns its verdict, showing the
// transcript when it did not pass; names parameterised tests after memfs variants.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <string>

#include "fusecheck/runner.hpp"
#include "fusecheck/scenario.hpp"
#include "fusecheck/target.hpp"

namespace fuzz_test_support {

inline fusecheck::Verdict replay_on_directory(const std::string& scenario_yaml,
                                              const std::filesystem::path& directory) {
  auto tests = fusecheck::parse_scenario_text(scenario_yaml, "counterexample.yaml", "fuzz/counterexample");
  EXPECT_EQ(tests.size(), 1u);
  fusecheck::RunOptions run;
  run.target = fusecheck::parse_target("dir:" + directory.string(), /*exclusive=*/true);
  auto results = fusecheck::run_tests(tests, run);
  EXPECT_EQ(results.size(), 1u);
  if (results.at(0).verdict != fusecheck::Verdict::pass)
    for (const auto& line : results.at(0).transcript) std::cerr << "  " << line << "\n";
  return results.at(0).verdict;
}

// A gtest name for a test of the variant named in its parameter ("chmod-keeps-ctime" ->
// "chmod_keeps_ctime").
inline std::string variant_test_name(const testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name)
    if (c == '-') c = '_';
  return name;
}

}  // namespace fuzz_test_support
