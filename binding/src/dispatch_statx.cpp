// Dispatch of FUSE_STATX (kernel 6.6+), which libfuse 3.14 would answer ENOSYS before any
// callback of ours: the reader hands it here instead, so the trace and fault rules see it.
// The answer stays ENOSYS (Operations has no statx): the kernel then remembers that and asks
// GETATTR from then on (fs/fuse/dir.c fuse_update_get_attr, fc->no_statx).
#include <unistd.h>

#include "dispatcher.hpp"
#include "relay_wire.hpp"

namespace fusepp::ll {

namespace {

// Written on the descriptor the request was read from: a cloned /dev/fuse descriptor only
// takes replies to its own requests.
void reply_error(int fd, uint64_t unique, int err) {
  std::vector<char> reply = wire::error_reply(unique, err);
  // A failed write (ENOENT: the connection was aborted) needs nothing more.
  [[maybe_unused]] ssize_t written = ::write(fd, reply.data(), reply.size());
}

// Without a fuse_req_t a held STATX cannot see an INTERRUPT: a hold waits for its release.
asio::awaitable<void> serve_statx_observed(Dispatcher& d, Observer::Impl& o, RequestArgs args, int fd,
                                           uint64_t unique) {
  RequestScope scope(d);
  FaultPlan plan;
  uint64_t seq = o.begin(args, &plan);
  int err = 0;
  if (plan.rule != 0) err = co_await apply_fault(d, o, nullptr, plan);
  ReplyFacts facts;
  facts.error = err != 0 ? err : ENOSYS;
  o.end(seq, args, facts);
  reply_error(fd, unique, facts.error);
}

}  // namespace

void statx(Dispatcher& d, int fd, const void* message, size_t length) {
  wire::RequestHeader header;
  if (!wire::read_request_header(static_cast<const char*>(message), length, &header)) return;
  Observer::Impl* o = d.observing();
  if (o == nullptr) return reply_error(fd, header.unique, ENOSYS);
  try {
    launch_coroutine(d, serve_statx_observed(d, *o, decode_request(message, length), fd, header.unique));
  } catch (...) {
    // Only the frame allocation can throw here: the request is still unanswered.
    reply_error(fd, header.unique, ENOSYS);
  }
}

}  // namespace fusepp::ll
