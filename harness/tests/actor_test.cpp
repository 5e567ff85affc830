// Tests of the actor process and its client: identity switching, answers, deadlines on a
// call that blocks, and a killed actor reported with its signal, never a hang.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

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

}  // namespace
