// The Observer's actions inside a request: a fault rule's notification, delay and hold (both
// end early with EINTR when the caller is interrupted, unless the rule ignores interrupts),
// negative entries and reply overrides. Holds and delays poll (FaultWait, shared with the
// relay) on an Asio timer, so a held handler never blocks the serving thread.
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstring>

#include "dispatcher.hpp"

namespace fusepp {

namespace {
using namespace std::chrono_literals;
constexpr auto kPollInterval = 2ms;  // how soon a hold sees release() or an INTERRUPT
}  // namespace

FaultWait::FaultWait(Observer::Impl& observer, const FaultPlan& plan)
    : observer_(observer), plan_(plan), delay_until_(std::chrono::steady_clock::now() + plan.delay) {}

FaultWait::~FaultWait() {
  if (holding_) observer_.hold_leave(plan_.hold, interrupt_counted_);
}

std::optional<int> FaultWait::step(bool interrupted) {
  bool gives_up = interrupted && !plan_.ignore_interrupts;
  if (std::chrono::steady_clock::now() < delay_until_) return gives_up ? std::optional<int>(EINTR) : std::nullopt;
  if (!plan_.hold.empty()) {
    if (!holding_) generation_ = observer_.hold_enter(plan_.hold);
    holding_ = true;
    if (interrupted && !interrupt_counted_) {
      interrupt_counted_ = true;
      observer_.hold_interrupted(plan_.hold);
    }
    bool released = observer_.hold_released(plan_.hold, generation_);
    if (!released) return gives_up ? std::optional<int>(EINTR) : std::nullopt;
  }
  return plan_.error;
}

std::chrono::steady_clock::duration FaultWait::next_wait() const {
  auto left = delay_until_ - std::chrono::steady_clock::now();
  return left > std::chrono::steady_clock::duration::zero()
             ? std::min<std::chrono::steady_clock::duration>(left, kPollInterval)
             : kPollInterval;
}

void log_failed_notification(const FaultPlan& plan, int rc) {
  if (rc < 0)
    std::fprintf(stderr, "fusepp: fault rule %u: %s notification failed: %s\n", plan.rule, to_string(plan.notify->kind),
                 std::strerror(-rc));
}

asio::awaitable<int> apply_fault(Dispatcher& d, Observer::Impl& o, fuse_req_t req, const FaultPlan& plan) {
  if (plan.notify) {
    // Synchronously, on the serving thread: this is how the invalidation deadlock is made.
    fuse_session* se = o.session.load();
    log_failed_notification(plan, se ? send_notification(se, *plan.notify) : -ENOTCONN);
  }
  asio::steady_timer timer(d.io);
  FaultWait wait(o, plan);
  for (;;) {
    std::optional<int> outcome = wait.step(req != nullptr && fuse_req_interrupted(req) != 0);
    if (outcome) co_return *outcome;
    timer.expires_after(wait.next_wait());
    co_await timer.async_wait(asio::use_awaitable);
  }
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
  if (o.mtime_ns) attr.st_mtime_ns = *o.mtime_ns;
  if (o.entry_timeout) attr.entry_timeout = *o.entry_timeout;
  if (o.attr_timeout) attr.attr_timeout = *o.attr_timeout;
}

void apply_override(const ReplyOverride& o, FileInfo& info) {
  if (o.keep_cache) info.keep_cache = *o.keep_cache;
  if (o.direct_io) info.direct_io = *o.direct_io;
}

}  // namespace fusepp
