// The Observer's actions inside a request: a fault rule's notification, delay and hold (both
// end early with EINTR when the caller is interrupted, unless the rule ignores interrupts),
// negative entries and reply overrides. Holds and delays poll on an Asio timer, so a held
// handler never blocks the serving thread and other requests go on being served.
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstring>

#include "dispatcher.hpp"

namespace fusepp {

namespace {

using namespace std::chrono_literals;
constexpr auto kPollInterval = 2ms;  // how soon a hold sees release() or an INTERRUPT

bool gives_up(const FaultPlan& plan, fuse_req_t req) {
  return !plan.ignore_interrupts && fuse_req_interrupted(req) != 0;
}

}  // namespace

asio::awaitable<int> apply_fault(Dispatcher& d, Observer::Impl& o, fuse_req_t req, const FaultPlan& plan) {
  if (plan.notify) {
    // Synchronously, on the serving thread: this is how the invalidation deadlock is made.
    fuse_session* se = o.session.load();
    int rc = se ? send_notification(se, *plan.notify) : -ENOTCONN;
    if (rc < 0)
      std::fprintf(stderr, "fusepp: fault rule %u: %s notification failed: %s\n", plan.rule,
                   to_string(plan.notify->kind), std::strerror(-rc));
  }
  asio::steady_timer timer(d.io);
  auto until = std::chrono::steady_clock::now() + plan.delay;
  for (;;) {
    auto left = until - std::chrono::steady_clock::now();
    if (left <= 0ms) break;
    if (gives_up(plan, req)) co_return EINTR;
    timer.expires_after(std::min<std::chrono::steady_clock::duration>(left, kPollInterval));
    co_await timer.async_wait(asio::use_awaitable);
  }
  if (!plan.hold.empty()) {
    uint64_t generation = o.hold_enter(plan.hold);
    int err = 0;
    for (;;) {
      bool released = o.hold_released(plan.hold, generation);
      if (released) break;
      if (gives_up(plan, req)) {
        err = EINTR;
        break;
      }
      timer.expires_after(kPollInterval);
      co_await timer.async_wait(asio::use_awaitable);
    }
    o.hold_leave(plan.hold);
    if (err != 0) co_return err;
  }
  co_return plan.error;
}

int reply_negative_entry(fuse_req_t req, double timeout) {
  fuse_entry_param e{};
  e.ino = 0;
  e.entry_timeout = timeout;
  return fuse_reply_entry(req, &e);
}

void apply_override(const ReplyOverride& o, EntryAttributes& attr) {
  if (o.mode) attr.st_mode = ModeT{*o.mode};
  if (o.size) attr.st_size = *o.size;
  if (o.ino) attr.st_ino = InodeT{*o.ino};
  if (o.generation) attr.generation = *o.generation;
  if (o.entry_timeout) attr.entry_timeout = *o.entry_timeout;
  if (o.attr_timeout) attr.attr_timeout = *o.attr_timeout;
}

void apply_override(const ReplyOverride& o, FileInfo& info) {
  if (o.keep_cache) info.keep_cache = *o.keep_cache;
  if (o.direct_io) info.direct_io = *o.direct_io;
}

}  // namespace fusepp
