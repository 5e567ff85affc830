// Waiting for the kernel's tick. tmpfs and ext4 stamp times from CLOCK_REALTIME_COARSE, and
// FUSE's entry and attribute timeouts expire by jiffies, which move with CLOCK_MONOTONIC_COARSE;
// both advance only on the tick, which on a loaded VM was measured standing still through 12 ms
// sleeps. Header-only (CMake target fusepp-mountinfo's include path), for tests and the harness.
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>
#include <thread>

namespace fusepp::kernel_tick {

inline int64_t now_ns(clockid_t clock) {
  timespec now{};
  ::clock_gettime(clock, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// Sleeps `duration`, then on until `coarse_clock` (CLOCK_REALTIME_COARSE or
// CLOCK_MONOTONIC_COARSE) is past the moment the sleep began plus `duration` on its fine
// clock, for at most `lag` more. So a change made next is stamped later than any before the
// sleep, by at least `duration`. Whether the coarse clock got there.
inline bool sleep_as_the_tick_sees(clockid_t coarse_clock, std::chrono::nanoseconds duration,
                                   std::chrono::nanoseconds lag) {
  const clockid_t fine_clock = coarse_clock == CLOCK_REALTIME_COARSE ? CLOCK_REALTIME : CLOCK_MONOTONIC;
  const int64_t wanted = now_ns(fine_clock) + duration.count();
  if (duration.count() > 0) std::this_thread::sleep_for(duration);
  const auto give_up = std::chrono::steady_clock::now() + lag;
  while (now_ns(coarse_clock) <= wanted) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace fusepp::kernel_tick
