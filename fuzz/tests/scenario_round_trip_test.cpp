// Every operation kind the fuzzer generates, written as a scenario with the expectations a
// tmpfs gave, must parse and replay to PASS on a fresh tmpfs: the scenario form of each op
// (argument names, flag lists, data, actors, saved results and expect encodings) means
// exactly what the fuzzer ran, and changing one expectation makes it FAIL.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/xattr.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <thread>
#include <utility>

#include "fusecheck/actor.hpp"
#include "fusecheck/data_dir.hpp"
#include "fusecheck/fuzz.hpp"
#include "fusecheck/runner.hpp"
#include "fusecheck/scenario.hpp"
#include "fusecheck/target.hpp"
#include "operation.hpp"
#include "scenario_writer.hpp"

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

Operation with(Operation op, const std::function<void(Operation&)>& change) {
  change(op);
  return op;
}

// An operation through the descriptor alice (actor 1) keeps in slot 1.
Operation through_alices_descriptor(OpKind kind, const std::function<void(Operation&)>& change = {}) {
  return with(make(kind, ""), [&](Operation& op) {
    op.actor = 1;
    op.slot = 1;
    if (change) change(op);
  });
}

// A sequence touching every kind, with successes and failures (EEXIST, ENOTEMPTY, ENODATA,
// EPERM), three actors, descriptors kept across an unlink and a big directory.
std::vector<Operation> every_kind() {
  using O = Operation;
  std::vector<Operation> ops;
  ops.push_back(with(make(OpKind::mkdir, "d"), [](O& op) { op.mode = 0755; }));
  ops.push_back(with(make(OpKind::create_file, "a", "", std::string("AB\0z", 4)), [](O& op) { op.mode = 0600; }));
  ops.push_back(with(make(OpKind::create_file, "c", "", fusecheck::generate_bytes(1500, 2)), [](O& op) {
    op.data_seed = 2;
    op.actor = 1;
  }));
  ops.push_back(with(make(OpKind::pwrite, "a", "", "zz"), [](O& op) { op.offset = 9; }));
  ops.push_back(make(OpKind::read_file, "a"));
  ops.push_back(with(make(OpKind::truncate, "a"), [](O& op) { op.size = 5; }));
  ops.push_back(make(OpKind::forget, ""));  // drop_caches: an engine step, no expect
  ops.push_back(with(make(OpKind::truncate, "a"), [](O& op) { op.size = 100000; }));
  ops.push_back(make(OpKind::link, "a", "d/a"));
  ops.push_back(make(OpKind::symlink, "b", "d/a"));
  ops.push_back(make(OpKind::symlink, "e1", std::string(4095, 'y').replace(200, 1, "/")));
  ops.push_back(make(OpKind::stat, "b"));
  ops.push_back(make(OpKind::stat, "d/a"));
  ops.push_back(make(OpKind::rmdir, "d"));  // ENOTEMPTY
  ops.push_back(with(make(OpKind::chmod, "a"), [](O& op) { op.mode = 04777; }));
  ops.push_back(with(make(OpKind::chown, "c"), [](O& op) {
    op.text = "chown";
    op.uid = 1001;
    op.actor = 1;  // EPERM: alice may not give her file away
  }));
  ops.push_back(with(make(OpKind::chown, "a"), [](O& op) {
    op.text = "lchown";
    op.gid = 3000;
  }));
  ops.push_back(with(make(OpKind::utimensat, "a"), [](O& op) {
    op.atime = {{"kind", "omit"}};
    op.mtime = {{"kind", "ns"}, {"ns", 1500000000123456789LL}};
  }));
  ops.push_back(with(make(OpKind::mknod, "p"), [](O& op) {
    op.text = "chr";
    op.minor = 7;
  }));
  ops.push_back(with(make(OpKind::mknod, "d/p"), [](O& op) { op.text = "fifo"; }));
  ops.push_back(with(make(OpKind::setxattr, "a", "", std::string("v\0", 2)), [](O& op) {
    op.text = "user.x";
    op.flags = {"XATTR_CREATE"};
  }));
  ops.push_back(with(make(OpKind::setxattr, "a", "", "w"), [](O& op) {
    op.text = "user.x";
    op.flags = {"XATTR_CREATE"};  // EEXIST
  }));
  ops.push_back(make(OpKind::listxattr, "a"));
  ops.push_back(with(make(OpKind::getxattr, "d/a"), [](O& op) { op.text = "user.x"; }));
  ops.push_back(with(make(OpKind::removexattr, "a"), [](O& op) { op.text = "user.x"; }));
  ops.push_back(with(make(OpKind::getxattr, "a"), [](O& op) { op.text = "user.x"; }));  // ENODATA
  ops.push_back(with(make(OpKind::open, "a"), [](O& op) {
    op.flags = {"O_RDWR"};
    op.actor = 2;  // EACCES: bob may not
  }));
  ops.push_back(with(make(OpKind::open, "c"), [](O& op) {
    op.flags = {"O_RDWR", "O_APPEND", "O_TRUNC"};
    op.actor = 1;
    op.slot = 1;
  }));
  ops.push_back(make(OpKind::unlink, "c"));
  ops.push_back(through_alices_descriptor(OpKind::fd_write, [](O& op) {
    op.text = "write";
    op.data = "tail";
  }));
  ops.push_back(through_alices_descriptor(OpKind::fd_read, [](O& op) {
    op.text = "pread";
    op.size = 8192;
    op.offset = 1400;
  }));
  ops.push_back(through_alices_descriptor(OpKind::fd_truncate, [](O& op) { op.size = 24; }));
  ops.push_back(through_alices_descriptor(OpKind::fd_chmod, [](O& op) { op.mode = 0640; }));
  ops.push_back(through_alices_descriptor(OpKind::fd_chown, [](O& op) { op.gid = 3000; }));
  ops.push_back(through_alices_descriptor(OpKind::close));
  ops.push_back(with(make(OpKind::rename, "a", "b"), [](O& op) { op.flags = {"RENAME_NOREPLACE"}; }));  // EEXIST
  ops.push_back(with(make(OpKind::rename, "a", "b"), [](O& op) { op.flags = {"RENAME_EXCHANGE"}; }));
  ops.push_back(make(OpKind::rename, "d/a", "c"));
  ops.push_back(make(OpKind::unlink, "b"));
  ops.push_back(make(OpKind::statvfs, "."));
  ops.push_back(with(make(OpKind::populate, ""), [](O& op) {
    op.text = std::string(120, 'f');
    op.size = 40;
    op.flags = {"dir"};
  }));
  ops.push_back(with(make(OpKind::populate, ""), [](O& op) {
    op.text = "g";
    op.size = 70;
    op.offset = 9;  // in runs of 9 between runs of "gs" names
    op.flags = {"file"};
  }));
  ops.push_back(with(make(OpKind::depopulate, ""), [](O& op) {
    op.text = "g";
    op.offset = 3;
    op.size = 5;
    op.flags = {"file"};
  }));
  ops.push_back(with(make(OpKind::list_big, ""), [](O& op) { op.size = 600; }));
  ops.push_back(make(OpKind::statvfs, "."));
  ops.push_back(make(OpKind::dir_identity, "d"));
  ops.push_back(make(OpKind::listdir, "."));
  ops.push_back(make(OpKind::listdir, "d"));
  return ops;
}

// Runs the operations on a fresh tmpfs with one actor per fuzz identity, as the fuzzer does.
fusecheck::fuzz::RecordedCase record_on_tmpfs(const std::vector<Operation>& operations) {
  fusecheck::fuzz::RecordedCase recorded;
  fusecheck::fuzz::ScopedTmpfs recording_fs;
  auto deadline = [] { return fusecheck::Clock::now() + std::chrono::seconds(5); };
  std::vector<std::unique_ptr<fusecheck::ActorProcess>> actors;
  for (const auto& who : fusecheck::fuzz::fuzz_actors()) {
    actors.push_back(fusecheck::ActorProcess::start(fusecheck::helper_executable("fusecheck-actor"), who.identity));
  }
  const auto root = recording_fs.path().string();
  EXPECT_TRUE(actors[0]->call({{"op", "chdir"}, {"path", root}}, deadline()).body.value("ok", false));
  EXPECT_TRUE(
      actors[0]->call({{"op", "prepare_workdir"}, {"path", "w"}, {"mode", 0777}}, deadline()).body.value("ok", false));
  for (auto& actor : actors)
    EXPECT_TRUE(actor->call({{"op", "chdir"}, {"path", root + "/w"}}, deadline()).body.value("ok", false));
  fusecheck::fuzz::SideObserver observer(fusecheck::fuzz::CompareOptions{.coarse_times = true});
  for (const auto& op : operations) {
    recorded.operations.push_back(op);
    bool first = true;
    for (const auto& made : op.calls()) {
      auto reply = fusecheck::fuzz::runs_in_fuzzer(made)
                       ? fusecheck::ActorProcess::Reply{{}, fusecheck::fuzz::run_in_fuzzer(made), ""}
                       : actors.at(made.actor)->call(made.request, deadline());
      auto observed = observer.observe(made.request, reply.body, static_cast<int>(reply.status), reply.detail);
      EXPECT_FALSE(observed.result.contains("broken")) << op << ": " << observed.result.dump();
      recorded.steps.push_back({made, observed, observed, std::exchange(first, false)});
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // tmpfs's clock ticks every 4 ms
  }
  actors.clear();  // they leave the tmpfs before it is unmounted
  return recorded;
}

fusecheck::Verdict replay_on_tmpfs(const std::string& yaml, const std::string& name, std::string& transcript) {
  auto tests = fusecheck::parse_scenario_text(yaml, name + ".yaml", "fuzz/" + name);
  EXPECT_EQ(tests.size(), 1u);
  fusecheck::fuzz::ScopedTmpfs replay_fs;
  fusecheck::RunOptions run;
  run.target = fusecheck::parse_target("dir:" + replay_fs.path().string(), /*exclusive=*/true);
  auto results = fusecheck::run_tests(tests, run);
  EXPECT_EQ(results.size(), 1u);
  for (const auto& line : results.at(0).transcript) transcript += line + "\n";
  transcript += results.at(0).reason;
  return results.at(0).verdict;
}

TEST(ScenarioRoundTrip, EveryOperationKindReplaysToPassOnTmpfs) {
  const auto recorded = record_on_tmpfs(every_kind());
  // The sequence is only a good test if it saw both outcomes.
  size_t failures = 0;
  for (const auto& step : recorded.steps) failures += step.oracle.result.contains("errno");
  EXPECT_GE(failures, 5u);
  EXPECT_LT(failures, recorded.steps.size() / 2);

  const std::string yaml = fusecheck::fuzz::scenario_text(recorded, "tmpfs", 1);
  if (std::getenv("FUSECHECK_FUZZ_SHOW")) std::cerr << yaml;
  std::string transcript;
  EXPECT_EQ(replay_on_tmpfs(yaml, "every-kind", transcript), fusecheck::Verdict::pass) << transcript << yaml;

  // And the expectations are real: the same file with one changed expectation fails, for an
  // errno, a time change, an inode identity and a statvfs delta.
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{{"expect: ENOTEMPTY", "expect: ok"},
                                                        {"ctime: {changed: ", "ctime: {unchanged: "},
                                                        {"ino: {eq: {saved:", "ino: {ne: {saved:"},
                                                        {"ffree: {eq: {saved: s", "ffree: {ne: {saved: s"}}) {
    std::string altered = yaml;
    auto at = altered.find(from);
    ASSERT_NE(at, std::string::npos) << from << "\n" << yaml;
    altered.replace(at, from.size(), to);
    std::string ignored;
    EXPECT_EQ(replay_on_tmpfs(altered, "altered", ignored), fusecheck::Verdict::fail) << from;
  }
}

}  // namespace
