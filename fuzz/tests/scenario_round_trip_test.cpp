// Every operation kind the fuzzer generates, written as a scenario with the expectations a
// tmpfs gave, must parse and replay to PASS on a fresh tmpfs: the scenario form of each op
// (argument names, flag lists, data and expect encodings) means exactly what the fuzzer ran.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/xattr.h>

#include <gtest/gtest.h>

#include <cstdlib>

#include "fusecheck/actor.hpp"
#include "fusecheck/data_dir.hpp"
#include "fusecheck/fuzz.hpp"
#include "fusecheck/runner.hpp"
#include "fusecheck/scenario.hpp"
#include "fusecheck/target.hpp"
#include "operation.hpp"

namespace {

using fusecheck::fuzz::Operation;
using fusecheck::fuzz::OpKind;

Operation make(OpKind kind, std::string path, std::string other = "", std::string data = "") {
  Operation op;
  op.kind = kind;
  op.path = std::move(path);
  op.other = std::move(other);
  op.data = std::move(data);
  return op;
}

// A sequence touching every kind, with successes and failures (EEXIST, ENOTEMPTY, ENODATA).
std::vector<Operation> every_kind() {
  std::vector<Operation> ops;
  auto mkdir = make(OpKind::mkdir, "d");
  mkdir.mode = 0755;
  ops.push_back(mkdir);
  auto create = make(OpKind::create_file, "a", "", std::string("AB\0z", 4));
  create.mode = 0600;
  ops.push_back(create);
  auto write = make(OpKind::pwrite, "a", "", "zz");
  write.offset = 9;  // beyond the end: a hole of zeros
  ops.push_back(write);
  ops.push_back(make(OpKind::read_file, "a"));
  auto shrink = make(OpKind::truncate, "a");
  shrink.size = 5;
  ops.push_back(shrink);
  ops.push_back(make(OpKind::link, "a", "d/a"));
  ops.push_back(make(OpKind::symlink, "b", "d/a"));
  ops.push_back(make(OpKind::stat, "b"));
  ops.push_back(make(OpKind::stat, "d/a"));
  ops.push_back(make(OpKind::stat, "d"));
  ops.push_back(make(OpKind::rmdir, "d"));  // ENOTEMPTY
  auto chmod = make(OpKind::chmod, "a");
  chmod.mode = 01777;
  ops.push_back(chmod);
  auto set = make(OpKind::setxattr, "a", "", std::string("v\0", 2));
  set.flags = XATTR_CREATE;
  ops.push_back(set);
  auto set_again = make(OpKind::setxattr, "a", "", "w");
  set_again.flags = XATTR_CREATE;  // EEXIST
  ops.push_back(set_again);
  ops.push_back(make(OpKind::getxattr, "d/a"));
  ops.push_back(make(OpKind::removexattr, "a"));
  ops.push_back(make(OpKind::getxattr, "a"));  // ENODATA
  auto noreplace = make(OpKind::rename, "a", "b");
  noreplace.flags = RENAME_NOREPLACE;  // EEXIST
  ops.push_back(noreplace);
  auto exchange = make(OpKind::rename, "a", "b");
  exchange.flags = RENAME_EXCHANGE;
  ops.push_back(exchange);
  ops.push_back(make(OpKind::rename, "d/a", "c"));
  ops.push_back(make(OpKind::unlink, "b"));
  ops.push_back(make(OpKind::listdir, "."));
  ops.push_back(make(OpKind::listdir, "d"));
  return ops;
}

TEST(ScenarioRoundTrip, EveryOperationKindReplaysToPassOnTmpfs) {
  fusecheck::fuzz::RecordedCase recorded;
  {
    fusecheck::fuzz::ScopedTmpfs recording_fs;
    auto actor = fusecheck::ActorProcess::start(fusecheck::helper_executable("fusecheck-actor"), {});
    auto deadline = [] { return fusecheck::Clock::now() + std::chrono::seconds(5); };
    ASSERT_TRUE(
        actor->call({{"op", "chdir"}, {"path", recording_fs.path().string()}}, deadline()).body.value("ok", false));
    for (const auto& op : every_kind()) {
      recorded.operations.push_back(op);
      const auto requests = op.requests();
      for (size_t i = 0; i < requests.size(); ++i) {
        auto reply = actor->call(requests[i], deadline());
        auto result =
            fusecheck::fuzz::normalise_reply(requests[i], reply.body, static_cast<int>(reply.status), reply.detail);
        ASSERT_FALSE(result.contains("broken")) << op << ": " << result.dump();
        recorded.step_texts.push_back(op.scenario_step(i));
        recorded.oracle_results.push_back(result);
        recorded.target_results.push_back(result);
      }
    }
    actor.reset();  // leaves the tmpfs before it is unmounted
  }
  // The sequence is only a good test if it saw both outcomes.
  size_t failures = 0;
  for (const auto& result : recorded.oracle_results) failures += result.contains("errno");
  EXPECT_GE(failures, 4u);
  EXPECT_LT(failures, recorded.oracle_results.size() / 2);

  const std::string yaml = fusecheck::fuzz::scenario_text(recorded, "tmpfs", 1);
  auto tests = fusecheck::parse_scenario_text(yaml, "every-kind.yaml", "fuzz/every-kind");
  ASSERT_EQ(tests.size(), 1u);
  EXPECT_EQ(tests[0].steps.size(), recorded.step_texts.size());

  fusecheck::fuzz::ScopedTmpfs replay_fs;
  fusecheck::RunOptions run;
  run.target = fusecheck::parse_target("dir:" + replay_fs.path().string(), /*exclusive=*/true);
  auto results = fusecheck::run_tests(tests, run);
  ASSERT_EQ(results.size(), 1u);
  std::string transcript;
  for (const auto& line : results[0].transcript) transcript += line + "\n";
  EXPECT_EQ(results[0].verdict, fusecheck::Verdict::pass) << results[0].reason << "\n" << transcript << yaml;

  // And the expectations are real: the same file with the ENOTEMPTY step expecting success fails.
  std::string altered = yaml;
  auto at = altered.find("expect: ENOTEMPTY");
  ASSERT_NE(at, std::string::npos) << yaml;
  altered.replace(at, std::string("expect: ENOTEMPTY").size(), "expect: ok");
  auto altered_results =
      fusecheck::run_tests(fusecheck::parse_scenario_text(altered, "altered.yaml", "fuzz/altered"), run);
  ASSERT_EQ(altered_results.size(), 1u);
  EXPECT_EQ(altered_results[0].verdict, fusecheck::Verdict::fail);
  if (std::getenv("FUSECHECK_FUZZ_SHOW")) std::cerr << yaml;
}

}  // namespace
