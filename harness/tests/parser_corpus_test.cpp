// The parser fuzzer's corpus (harness/fuzz/parser_corpus/, including every input it ever
// crashed on) run through the parsers as unit tests, so GCC and the ASan build check what
// the clang-only fuzzer found: each input parses or fails with a one-line FileError naming
// the file (a hang is caught by CTest's timeout).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fusecheck/runner.hpp"
#include "fusecheck/scenario.hpp"

using namespace fusecheck;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void expect_clean_error(const FileError& error, const fs::path& input) {
  std::string message = error.what();
  EXPECT_EQ(message.rfind("input.yaml", 0), 0u) << input << ": " << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << input << ": " << message;
}

TEST(ParserCorpus, EveryInputParsesOrFailsWithAOneLineFileError) {
  fs::path corpus = fs::path(FUSECHECK_SOURCE_DIR) / "harness" / "fuzz" / "parser_corpus";
  int inputs = 0;
  for (const auto& entry : fs::directory_iterator(corpus)) {
    std::string text = read_text(entry.path());
    try {
      auto scenarios = parse_scenario_text(text, "input.yaml", "corpus/input");
      if (!scenarios.empty()) repro_yaml(scenarios.front(), "memfs", 1);
    } catch (const FileError& error) {
      expect_clean_error(error, entry.path());
    }
    try {
      Expectations::parse(text, "input.yaml");
    } catch (const FileError& error) {
      expect_clean_error(error, entry.path());
    }
    ++inputs;
  }
  EXPECT_GE(inputs, 20);
}

// Found by the fuzzer: the YAML library's message quoted a raw control byte of the input, so
// the error was not one printable line (crash-yaml-error-quotes-a-control-byte.yaml).
TEST(ParserCorpus, ASyntaxErrorQuotingAControlByteIsOnePrintableLine) {
  std::string text = "format: 1\ntitle: \"bad escape \\\x01\"\n";  // a backslash, then byte 1
  for (int parser = 0; parser < 2; ++parser) {
    try {
      if (parser == 0)
        parse_scenario_text(text, "input.yaml", "corpus/input");
      else
        Expectations::parse(text, "input.yaml");
      ADD_FAILURE() << "parsed";
    } catch (const FileError& error) {
      std::string message = error.what();
      EXPECT_NE(message.find("YAML syntax error"), std::string::npos) << message;
      for (char c : message) EXPECT_TRUE(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) << message;
    }
  }
}

// Found by the fuzzer: "unknown op 'NAME'" quoted the file's bytes as they were, newline and
// all (crash-unknown-op-quotes-a-newline.yaml); every parser message is now one line.
TEST(ParserCorpus, AnUnknownNameWithANewlineIsQuotedOnOneLine) {
  try {
    parse_scenario_text("format: 1\ntitle: t\nrefs: [r]\nsteps:\n  - {op: \"st\\nat\\x1b\", path: f}\n", "input.yaml",
                        "corpus/input");
    ADD_FAILURE() << "parsed";
  } catch (const FileError& error) {
    EXPECT_STREQ(error.what(), "input.yaml:5:10: unknown op 'st\\x0aat\\x1b'") << error.what();
  }
}

}  // namespace
