// Unit tests of the scenario parser and expectations reader: every bad input is refused
// with FILE:LINE:COL, paths cannot leave the workdir, params expand into named tests.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "fusecheck/protocol.hpp"
#include "fusecheck/runner.hpp"
#include "fusecheck/scenario.hpp"

using namespace fusecheck;
using nlohmann::json;

namespace {

const char* header = "format: 1\ntitle: t\nrefs: [r]\n";

// The scenarios of a file "s.yaml" (test name stem "area/s") that is `header` + body.
std::vector<Scenario> parse(const std::string& body) {
  return parse_scenario_text(std::string(header) + body, "s.yaml", "area/s");
}

std::string parse_error(const std::string& body) {
  try {
    parse(body);
  } catch (const FileError& error) {
    return error.what();
  }
  return "";
}

TEST(Parser, MalformedYamlCitesFileLineColumn) {
  std::string error = parse_error("steps:\n  - {op: stat, path: f\n");
  EXPECT_TRUE(std::regex_search(error, std::regex("^s\\.yaml:[0-9]+:[0-9]+: YAML syntax error"))) << error;
}

TEST(Parser, UnknownStepKeyIsRejectedWithItsPosition) {
  std::string error = parse_error("steps:\n  - {op: stat, pth: f}\n");
  EXPECT_NE(error.find("s.yaml:5:16: unknown key 'pth' in step 'stat'"), std::string::npos) << error;
}

TEST(Parser, UnknownTopLevelKeyIsRejected) {
  std::string error = parse_error("stepz: []\nsteps:\n  - {op: stat, path: f}\n");
  EXPECT_NE(error.find("s.yaml:4:1: unknown key 'stepz' in scenario"), std::string::npos) << error;
}

TEST(Parser, UnknownOpErrnoFlagAndFieldAreRejected) {
  EXPECT_NE(parse_error("steps:\n  - {op: statt, path: f}\n").find("unknown op 'statt'"), std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {op: stat, path: f, expect: ENOPE}\n").find("not ok, any, or an errno name"),
            std::string::npos);
  EXPECT_NE(
      parse_error("steps:\n  - {op: open, path: f, flags: [O_RDWRX], fd: h}\n").find("unknown open flag 'O_RDWRX'"),
      std::string::npos);
  EXPECT_NE(
      parse_error("steps:\n  - {op: stat, path: f, expect: {sizee: 1}}\n").find("stat has no result field 'sizee'"),
      std::string::npos);
}

TEST(Parser, PathsThatLeaveTheWorkdirAreRefused) {
  EXPECT_NE(
      parse_error("steps:\n  - {op: stat, path: /etc/passwd}\n").find("s.yaml:5:22: path '/etc/passwd' is absolute"),
      std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {op: unlink, path: a/../../x}\n").find("escapes the test's workdir"),
            std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {op: rename, from: f, to: ..}\n").find("to '..' escapes"), std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {op: symlink, target: ../x, path: l}\n").find("symlink target '../x' escapes"),
            std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {op: symlink, target: /etc, path: l}\n").find("is absolute"), std::string::npos);
  // Staying inside is fine: a/../b, and a link in d pointing at ../f.
  EXPECT_EQ(parse_error("steps:\n  - {op: stat, path: a/../b, expect: any}\n"), "");
  EXPECT_EQ(parse_error("steps:\n  - {op: symlink, target: ../f, path: d/l}\n"), "");
}

TEST(Parser, HandlesMustBeOpenAndSavedNamesMustExist) {
  EXPECT_NE(parse_error("steps:\n  - {op: fstat, fd: h}\n").find("fd 'h' is not open in actor 'root'"),
            std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {op: stat, path: f, expect: {mtime: {changed: before}}}\n")
                .find("no earlier step saves a result named 'before'"),
            std::string::npos);
  EXPECT_NE(parse_error("actors:\n  alice: {uid: 1000}\nsteps:\n  - {op: open, path: f, flags: O_RDONLY, fd: h}\n"
                        "  - {op: fstat, actor: alice, fd: h}\n")
                .find("fd 'h' is not open in actor 'alice'"),
            std::string::npos);
}

TEST(Parser, ParamsExpandIntoNamedTestsWithSubstitution) {
  auto tests = parse(
      "params:\n  mode: [0644, 0600]\n  kind: [a, b]\n"
      "steps:\n  - {op: chmod, path: f, mode: \"${mode}\"}\n");
  ASSERT_EQ(tests.size(), 4u);
  EXPECT_EQ(tests[0].name, "area/s@mode=0644,kind=a");
  EXPECT_EQ(tests[3].name, "area/s@mode=0600,kind=b");
  EXPECT_EQ(tests[1].steps[0].request["mode"], 0644);  // octal text stays octal
  EXPECT_EQ(tests[2].steps[0].request["mode"], 0600);
  EXPECT_NE(parse_error("steps:\n  - {op: chmod, path: f, mode: \"${nope}\"}\n").find("unknown parameter ${nope}"),
            std::string::npos);
}

TEST(Parser, ValueReferencesTakeAnIntegerOffset) {
  auto tests = parse(
      "steps:\n  - {op: statvfs, path: ., save: s0}\n"
      "  - {op: statvfs, path: ., expect: {bfree: {eq: {saved: s0, field: bfree, add: -3}}}}\n"
      "  - {op: opendir, path: ., dir: d}\n  - {op: telldir, dir: d, save: t}\n"
      "  - {op: seekdir, dir: d, pos: {saved: t, field: pos, add: 0x10}}\n");
  ASSERT_EQ(tests.size(), 1u);
  const Matcher& eq = tests[0].steps[1].expect.fields.at(0).matchers.at(0);
  EXPECT_EQ(eq.value.kind, ValueRef::Kind::saved);
  EXPECT_EQ(eq.value.add, -3);
  EXPECT_EQ(eq.describe(), "== saved 's0'.bfree - 3");
  EXPECT_EQ(tests[0].steps[4].ref_args.at("pos").add, 16);
  // An offset alone is not a reference; it must be an integer.
  EXPECT_NE(parse_error("steps:\n  - {op: stat, path: f, expect: {size: {eq: {add: 3}}}}\n")
                .find("s.yaml:5:45: eq reference needs saved: or field: (add: offsets a reference)"),
            std::string::npos)
      << parse_error("steps:\n  - {op: stat, path: f, expect: {size: {eq: {add: 3}}}}\n");
  EXPECT_NE(parse_error("steps:\n  - {op: stat, path: f, save: a}\n  - {op: stat, path: f, expect: {size: {eq: {saved: "
                        "a, add: x}}}}\n")
                .find("eq add must be an integer, got 'x'"),
            std::string::npos);
}

TEST(Parser, ParamsAreSubstitutedInMapKeys) {
  auto tests = parse(
      "params:\n  field: [size, nlink]\n  arg: [path]\n"
      "steps:\n  - {op: stat, \"${arg}\": f, expect: {\"${field}\": 1}}\n");
  ASSERT_EQ(tests.size(), 2u);
  EXPECT_EQ(tests[0].steps[0].request["path"], "f");
  EXPECT_EQ(tests[0].steps[0].expect.fields.at(0).field, "size");
  EXPECT_EQ(tests[1].steps[0].expect.fields.at(0).field, "nlink");
  // The substituted key is checked like a literal one, at the position of the key.
  std::string error = parse_error("params:\n  arg: [pth]\nsteps:\n  - {op: stat, \"${arg}\": f}\n");
  EXPECT_NE(error.find("s.yaml:7:16: unknown key 'pth' in step 'stat'"), std::string::npos) << error;
  EXPECT_NE(parse_error("steps:\n  - {op: stat, \"${nope}\": f}\n").find("s.yaml:5:16: unknown parameter ${nope}"),
            std::string::npos);
  error = parse_error("params:\n  arg: [path]\nsteps:\n  - {op: stat, path: f, \"${arg}\": g}\n");
  EXPECT_NE(error.find("s.yaml:7:25: duplicate key 'path'"), std::string::npos) << error;
  // `$$` in a key is a literal `$`, also when the map is reached twice through an alias.
  error = parse_error("params:\n  x: [1]\nsteps:\n  - &s {op: stat, path: f, \"$${x}\": 1}\n  - *s\n");
  EXPECT_NE(error.find("unknown key '${x}'"), std::string::npos) << error;
}

TEST(Parser, ChmodTakesAWholeModeOtherModesOnlyPermissions) {
  auto tests = parse(
      "steps:\n  - {op: chmod, path: f, mode: 0100644}\n"
      "  - {op: open, path: f, flags: O_RDONLY, fd: h}\n  - {op: fchmod, fd: h, mode: 0177777}\n");
  EXPECT_EQ(tests[0].steps[0].request["mode"], 0100644);  // passed to chmod(2) as written
  EXPECT_EQ(tests[0].steps[2].request["mode"], 0177777);
  EXPECT_NE(parse_error("steps:\n  - {op: chmod, path: f, mode: 0200000}\n")
                .find("s.yaml:5:32: chmod mode 0200000 is not a mode (0..0177777)"),
            std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {op: chmod, path: f, mode: -1}\n")
                .find("s.yaml:5:32: chmod mode -1 is negative (0..0177777)"),
            std::string::npos);
  // Modes that create something stay permission bits: a type there is a mistake.
  EXPECT_NE(parse_error("steps:\n  - {op: mkdir, path: d, mode: 0100755}\n")
                .find("s.yaml:5:32: mkdir mode 0100755 is not a permission mode (0..07777)"),
            std::string::npos);
}

TEST(Parser, TimesAsSecNsecArePassedAsWritten) {
  auto tests = parse(
      "steps:\n  - {op: utimensat, path: f, atime: {sec: 1, nsec: 1000000000}, mtime: {sec: 5, nsec: -1}}\n"
      "  - {op: utimensat, path: f, atime: 1500000000, mtime: now}\n");
  const json& request = tests[0].steps[0].request;
  EXPECT_EQ(request["atime"], (json{{"kind", "ts"}, {"sec", 1}, {"nsec", 1000000000}}));
  EXPECT_EQ(request["mtime"], (json{{"kind", "ts"}, {"sec", 5}, {"nsec", -1}}));
  EXPECT_EQ(tests[0].steps[1].request["atime"], (json{{"kind", "ns"}, {"ns", 1500000000}}));
}

TEST(Parser, AliasesAreAcceptedMergeKeysAreRefused) {
  auto tests = parse(
      "setup:\n  - &mk {op: create_file, path: f, mode: 0600}\n"
      "steps:\n  - *mk\n  - {op: stat, path: f, expect: &perm {perm: 0600}}\n"
      "  - {op: lstat, path: f, expect: *perm}\n");
  ASSERT_EQ(tests[0].steps.size(), 3u);
  EXPECT_EQ(tests[0].steps[0].request["mode"], 0600);
  EXPECT_EQ(tests[0].steps[2].expect.fields.at(0).field, "perm");
  std::string error = parse_error("setup:\n  - &mk {op: create_file, path: f}\nsteps:\n  - {<<: *mk, path: g}\n");
  EXPECT_NE(error.find("s.yaml:7:6: merge keys (<<) are not supported"), std::string::npos) << error;
}

TEST(Parser, NonRootActorsImplyOtherUsersAndMountOptionsImplyTheFeature) {
  auto tests = parse(
      "mount: [entry_timeout=0]\nactors:\n  bob: {uid: 1001, groups: [5, 6], umask: 077}\n"
      "steps:\n  - {op: stat, actor: bob, path: ., expect: {uid: bob}}\n");
  ASSERT_EQ(tests.size(), 1u);
  EXPECT_TRUE(tests[0].requires_features.count("other_users"));
  EXPECT_TRUE(tests[0].requires_features.count("mount_options"));
  EXPECT_EQ(tests[0].actors.at("bob").gid, 1001u);
  EXPECT_EQ(tests[0].actors.at("bob").umask, 077u);
  EXPECT_EQ(tests[0].mount_key(), "entry_timeout=0");
}

TEST(Parser, ReproFileRunsTheSameSingleCombination) {
  auto tests = parse("params:\n  n: [1, 2]\nsteps:\n  - {op: truncate, path: f, size: \"${n}\"}\n");
  std::string repro = repro_yaml(tests[1], "memfs", 0);
  auto again = parse_scenario_text(repro, "repro.yaml", "area/s");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].name, "area/s@n=2");
  EXPECT_EQ(again[0].steps[0].request["size"], 2);
}

// A key that holds a parameter stays as written in every combination's source, so the repro
// of the first combination runs the first combination (each combination reads its own copy).
TEST(Parser, ReproOfAParameterInAKeyRunsItsOwnCombination) {
  auto tests = parse(
      "params:\n  field: [size, nlink]\n"
      "steps:\n  - {op: stat, path: f, expect: {\"${field}\": 1}}\n");
  ASSERT_EQ(tests.size(), 2u);
  auto again = parse_scenario_text(repro_yaml(tests[0], "memfs", 0), "repro.yaml", "area/s");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].name, "area/s@field=size");
  EXPECT_EQ(again[0].steps[0].expect.fields.at(0).field, "size");
}

// Many files load on several threads where the machine has CPUs for them, and come back in
// the order given, each with its own scenarios or its own error, as loading them one by one.
TEST(Parser, ManyFilesLoadInTheirOrderWithTheirOwnErrors) {
  auto dir = std::filesystem::temp_directory_path() / ("fusecheck-many-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::vector<ScenarioFile> files;
  for (int i = 0; i < 64; ++i) {
    std::string name = fmt::format("f{:02}", i);
    std::string body = i % 16 == 5 ? "steps:\n  - {op: nope}\n"
                                   : fmt::format(
                                         "params:\n  n: [1, {}]\nsteps:\n  - {{op: truncate, path: f, size: "
                                         "\"${{n}}\"}}\n",
                                         i + 2);
    std::ofstream((dir / (name + ".yaml")).string()) << header << body;
    files.push_back({(dir / (name + ".yaml")).string(), "many/" + name});
  }
  auto loaded = load_scenario_files(files);
  ASSERT_EQ(loaded.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    if (i % 16 == 5) {
      EXPECT_NE(loaded[i].error.find(files[i].path + ":5:10: unknown op 'nope'"), std::string::npos) << loaded[i].error;
      EXPECT_TRUE(loaded[i].scenarios.empty());
      continue;
    }
    EXPECT_EQ(loaded[i].error, "");
    ASSERT_EQ(loaded[i].scenarios.size(), 2u);
    EXPECT_EQ(loaded[i].scenarios[1].name, fmt::format("{}@n={}", files[i].base_name, i + 2));
    EXPECT_EQ(loaded[i].scenarios[1].steps[0].request["size"], static_cast<int>(i) + 2);
  }
  std::filesystem::remove_all(dir);
}

TEST(Expectations, EntriesNeedAReasonAndMatchByNameOrGlob) {
  auto dir = std::filesystem::temp_directory_path() / ("fusecheck-exp-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "bad.yaml") << "format: 1\nentries:\n  - {test: a/b, status: xfail}\n";
  try {
    Expectations::load((dir / "bad.yaml").string());
    ADD_FAILURE() << "an entry without a reason was accepted";
  } catch (const FileError& error) {
    EXPECT_NE(std::string(error.what()).find("bad.yaml:3:5: every entry needs a reason"), std::string::npos)
        << error.what();
  }
  std::ofstream(dir / "good.yaml") << "format: 1\nentries:\n  - {test: 'area/*', status: skip, reason: because}\n";
  auto expectations = Expectations::load((dir / "good.yaml").string());
  auto tests = parse("steps:\n  - {op: stat, path: f}\n");
  const ExpectationEntry* entry = expectations.find(tests[0]);
  ASSERT_NE(entry, nullptr);
  EXPECT_TRUE(entry->skip);
  EXPECT_EQ(entry->reason, "because");
  std::filesystem::remove_all(dir);
}

}  // namespace

namespace {

TEST(Parser, RepeatUnrollsItsStepsWithTheCounter) {
  auto tests =
      parse_scenario_text(std::string(header) +
                              "steps:\n  - {op: create_file, path: f}\n"
                              "  - repeat: 50\n    steps:\n"
                              "      - {op: setxattr, path: f, name: \"user.k${i}\", data: \"v${i}\"}\n"
                              "  - {repeat: 2, start: 7, steps: [{op: stat, path: \"f$${i}${i}\", expect: any}]}\n",
                          "s.yaml", "s");
  ASSERT_EQ(tests[0].steps.size(), 53u);
  EXPECT_EQ(tests[0].steps[1].request["name"], "user.k0");
  EXPECT_EQ(tests[0].steps[50].request["name"], "user.k49");
  EXPECT_EQ(tests[0].steps[50].request["data"], "763439");  // "v49" in hex
  EXPECT_EQ(tests[0].steps[50].where, "s.yaml:8:9");        // the line the author wrote
  EXPECT_NE(tests[0].steps[50].summary.find("[i=49]"), std::string::npos);
  EXPECT_EQ(tests[0].steps[51].request["path"], "f${i}7");
  EXPECT_EQ(tests[0].steps[52].request["path"], "f${i}8");
}

TEST(Parser, RepeatErrorsCiteFileLineColumn) {
  EXPECT_NE(parse_error("steps:\n  - {repeat: 0, steps: [{op: stat, path: f}]}\n")
                .find("s.yaml:5:14: repeat must be within 1..10000"),
            std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {repeat: 10001, steps: [{op: stat, path: f}]}\n")
                .find("s.yaml:5:14: repeat must be within"),
            std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {repeat: x, steps: [{op: stat, path: f}]}\n")
                .find("s.yaml:5:14: repeat must be an integer"),
            std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {repeat: 2}\n").find("s.yaml:5:5: repeat needs steps:"), std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {repeat: 2, steps: [{repeat: 2, steps: [{op: stat, path: f}]}]}\n")
                .find("s.yaml:5:25: repeat cannot nest"),
            std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {repeat: 2, stepz: []}\n").find("s.yaml:5:17: unknown key 'stepz' in repeat"),
            std::string::npos);
  EXPECT_NE(
      parse_error("steps:\n  - {repeat: 2, steps: [{op: stat, path: \"${j}\"}]}\n").find("unknown parameter ${j}"),
      std::string::npos);
  EXPECT_NE(parse_error("params:\n  i: [1]\nsteps:\n  - {repeat: 2, steps: [{op: stat, path: f}]}\n")
                .find("s.yaml:7:5: repeat sets ${i}, which is also a parameter"),
            std::string::npos);
  // Outside a repeat ${i} is an unknown parameter; inside parallel a repeat is refused.
  EXPECT_NE(parse_error("steps:\n  - {op: stat, path: \"${i}\"}\n").find("unknown parameter ${i}"), std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {op: parallel, steps: [{repeat: 2, steps: []}, {op: stat, path: f}]}\n")
                .find("repeat cannot be used here"),
            std::string::npos);
}

}  // namespace

// Kernel interaction steps (docs/scenario-format.md 5.3): the same file:line:col rules.
namespace {

struct BadKernelStep {
  const char* body;
  const char* message;  // a part of the error, with its position where it has one
};

TEST(KernelSteps, BadStepsAreRejectedWithTheirPosition) {
  const BadKernelStep cases[] = {
      {"steps:\n  - {op: fault, rule: {op: LOOKUP, nmae: f}}\n", "s.yaml:5:36: unknown key 'nmae' in fault rule"},
      {"steps:\n  - {op: fault, rule: {op: LOKUP}}\n", "s.yaml:5:28: fault op 'LOKUP' is not a FUSE opcode name"},
      {"steps:\n  - {op: fault, rule: {op: READ, error: EWHAT}}\n", "s.yaml:5:41: fault error must be an errno name"},
      {"steps:\n  - {op: fault, rule: {op: READ, reply: {keep: true}}}\n", "unknown key 'keep' in fault reply"},
      {"steps:\n  - {op: fault, rule: {op: GETATTR, reply: {mtime_ns: soon}}}\n",
       "s.yaml:5:55: mtime_ns must be an integer"},
      {"steps:\n  - {op: backend, action: write, path: f, keep_times: maybe}\n",
       "s.yaml:5:55: keep_times must be true or false, got 'maybe'"},
      {"steps:\n  - {op: expect_requests, since: m, requests: []}\n", "s.yaml:5:34: no mark 'm' before this step"},
      {"steps:\n  - {op: expect_requests, requests: [{op: LOOKUP, count: {about: 1}}]}\n",
       "unknown key 'about' in count"},
      {"steps:\n  - {op: expect_requests, requests: [{op: LOOKUP}], others: few}\n", "others must be any or none"},
      {"steps:\n  - {op: stat, path: f, background: true}\n",
       "s.yaml:5:5: actor 'root' runs this call in the background, but no `await`"},
      {"steps:\n  - {op: stat, path: f, background: true}\n  - {op: stat, path: g}\n",
       "s.yaml:6:5: actor 'root' is still in its background call"},
      {"steps:\n  - {op: await, actor: root}\n", "has no call running in the background here"},
      {"steps:\n  - {op: mkdir, path: d, expect: hang}\n  - {op: stat, path: d}\n",
       "s.yaml:6:5: no step can follow one that expects a hang"},
      {"tags: [kernel]\nsteps:\n  - {op: stat, path: f}\n", "needs must_fail_with"},
      {"steps:\n  - {op: wait_request, gate: g, interrupted: maybe}\n",
       "s.yaml:5:46: interrupted must be true or false"},
      {"steps:\n  - {op: release, gate: g, interrupted: true}\n", "s.yaml:5:28: unknown key 'interrupted'"},
  };
  for (const auto& bad : cases) {
    std::string error = parse_error(bad.body);
    EXPECT_NE(error.find(bad.message), std::string::npos) << bad.body << " gave: " << error;
  }
}

TEST(KernelSteps, StepsSetTheScenariosRequirements) {
  const std::string body =
      "must_fail_with: {mount: [x]}\nsteps:\n  - {op: backend, action: write, path: g, keep_times: true}\n"
      "  - {op: drop_caches}\n  - {op: fault, rule: {op: GETATTR, reply: {mtime_ns: 1500000000123456789}}}\n";
  Scenario kernel = parse(body).at(0);
  EXPECT_TRUE(kernel.isolated && kernel.control);
  for (const char* feature : {"trace", "backend", "root", "fuse"})
    EXPECT_TRUE(kernel.requires_features.count(feature)) << feature;
  EXPECT_EQ(kernel.breaker_mount, std::vector<std::string>{"x"});
  EXPECT_EQ(kernel.steps.at(0).engine.value("keep_times", false), true);
  EXPECT_EQ(kernel.steps.at(2).engine["rule"]["reply"]["mtime_ns"], 1500000000123456789LL);
  // The kernel forgets the dentries of any filesystem: drop_caches alone needs root, not FUSE.
  Scenario forgetting = parse("steps:\n  - {op: drop_caches, what: dentries}\n").at(0);
  EXPECT_TRUE(forgetting.requires_features.count("root"));
  EXPECT_FALSE(forgetting.requires_features.count("fuse"));
}

// A remount ends every handle on the mount: one still open is a file error naming it; once
// closed, the step parses and makes the scenario isolated with memfs's control channel, and
// it runs on any target (no `fuse` needed).
TEST(KernelSteps, RemountRefusesHandlesStillOpen) {
  EXPECT_NE(parse_error("steps:\n  - {op: open, path: f, flags: [O_RDONLY], fd: h}\n  - {op: remount}\n")
                .find("s.yaml:6:5: remount with 'h' of actor 'root' still open: close it first"),
            std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {op: opendir, path: ., dir: d}\n  - {op: remount}\n").find("'d' of actor"),
            std::string::npos);
  EXPECT_NE(parse_error("steps:\n  - {op: stat, path: f, background: true}\n  - {op: remount}\n")
                .find("remount while actor 'root' is in its background call"),
            std::string::npos);
  EXPECT_NE(
      parse_error("setup:\n  - {op: remount}\nsteps:\n  - {op: stat, path: f}\n").find("remount belongs in steps:"),
      std::string::npos);
  const std::string closed =
      "steps:\n  - {op: open, path: f, flags: [O_RDONLY], fd: h}\n  - {op: close, fd: h}\n"
      "  - {op: remount}\n";
  Scenario remounts = parse(closed).at(0);
  EXPECT_TRUE(remounts.isolated && remounts.control);
  EXPECT_TRUE(remounts.requires_features.count("root"));
  EXPECT_FALSE(remounts.requires_features.count("fuse"));
  EXPECT_FALSE(remounts.requires_features.count("trace"));
}

TEST(KernelSteps, WaitRequestMayCountOnlyInterruptedRequests) {
  const std::string body = "steps:\n  - {op: wait_request, gate: g, interrupted: true}\n";
  Scenario scenario = parse(body).at(0);
  ASSERT_EQ(scenario.steps.size(), 1u);
  EXPECT_EQ(scenario.steps[0].engine.value("interrupted", false), true);
}

}  // namespace

// Generated data is splitmix64's output, little-endian, cut at the size: a scenario's `gen`
// bytes must never change (reference values computed independently of this code).
TEST(Parser, GeneratedBytesAreSplitmix64LittleEndian) {
  EXPECT_EQ(fusecheck::to_hex(fusecheck::generate_bytes(13, 1)), "c15c0289ec2d0a9167ec8e65a1");
  EXPECT_EQ(fusecheck::to_hex(fusecheck::generate_bytes(8, 7)), "d70d3259e4e1cb63");
  EXPECT_EQ(fusecheck::to_hex(fusecheck::generate_bytes(3, 0)), "afcd1d");
  EXPECT_EQ(fusecheck::generate_bytes(0, 5), "");
}

// `from` jumps into the stream: the same bytes as generating from the start and cutting.
TEST(Parser, GeneratedBytesFromAnOffsetAreTheStreamsTail) {
  for (size_t from : {0, 1, 7, 8, 9, 37303})
    for (size_t size : {0, 1, 5, 8, 13, 1034})
      EXPECT_EQ(fusecheck::generate_bytes(size, 1001, from), fusecheck::generate_bytes(from + size, 1001).substr(from))
          << "from " << from << " size " << size;
}
