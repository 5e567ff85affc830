// The actor's way out for replies. A request marked "hold" (the harness sends more of its batch
// right behind it) has its reply kept until the batch's last reply, and all go in one write:
// the harness wakes once per batch instead of once per call. A call that blocks would keep
// the held replies before it from the harness, which could then not tell which call hung, so
// a watchdog thread sends whatever has been held longer than kHeldAtMost (within twice that).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "actor.hpp"
#include "fusecheck/protocol.hpp"

namespace fusecheck::actor {

namespace {
constexpr auto kHeldAtMost = std::chrono::milliseconds(50);
}  // namespace

ReplyWriter::~ReplyWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    write_held();
  }
  stop_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

bool ReplyWriter::send(const std::string& payload, bool hold) {
  std::lock_guard lock(mutex_);
  if (held_.empty()) held_since_ = std::chrono::steady_clock::now();
  held_ += frame_of(payload);
  if (!hold) return write_held();
  start_watchdog();
  return ok_;
}

bool ReplyWriter::write_held() {
  if (!held_.empty() && !write_frames(fd_, held_)) ok_ = false;
  held_.clear();
  return ok_;
}

// The watchdog takes no signal: SIGUSR1 (the `signal` step) must interrupt the call in the
// main thread.
void ReplyWriter::start_watchdog() {
  if (watchdog_.joinable()) return;
  sigset_t all, previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  watchdog_ = std::thread([this] { watch(); });
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

// Looks every kHeldAtMost rather than being woken per batch: a wake-up per batch would cost
// as many context switches as the held replies save.
void ReplyWriter::watch() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (!held_.empty() && std::chrono::steady_clock::now() - held_since_ >= kHeldAtMost) write_held();
    stop_.wait_for(lock, kHeldAtMost);
  }
}

}  // namespace fusecheck::actor
