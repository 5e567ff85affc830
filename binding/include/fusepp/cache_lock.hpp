// A machine-wide advisory lock between the tests that need the kernel's caches to stay as
// they left them (shared) and the writes to /proc/sys/vm/drop_caches (exclusive), so that one
// fusecheck process's drop does not empty another's caches between two of its steps.
// Header-only (CMake target fusepp-mountinfo's include path), for fusepp, the harness and fuzz.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <string>

namespace fusepp {

namespace cache_lock_detail {

// Two files: holders of the lock itself, and a turnstile that a dropper takes first and a new
// shared holder passes through, so that a drop waits only for the tests already running, not
// for a stream of new ones.
inline constexpr const char* kLockPath = "/run/fusecheck-caches.lock";
inline constexpr const char* kTurnstilePath = "/run/fusecheck-caches.turnstile";

// -1 where /run is not ours to write (not root): then nobody can drop caches anyway.
inline int open_lock(const char* path) { return ::open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644); }

inline void take(int fd, int operation) {
  if (fd < 0) return;
  while (::flock(fd, operation) != 0 && errno == EINTR) {
  }
}

inline void drop(int& fd) {
  if (fd >= 0) ::close(fd);  // closing the last descriptor of a flock'ed file releases it
  fd = -1;
}

// This process's shared hold: one at a time (nested uses count), released while the process
// itself drops caches.
struct ProcessHold {
  std::mutex mutex;
  int fd = -1;
  int depth = 0;

  void take_shared() {
    int turnstile = open_lock(kTurnstilePath);
    take(turnstile, LOCK_SH);
    fd = open_lock(kLockPath);
    take(fd, LOCK_SH);
    drop(turnstile);
  }
};

inline ProcessHold& process_hold() {
  static ProcessHold hold;
  return hold;
}

}  // namespace cache_lock_detail

// Held while a test whose steps rely on what the kernel caches runs: other processes' drops
// (through CacheDrop) wait until it ends.
class CacheSensitive {
 public:
  CacheSensitive() {
    auto& hold = cache_lock_detail::process_hold();
    std::lock_guard lock(hold.mutex);
    if (hold.depth++ == 0) hold.take_shared();
  }
  ~CacheSensitive() {
    auto& hold = cache_lock_detail::process_hold();
    std::lock_guard lock(hold.mutex);
    if (--hold.depth == 0) cache_lock_detail::drop(hold.fd);
  }
  CacheSensitive(const CacheSensitive&) = delete;
  CacheSensitive& operator=(const CacheSensitive&) = delete;
};

// Held around writes to /proc/sys/vm/drop_caches: waits until no other process's
// CacheSensitive test runs. This process's own shared hold is let go meanwhile (the drop is
// one of its own steps) and taken again afterwards.
class CacheDrop {
 public:
  CacheDrop() : hold_(cache_lock_detail::process_hold()), guard_(hold_.mutex) {
    cache_lock_detail::drop(hold_.fd);
    turnstile_ = cache_lock_detail::open_lock(cache_lock_detail::kTurnstilePath);
    cache_lock_detail::take(turnstile_, LOCK_EX);
    lock_ = cache_lock_detail::open_lock(cache_lock_detail::kLockPath);
    cache_lock_detail::take(lock_, LOCK_EX);
  }
  ~CacheDrop() {
    cache_lock_detail::drop(lock_);
    cache_lock_detail::drop(turnstile_);
    if (hold_.depth > 0) hold_.take_shared();
  }
  CacheDrop(const CacheDrop&) = delete;
  CacheDrop& operator=(const CacheDrop&) = delete;

 private:
  cache_lock_detail::ProcessHold& hold_;
  std::lock_guard<std::mutex> guard_;
  int turnstile_ = -1;
  int lock_ = -1;
};

}  // namespace fusepp
