// The fuzzer's execution machinery (fuzz/src/execution.hpp): actors and workdirs are kept
// across test cases, so these tests show that cases stay independent all the same: each case
// starts in an empty directory, with no descriptor of the last case open and every byte and
// inode it used freed (statvfs deltas compare across calls), also after a case that failed;
// and that a batch of calls answers each call in order.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <filesystem>
#include <fusepp/testing.hpp>
#include <memfs/memfs.hpp>
#include <stdexcept>
#include <string>

#include "execution.hpp"
#include "fusecheck/data_dir.hpp"
#include "fusecheck/fuzz.hpp"
#include "fusecheck/protocol.hpp"

namespace {

using namespace fusecheck;
using namespace fusecheck::fuzz;
using nlohmann::json;

constexpr double kTimeout = 5.0;
constexpr size_t kRoot = 0, kAlice = 1;

json call(Side& side, size_t actor, const json& request) {
  auto reply = side.actors.at(actor).in(side.workdir, kTimeout).call(request, ActorSlot::deadline_after(kTimeout));
  EXPECT_EQ(reply.status, ActorProcess::Reply::Status::ok) << reply.detail;
  return reply.body;
}

// What a case leaves behind if nothing cleans up: names, a file only a descriptor keeps (its
// name unlinked), and blocks and inodes both.
void leave_a_mess(Side& side) {
  const std::string bytes = to_hex(std::string(20000, 'x'));
  EXPECT_TRUE(call(side, kRoot, {{"op", "create_file"}, {"path", "a"}, {"mode", 0644}, {"data", bytes}})["ok"]);
  EXPECT_TRUE(call(side, kRoot, {{"op", "mkdir"}, {"path", "d"}, {"mode", 0777}})["ok"]);
  EXPECT_TRUE(
      call(side, kAlice,
           {{"op", "open"}, {"path", "held"}, {"flags", O_CREAT | O_RDWR}, {"mode", 0600}, {"fd", "f0"}})["ok"]);
  EXPECT_TRUE(call(side, kAlice, {{"op", "write"}, {"fd", "f0"}, {"data", bytes}})["ok"]);
  EXPECT_TRUE(call(side, kAlice, {{"op", "unlink"}, {"path", "held"}})["ok"]);
}

json free_counts(Side& side) {
  auto reply = call(side, kRoot, {{"op", "statvfs"}, {"path", "."}});
  return {reply["r"]["ffree"], reply["r"]["bfree"]};
}

// A FUSE target (memfs, as `fusecheck fuzz` uses by default) and the tmpfs oracle.
struct TwoSides : testing::Test {
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (tmpfs mount, actors of other uids)";
  }
  memfs::MemFs filesystem;
  fusepp::testing::ScopedMount mount{filesystem, {"default_permissions", "allow_other"}};
  ScopedTmpfs tmpfs;
  Side target{helper_executable("fusecheck-actor"), mount.path()};
  Side oracle{helper_executable("fusecheck-actor"), tmpfs.path()};
};

TEST_F(TwoSides, ACaseStartsEmptyWithNothingOfTheLastOneOpenOrAllocated) {
  CaseWorkdirs workdirs({&target, &oracle}, kTimeout);
  workdirs.begin("case-1");
  json before[] = {free_counts(target), free_counts(oracle)};
  for (Side* side : {&target, &oracle}) leave_a_mess(*side);
  EXPECT_NE(free_counts(target), before[0]);  // the mess holds blocks and inodes
  EXPECT_NE(free_counts(oracle), before[1]);
  workdirs.end();

  workdirs.begin("case-2");
  // The sweepers remove case-1 meanwhile: the fuzzer waits for them before a statvfs. Before
  // alice acts again (entering a workdir closes what an actor holds anyway).
  workdirs.finish();
  EXPECT_EQ(free_counts(target), before[0]);
  EXPECT_EQ(free_counts(oracle), before[1]);
  for (Side* side : {&target, &oracle}) {
    EXPECT_FALSE(std::filesystem::exists(side->root / "case-1")) << side->root;
    auto listed = call(*side, kRoot, {{"op", "listdir"}, {"path", "."}});
    EXPECT_EQ(listed["r"]["entries"].size(), 2u) << listed;  // . and ..
    auto held = call(*side, kAlice, {{"op", "fstat"}, {"fd", "f0"}});
    EXPECT_EQ(held["errno"], EBADF) << "the last case's descriptor is still open: " << held;
  }
  workdirs.end();
  workdirs.finish();
  EXPECT_FALSE(std::filesystem::exists(target.root / "case-2"));
  EXPECT_FALSE(std::filesystem::exists(oracle.root / "case-2"));
}

// memfs stamps from CLOCK_REALTIME; tmpfs and memfs -o coarse_clock from the kernel's coarse
// clock. The probe tells them apart every time and leaves nothing behind.
TEST_F(TwoSides, TheClockProbeTellsACoarseClockFromAnExactOne) {
  memfs::Options coarse;
  coarse.coarse_clock = true;
  memfs::MemFs coarse_filesystem(coarse);
  fusepp::testing::ScopedMount coarse_mount{coarse_filesystem, {"default_permissions", "allow_other"}};
  Side coarse_side{helper_executable("fusecheck-actor"), coarse_mount.path()};
  for (int round = 0; round < 5; ++round) {
    EXPECT_FALSE(target_clock_ticks(target, kTimeout)) << "memfs";
    EXPECT_TRUE(target_clock_ticks(oracle, kTimeout)) << "tmpfs";
    EXPECT_TRUE(target_clock_ticks(coarse_side, kTimeout)) << "memfs -o coarse_clock";
  }
  for (const auto& root : {target.root, oracle.root, coarse_side.root})
    EXPECT_TRUE(std::filesystem::is_empty(root)) << root;
}

TEST_F(TwoSides, ACaseThatFailsByThrowingIsCleanedUpAsWell) {
  CaseWorkdirs workdirs({&target, &oracle}, kTimeout);
  workdirs.begin("before");
  json before[] = {free_counts(target), free_counts(oracle)};
  workdirs.end();
  EXPECT_THROW(
      {
        CaseWorkdirs::Scope scope(workdirs, "failing");
        for (Side* side : {&target, &oracle}) leave_a_mess(*side);
        throw std::runtime_error("a difference");
      },
      std::runtime_error);
  CaseWorkdirs::Scope next(workdirs, "next");
  workdirs.finish();
  EXPECT_EQ(free_counts(target), before[0]);
  EXPECT_EQ(free_counts(oracle), before[1]);
  for (Side* side : {&target, &oracle}) {
    EXPECT_FALSE(std::filesystem::exists(side->root / "failing")) << side->root;
    EXPECT_EQ(call(*side, kAlice, {{"op", "fstat"}, {"fd", "f0"}})["errno"], EBADF);
  }
}

TEST_F(TwoSides, AnActorThatCannotEnterIsAnErrorAndStartsAfreshUnconfined) {
  CaseWorkdirs workdirs({&target, &oracle}, kTimeout);
  workdirs.begin("case");
  ActorSlot& root = target.actors.at(kRoot);
  ASSERT_TRUE(root.confined());
  root.post_enter(target.root / "missing");
  EXPECT_FALSE(root.settle(kTimeout));
  EXPECT_FALSE(root.confined());  // a failed chdir leaves an actor at the real root
  EXPECT_THROW(root.in(target.root / "missing", kTimeout), HarnessError);
  EXPECT_NO_THROW(root.in(target.workdir, kTimeout));
  workdirs.end();
}

TEST_F(TwoSides, AWorkdirThatCannotBeMadeIsAHarnessError) {
  CaseWorkdirs workdirs({&target, &oracle}, kTimeout);
  std::filesystem::create_directory(oracle.root / "taken");
  EXPECT_THROW(workdirs.begin("taken"), HarnessError);
  workdirs.finish();
  // The side where it was made is cleaned up; the directory that was there already is not ours.
  EXPECT_FALSE(std::filesystem::exists(target.root / "taken"));
  EXPECT_TRUE(std::filesystem::exists(oracle.root / "taken"));
  std::filesystem::remove(oracle.root / "taken");
}

// A workdir the sweeper cannot remove (a mount inside it, which the removal never crosses) is
// counted and named with the sweeper's answer, and the next cases go on.
TEST_F(TwoSides, AWorkdirThatCannotBeRemovedIsReportedAndTheNextCaseGoesOn) {
  CaseWorkdirs workdirs({&target, &oracle}, kTimeout);
  workdirs.begin("stuck");
  const auto inner = oracle.workdir / "mounted";
  std::filesystem::create_directory(inner);
  ASSERT_EQ(::mount("tmpfs", inner.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
  workdirs.end();
  workdirs.begin("after");
  workdirs.end();
  workdirs.finish();
  ::umount2(inner.c_str(), MNT_DETACH);
  EXPECT_EQ(workdirs.removal_failures(), 1u);
  EXPECT_NE(workdirs.first_removal_failure().find((oracle.root / "stuck").string()), std::string::npos)
      << workdirs.first_removal_failure();
  EXPECT_FALSE(std::filesystem::exists(oracle.root / "after"));
  EXPECT_FALSE(std::filesystem::exists(target.root / "stuck"));
  std::filesystem::remove_all(oracle.root / "stuck");
}

Call call_of(size_t actor, const std::string& op) { return Call{{{"op", op}, {"path", "a"}}, actor}; }

TEST(Batches, EveryCallItsActorMakesInARowUntilAnotherActorOrTheFuzzerActs) {
  const std::vector<Call> observed = {call_of(kRoot, "mkdir"), call_of(kRoot, "lstat"), call_of(kRoot, "lstat")};
  EXPECT_EQ(batch_length(observed, 0), 3u);
  EXPECT_EQ(batch_length(observed, 1), 2u);
  // Another actor's call waits for the answer: actors run in parallel, so only the answer orders them.
  EXPECT_EQ(batch_length({call_of(kAlice, "chmod"), call_of(kRoot, "lstat")}, 0), 1u);
  // Changes after stats go along: the actor's clock stamp marks when each stat was answered.
  const std::vector<Call> through_fd = {call_of(kRoot, "open"), call_of(kRoot, "pwrite"), call_of(kRoot, "close"),
                                        call_of(kRoot, "fstat"), call_of(kAlice, "read_file")};
  EXPECT_EQ(batch_length(through_fd, 0), 4u);
  EXPECT_EQ(batch_length(through_fd, 2), 2u);
  EXPECT_EQ(batch_length(through_fd, 4), 1u);
  // drop_caches is the fuzzer's own call: what follows it waits for it.
  const std::vector<Call> forgetting = {call_of(kRoot, "lstat"), Call{{{"op", "drop_caches"}}, kRoot},
                                        call_of(kRoot, "lstat")};
  EXPECT_EQ(batch_length(forgetting, 0), 1u);
}

TEST_F(TwoSides, ABatchAnswersEveryCallInOrderAndLeavesNoAnswerUnread) {
  CaseWorkdirs workdirs({&target, &oracle}, kTimeout);
  CaseWorkdirs::Scope scope(workdirs, "case");
  const std::vector<Call> calls = {Call{{{"op", "create_file"}, {"path", "a"}, {"mode", 0644}}, kRoot},
                                   Call{{{"op", "lstat"}, {"path", "a"}}, kRoot},
                                   Call{{{"op", "lstat"}, {"path", "missing"}}, kRoot},
                                   Call{{{"op", "lstat"}, {"path", "."}}, kRoot}};
  ASSERT_EQ(batch_length(calls, 0), calls.size());
  auto answers = run_batch(oracle, target, calls, 0, calls.size(), kTimeout);
  ASSERT_EQ(answers.size(), calls.size());
  for (auto side : {&Answers::oracle, &Answers::target}) {
    // Each answer carries the coarse clock after its call, in call order.
    for (size_t i = 1; i < answers.size(); ++i)
      EXPECT_LE((answers[i - 1].*side).body.at("t").get<int64_t>(), (answers[i].*side).body.at("t").get<int64_t>());
    EXPECT_TRUE((answers[0].*side).body["ok"]);
    EXPECT_EQ((answers[1].*side).body["r"]["type"], "file");
    EXPECT_EQ((answers[2].*side).body["errno"], ENOENT);
    EXPECT_EQ((answers[3].*side).body["r"]["type"], "dir");
  }
  auto next = call(target, kRoot, {{"op", "lstat"}, {"path", "a"}});
  EXPECT_EQ(next["r"]["type"], "file") << next;
}

}  // namespace
