// The lock around memfs's whole state (State::mutex): a three-state futex mutex on C++20's
// atomic wait/notify. Every request takes it once, and uncontended it costs one
// compare-exchange and one exchange, against about 57 instructions for pthread's lock and
// unlock. Waiters sleep in the kernel as with std::mutex (a READ's reply holds it while written).
#pragma once

#include <atomic>

namespace memfs {

class StateMutex {
 public:
  StateMutex() = default;
  StateMutex(const StateMutex&) = delete;
  StateMutex& operator=(const StateMutex&) = delete;

  void lock() {
    int seen = kFree;
    if (!word_.compare_exchange_strong(seen, kLocked, std::memory_order_acquire)) wait_for_it(seen);
  }
  bool try_lock() {
    int seen = kFree;
    return word_.compare_exchange_strong(seen, kLocked, std::memory_order_acquire);
  }
  void unlock() {
    if (word_.exchange(kFree, std::memory_order_release) == kContended) word_.notify_one();
  }

 private:
  static constexpr int kFree = 0;
  static constexpr int kLocked = 1;     // held, nobody waiting
  static constexpr int kContended = 2;  // held, and someone may be waiting: unlock wakes one

  // Marks the lock contended and sleeps until it is free; it stays marked when taken this way,
  // since other waiters may remain (one spurious wake-up at worst).
  void wait_for_it(int seen) {
    if (seen != kContended) seen = word_.exchange(kContended, std::memory_order_acquire);
    while (seen != kFree) {
      word_.wait(kContended, std::memory_order_relaxed);
      seen = word_.exchange(kContended, std::memory_order_acquire);
    }
  }

  std::atomic<int> word_{kFree};
};

}  // namespace memfs
