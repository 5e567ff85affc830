// Tests of the actor process and its client: identity switching, answers, deadlines on a
// call that blocks, a killed actor reported with its signal, never a hang, and the workdir
// removal (rmtree) that must stay on its side of symlinks and mounts.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "fusecheck/actor.hpp"
#include "fusecheck/data_dir.hpp"

using namespace fusecheck;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string actor_path() { return helper_executable("fusecheck-actor"); }

TEST(Actor, DropsToTheRequestedIdentityInOrder) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch identities";
  Identity alice{1000, 1001, {1001, 3000}, 077};
  auto actor = ActorProcess::start(actor_path(), alice);
  auto reply = actor->call({{"op", "identity"}}, Clock::now() + 5s);
  ASSERT_EQ(reply.status, ActorProcess::Reply::Status::ok) << reply.detail;
  const auto& r = reply.body["r"];
  EXPECT_EQ(r["uid"], 1000);
  EXPECT_EQ(r["gid"], 1001);
  EXPECT_EQ(r["groups"], json::array({1001, 3000}));
  EXPECT_EQ(r["umask"], 077);
  // And the kernel agrees: a root-only file is out of reach.
  auto denied = actor->call({{"op", "stat"}, {"path", "/root/."}}, Clock::now() + 5s);
  EXPECT_FALSE(denied.body.value("ok", true));
}

TEST(Actor, AnswersWithResultsOrErrnos) {
  auto actor = ActorProcess::start(actor_path(), Identity{});
  auto ok = actor->call({{"op", "stat"}, {"path", "/"}}, Clock::now() + 5s);
  ASSERT_TRUE(ok.body.value("ok", false));
  EXPECT_EQ(ok.body["r"]["type"], "dir");
  EXPECT_EQ(ok.body["r"]["ino"], 2);
  auto missing = actor->call({{"op", "stat"}, {"path", "/does/not/exist"}}, Clock::now() + 5s);
  EXPECT_FALSE(missing.body.value("ok", true));
  EXPECT_EQ(missing.body["errno"], ENOENT);
  auto closed = actor->call({{"op", "fstat"}, {"fd", "never_opened"}}, Clock::now() + 5s);
  EXPECT_EQ(closed.body["errno"], EBADF);
  auto unknown = actor->call({{"op", "no_such_op"}}, Clock::now() + 5s);
  EXPECT_EQ(unknown.status, ActorProcess::Reply::Status::protocol);
}

// readdir_many's `listed`: what a program walking the stream has collected, which a seekdir
// back to a telldir position (given, or the last one when `pos` is left out) cuts back to.
TEST(Actor, AStreamsListingFollowsTelldirSeekdirAndRewinddir) {
  const auto dir = std::filesystem::temp_directory_path() / ("actor-listing-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const char* name : {"a", "b", "c"}) std::ofstream(dir / name) << name;
  auto actor = ActorProcess::start(actor_path(), Identity{});
  auto call = [&](json request) {
    auto reply = actor->call(request, Clock::now() + 5s);
    EXPECT_TRUE(reply.body.value("ok", false)) << request.dump() << " " << reply.body.dump();
    return reply.body["r"];
  };
  call({{"op", "opendir"}, {"path", dir.string()}, {"dir", "h"}});
  EXPECT_EQ(call({{"op", "readdir_many"}, {"dir", "h"}, {"count", 2}})["listed"].size(), 2u);
  const auto mark = call({{"op", "telldir"}, {"dir", "h"}})["pos"];
  const auto next = call({{"op", "readdir_many"}, {"dir", "h"}, {"count", 1}})["names"];
  call({{"op", "seekdir"}, {"dir", "h"}});
  auto rest = call({{"op", "readdir_many"}, {"dir", "h"}});
  EXPECT_TRUE(rest["end"]);
  EXPECT_EQ(rest["names"][0], next[0]) << "resumed where telldir was";
  EXPECT_EQ(rest["listed"].size(), 5u) << ". .. a b c, each once: " << rest["listed"].dump();
  call({{"op", "seekdir"}, {"dir", "h"}, {"pos", mark}});
  EXPECT_EQ(call({{"op", "readdir_many"}, {"dir", "h"}, {"count", 0}})["listed"].size(), 5u);
  call({{"op", "rewinddir"}, {"dir", "h"}});
  EXPECT_EQ(call({{"op", "readdir_many"}, {"dir", "h"}, {"count", 1}})["listed"].size(), 1u);
  call({{"op", "closedir"}, {"dir", "h"}});
  std::filesystem::remove_all(dir);
}

TEST(Actor, ABlockedCallTimesOutAndTheActorCanBeKilled) {
  std::string fifo = std::filesystem::temp_directory_path() / ("fusecheck-actor-fifo-" + std::to_string(::getpid()));
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto actor = ActorProcess::start(actor_path(), Identity{});
  auto started = Clock::now();
  // Opening a FIFO for reading blocks until a writer comes: none will.
  auto reply = actor->call({{"op", "open"}, {"path", fifo}, {"flags", 0}, {"fd", "f"}}, Clock::now() + 300ms);
  EXPECT_EQ(reply.status, ActorProcess::Reply::Status::timeout);
  EXPECT_LT(Clock::now() - started, 2s);
  EXPECT_FALSE(actor->usable());
  EXPECT_TRUE(actor->kill_and_reap(2000ms));
  ::unlink(fifo.c_str());
}

TEST(Actor, HeldRepliesComeWithTheLastOfTheirBatchInOrder) {
  auto actor = ActorProcess::start(actor_path(), Identity{});
  ASSERT_TRUE(actor->send_batch({{{"op", "stat"}, {"path", "/"}, {"hold", true}, {"clock", true}},
                                 {{"op", "stat"}, {"path", "/does/not/exist"}, {"hold", true}},
                                 {{"op", "stat"}, {"path", "/"}, {"clock", true}}}));
  auto first = actor->receive(Clock::now() + 5s), second = actor->receive(Clock::now() + 5s),
       third = actor->receive(Clock::now() + 5s);
  EXPECT_EQ(first.body["r"]["type"], "dir");
  EXPECT_EQ(second.body["errno"], ENOENT);
  EXPECT_FALSE(second.body.contains("t"));  // stamped only when asked
  EXPECT_LE(first.body.at("t").get<int64_t>(), third.body.at("t").get<int64_t>());
}

// A held reply must not wait behind a call that blocks: the harness would blame the wrong call.
TEST(Actor, AReplyHeldBeforeABlockingCallStillComes) {
  std::string fifo = std::filesystem::temp_directory_path() / ("fusecheck-actor-held-" + std::to_string(::getpid()));
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto actor = ActorProcess::start(actor_path(), Identity{});
  ASSERT_TRUE(actor->send_batch(
      {{{"op", "stat"}, {"path", "/"}, {"hold", true}}, {{"op", "open"}, {"path", fifo}, {"flags", 0}, {"fd", "f"}}}));
  auto held = actor->receive(Clock::now() + 2s);
  EXPECT_EQ(held.status, ActorProcess::Reply::Status::ok) << held.detail;
  EXPECT_EQ(held.body["r"]["type"], "dir");
  auto blocked = actor->receive(Clock::now() + 200ms);
  EXPECT_EQ(blocked.status, ActorProcess::Reply::Status::timeout);
  EXPECT_TRUE(actor->kill_and_reap(2s));
  std::filesystem::remove(fifo);
}

TEST(Actor, AKilledActorIsReportedWithItsSignal) {
  auto actor = ActorProcess::start(actor_path(), Identity{});
  ::kill(actor->pid(), SIGKILL);
  auto reply = actor->call({{"op", "stat"}, {"path", "/"}}, Clock::now() + 5s);
  EXPECT_EQ(reply.status, ActorProcess::Reply::Status::died);
  EXPECT_NE(reply.detail.find("killed by signal 9"), std::string::npos) << reply.detail;
}

TEST(ActorPool, ReusesAnIdleActorOfTheSameIdentity) {
  ActorPool pool(actor_path());
  auto first = pool.take(Identity{});
  ASSERT_TRUE(first);
  int pid = first->pid();
  pool.give_back(std::move(first));
  auto second = pool.take(Identity{});
  ASSERT_TRUE(second);
  EXPECT_EQ(second->pid(), pid);
  EXPECT_EQ(pool.spawned(), 1);
  // A different identity never gets that process.
  Identity other{0, 0, {}, 077};
  auto third = pool.take(other);
  ASSERT_TRUE(third);
  EXPECT_NE(third->pid(), pid);
}

TEST(Actor, AMissingExecutableIsAHarnessErrorSayingWhich) {
  try {
    ActorProcess::start("/nonexistent/fusecheck-actor", Identity{});
    FAIL() << "start() of a missing executable returned";
  } catch (const HarnessError& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/fusecheck-actor"), std::string::npos) << error.what();
    EXPECT_EQ(error.exit_code, exit_code::broken);
  }
}

// A scratch directory with a tree to remove (`top`) and, beside it, what must survive.
struct RemovalTree : testing::Test {
  std::filesystem::path scratch =
      std::filesystem::temp_directory_path() / ("fusecheck-rmtree-" + std::to_string(::getpid()));
  std::filesystem::path top = scratch / "top", outside = scratch / "outside";
  std::unique_ptr<ActorProcess> actor = ActorProcess::start(actor_path(), Identity{});

  void SetUp() override {
    std::filesystem::create_directories(top);
    std::filesystem::create_directories(outside);
    std::ofstream(outside / "sentinel") << "keep";
  }
  void TearDown() override {
    ::umount2((top / "full/mnt").c_str(), MNT_DETACH);  // NeverCrossesIntoAnotherMount's, even if it failed
    std::filesystem::remove_all(scratch);
  }
  ActorProcess::Reply rmtree(const std::filesystem::path& path) {
    return actor->call({{"op", "rmtree"}, {"path", path.string()}}, Clock::now() + 10s);
  }
};

TEST_F(RemovalTree, RemovesFilesAndDirectoriesEmptyOrNotButNeverFollowsASymlink) {
  for (int i = 0; i < 30; ++i) std::filesystem::create_directory(top / ("empty" + std::to_string(i)));
  std::filesystem::create_directories(top / "full/inner/deeper");
  for (const char* file : {"a", "full/b", "full/inner/c", "full/inner/deeper/d"}) std::ofstream(top / file) << "x";
  std::filesystem::create_directory_symlink(outside, top / "to-outside");
  std::filesystem::create_directory_symlink(outside, top / "full/inner/to-outside");
  ASSERT_EQ(::mkfifo((top / "fifo").c_str(), 0600), 0);
  auto reply = rmtree(top);
  ASSERT_TRUE(reply.body.value("ok", false)) << reply.body;
  EXPECT_FALSE(std::filesystem::exists(top));
  EXPECT_TRUE(std::filesystem::exists(outside / "sentinel"));
}

TEST_F(RemovalTree, RemovesATreeDeeperThanItKeepsDescriptorsFor) {
  std::filesystem::path deep = top;
  for (int level = 0; level < 100; ++level) deep /= "d";
  std::filesystem::create_directories(deep);
  std::ofstream(deep / "file") << "x";
  std::filesystem::create_directory_symlink(outside, deep / "to-outside");
  auto reply = rmtree(top);
  ASSERT_TRUE(reply.body.value("ok", false)) << reply.body;
  EXPECT_FALSE(std::filesystem::exists(top));
  EXPECT_TRUE(std::filesystem::exists(outside / "sentinel"));
}

TEST_F(RemovalTree, ASymlinkAtTheTopIsUnlinkedNotFollowedAndAMissingPathIsENOENT) {
  std::filesystem::remove(top);
  std::filesystem::create_directory_symlink(outside, top);
  auto reply = rmtree(top);
  ASSERT_TRUE(reply.body.value("ok", false)) << reply.body;
  EXPECT_FALSE(std::filesystem::is_symlink(top));
  EXPECT_TRUE(std::filesystem::exists(outside / "sentinel"));
  EXPECT_EQ(rmtree(top).body["errno"], ENOENT);
}

TEST_F(RemovalTree, NeverCrossesIntoAnotherMount) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
  const auto mountpoint = top / "full/mnt";
  std::filesystem::create_directories(mountpoint);
  ASSERT_EQ(::mount("tmpfs", mountpoint.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
  std::ofstream(mountpoint / "inside") << "keep";
  auto reply = rmtree(top);
  EXPECT_FALSE(reply.body.value("ok", true)) << reply.body;
  EXPECT_TRUE(std::filesystem::exists(mountpoint / "inside"));
}

}  // namespace
