// libFuzzer target over the harness's input parsers: every input is parsed as a scenario
// file (and each parsed scenario written back as a repro file) and as an expectations file.
// Malformed input must end in a FileError whose message names the file; any other exception,
// a crash, a sanitizer report, a hang (-timeout) or runaway memory (-rss_limit_mb) is a bug.
// Built with clang only (-DFUSECHECK_PARSER_FUZZER=ON); run with `./dev fuzz-parser`.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fusecheck/runner.hpp"
#include "fusecheck/scenario.hpp"

namespace {

constexpr const char* kFile = "fuzz.yaml";

// A parser's error must be the documented one-line "fuzz.yaml[:line:col]: message".
void check_error_message(const fusecheck::FileError& error) {
  std::string message = error.what();
  if (message.rfind(kFile, 0) != 0 || message.find('\n') != std::string::npos) {
    std::fprintf(stderr, "malformed error message: %s\n", message.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto scenarios = fusecheck::parse_scenario_text(text, kFile, "fuzz/input");
    if (!scenarios.empty()) fusecheck::repro_yaml(scenarios.front(), "memfs", 1);
  } catch (const fusecheck::FileError& error) {
    check_error_message(error);
  }
  try {
    fusecheck::Expectations::parse(text, kFile);
  } catch (const fusecheck::FileError& error) {
    check_error_message(error);
  }
  return 0;
}
