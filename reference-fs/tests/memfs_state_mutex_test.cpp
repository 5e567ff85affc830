// memfs's state lock (src/state_mutex.hpp): mutual exclusion under contention from several
// threads, a waiter that sleeps until the holder lets go, and try_lock on a held lock.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "../src/state_mutex.hpp"

namespace memfs::test {
namespace {

// Four threads add to a plain counter under the lock, yielding inside the critical section
// now and then so that the others find it held and have to wait: no increment may be lost.
TEST(MemfsStateMutex, ExcludesUnderContention) {
  StateMutex mutex;
  long counter = 0;
  constexpr int kThreads = 4, kRounds = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        std::lock_guard lock(mutex);
        long seen = counter;
        if (i % 256 == 0) std::this_thread::yield();
        counter = seen + 1;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, long{kThreads} * kRounds);
}

TEST(MemfsStateMutex, AWaiterProceedsOnlyAfterTheHolderUnlocks) {
  StateMutex mutex;
  std::atomic<bool> released{false}, acquired{false};
  mutex.lock();
  EXPECT_FALSE(mutex.try_lock());
  std::thread waiter([&] {
    std::lock_guard lock(mutex);
    acquired = true;
    EXPECT_TRUE(released.load());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(acquired.load());
  released = true;
  mutex.unlock();
  waiter.join();
  EXPECT_TRUE(acquired.load());
  EXPECT_TRUE(mutex.try_lock());
  mutex.unlock();
}

}  // namespace
}  // namespace memfs::test
