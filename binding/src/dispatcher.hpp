// Private to the binding: the request dispatcher. Each libfuse low-level callback runs the
// user's coroutine INLINE (a handler that never suspends replies before libfuse's callback
// returns, with no coroutine of the binding's around it), pins the receive buffer while a
// handler is suspended, and turns results and exceptions into exactly one fuse_reply_*.
// Callbacks live in dispatch_<family>.cpp.
#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <fuse_lowlevel.h>
#include <linux/fuse.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/version.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fusepp/coroutine_frames.hpp"  // FUSEPP_ASIO_INTERNALS
#if FUSEPP_ASIO_INTERNALS
#include <boost/asio/impl/awaitable.hpp>
#else
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#endif

#include "fusepp/operations.hpp"
#include "observe_impl.hpp"

namespace fusepp {

class BufferPool;

// One receive buffer for /dev/fuse. refs counts its owners: the reader that receives into
// it, plus every request whose handler still runs and may hold views into it.
struct RecvBuffer {
  fuse_buf buf{};
  std::atomic<int> refs{0};
  BufferPool* pool = nullptr;
  // The RequestContext of the request received into this buffer when its handler runs inline
  // (InlineRun): a handler keeps a reference to it, so it must not move when the request
  // is adopted by a coroutine, and the buffer stays pinned until the handler completes.
  alignas(RequestContext) unsigned char context[sizeof(RequestContext)];
};

// Recycles receive buffers: they are about 1 MiB (mmap-backed by malloc), far too slow to
// allocate per suspended request.
class BufferPool {
 public:
  BufferPool() = default;
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool();
  // What libfuse 3.14 allocates per receive buffer (FUSE_MAX_MAX_PAGES pages plus
  // FUSE_BUFFER_HEADER_SIZE); the kernel refuses reads smaller than max_write + headers,
  // and libfuse derives max_write from this size.
  static const size_t kBufferSize;
  RecvBuffer* acquire();  // refs == 1 (the caller); buf.mem holds kBufferSize bytes
  static void release(RecvBuffer* b) {
    if (b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) b->pool->put_back(b);
  }

 private:
  void put_back(RecvBuffer* b);
  std::mutex mutex_;
  std::vector<RecvBuffer*> free_;
  std::vector<RecvBuffer*> all_;
};

// The buffer whose request libfuse is processing on this thread (set by the reader around
// fuse_session_process_buf), so a starting handler can pin it.
inline thread_local RecvBuffer* tl_current_buffer = nullptr;

// Hooks the serving loop gives the dispatcher.
struct LoopHooks {
  std::atomic<unsigned> in_flight{0};
  unsigned max_tasks = 0;              // 0: unlimited
  std::function<void()> on_slot_free;  // called when in_flight drops below max_tasks
};

// notify_retrieve's callbacks until the kernel's NOTIFY_REPLY arrives, by cookie.
struct PendingRetrievals {
  std::mutex mutex;
  uint64_t next = 1;
  std::map<uint64_t, std::function<void(std::string)>> waiting;
};

class Dispatcher {
 public:
  Dispatcher(Operations& ops, asio::io_context& io, LoopHooks& hooks) : ops(ops), io(io), hooks(hooks) {}
  static const fuse_lowlevel_ops& table();  // the single fixed ops table (dispatch_table.cpp)

  Operations& ops;
  asio::io_context& io;
  LoopHooks& hooks;
  // Where replies to requests answered inline may be written directly (InlineAnswer); -1
  // sends them all through libfuse. Set by Session::main before any request, unless libfuse
  // prints its debug log (which would then miss them).
  int direct_reply_fd = -1;
  // The kernel speaks protocol 7.9 or later, whose reply layouts the direct replies write
  // (set at INIT, which comes before any other request).
  std::atomic<bool> protocol_7_9_or_later{false};
  // The kernel speaks 7.12 or later, whose request layouts serve_decoded() reads (set at INIT).
  std::atomic<bool> protocol_7_12_or_later{false};
  // Set by Session::main when the hot requests may skip libfuse (serve_decoded, below): one
  // serving thread, direct replies, no max_tasks. The session the adoption goes through.
  bool decodes_hot_requests = false;
  fuse_session* session = nullptr;
  // The attached Observer (Session::observe), or null: then requests take the plain path.
  std::atomic<Observer::Impl*> observer{nullptr};
  Observer::Impl* observing() const { return observer.load(std::memory_order_acquire); }
  PendingRetrievals retrievals;

  // Readdir tokens have a private constructor: only the dispatcher makes them.
  static ReaddirToken make_token(fuse_req_t req, size_t size, bool plus) { return ReaddirToken(req, size, plus); }
  static std::string& token_buffer(ReaddirToken& t) { return t.buffer_; }
  static const std::vector<uint64_t>& token_looked_up(const ReaddirToken& t) { return t.looked_up_; }
  static void token_records_names(ReaddirToken& t) { t.record_names_ = true; }
  static void token_zero_node_ids(ReaddirToken& t) { t.zero_node_ids_ = true; }
  static const std::vector<uint64_t>& token_zeroed(const ReaddirToken& t) { return t.zeroed_; }
  static std::vector<std::pair<uint64_t, std::string>> token_named_lookups(const ReaddirToken& t) {
    std::vector<std::pair<uint64_t, std::string>> out;
    for (size_t i = 0; i < t.looked_up_.size() && i < t.looked_up_names_.size(); ++i)
      out.emplace_back(t.looked_up_[i], t.looked_up_names_[i]);
    return out;
  }
};

// A request the binding decoded from the receive buffer itself (serve_decoded): it has no
// libfuse request, so its callback gets a null fuse_req_t, and these are what libfuse's
// request would have said. Set only while the request is dispatched on this thread.
struct DecodedRequest {
  Dispatcher& d;
  uint32_t uid;
  uint32_t gid;
  uint32_t pid;
  uint32_t umask;
};
inline thread_local const DecodedRequest* tl_decoded = nullptr;

inline Dispatcher& dispatcher_of(fuse_req_t req) {
  if (req == nullptr) return tl_decoded->d;
  return *static_cast<Dispatcher*>(fuse_req_userdata(req));
}

// Holds a reference to a receive buffer (none for a null one): views into it stay valid.
class BufferPin {
 public:
  explicit BufferPin(RecvBuffer* buf) : buf_(buf) {
    if (buf_) buf_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  BufferPin(BufferPin&& other) noexcept : buf_(std::exchange(other.buf_, nullptr)) {}
  BufferPin& operator=(BufferPin&&) = delete;
  ~BufferPin() { release(); }
  void release() {
    if (buf_) BufferPool::release(std::exchange(buf_, nullptr));
  }

 private:
  RecvBuffer* buf_;
};

// Lifetime of one request inside its coroutine frame: pins the receive buffer (so name and
// data views stay valid across suspension) and counts the request as in flight.
class RequestScope {
 public:
  explicit RequestScope(Dispatcher& d, RecvBuffer* buf = tl_current_buffer) : pin_(buf), d_(d) {
    d_.hooks.in_flight.fetch_add(1, std::memory_order_relaxed);
  }
  RequestScope(const RequestScope&) = delete;
  RequestScope& operator=(const RequestScope&) = delete;
  ~RequestScope() {
    pin_.release();
    unsigned before = d_.hooks.in_flight.fetch_sub(1, std::memory_order_acq_rel);
    if (d_.hooks.max_tasks != 0 && before == d_.hooks.max_tasks && d_.hooks.on_slot_free) d_.hooks.on_slot_free();
  }

 private:
  BufferPin pin_;
  Dispatcher& d_;
};

// Logs a handler failure in one line (op and inode) and returns the errno to answer with.
// Must be called from inside a catch block.
int errno_from_current_exception(const char* op, uint64_t ino) noexcept;
// An errno a handler produced that is not a valid error (<= 0) is logged and becomes EIO.
int checked_errno(int err, const char* op, uint64_t ino) noexcept;

inline RequestContext make_context(fuse_req_t req) {
  if (req == nullptr) {
    const DecodedRequest& r = *tl_decoded;
    return RequestContext(r.uid, r.gid, static_cast<pid_t>(r.pid), r.umask, nullptr);
  }
  const fuse_ctx* c = fuse_req_ctx(req);
  return RequestContext(c->uid, c->gid, c->pid, c->umask, req);
}

// The request InlineRun is running and answering on this thread (null when none): its reply
// is written to /dev/fuse directly, with the unique from the request's header in the receive
// buffer, and libfuse's request then freed with fuse_reply_none. libfuse's own path converts
// through struct stat and sends through its generic reply code: 497 daemon instructions more
// per create + unlink pair of 11 replies (callgrind). A reply from anywhere else (a handler
// that suspended, the Observer's path, debug output on) goes through libfuse.
struct InlineAnswer {
  fuse_req_t req;
  uint64_t unique;
  int fd;
};
inline thread_local const InlineAnswer* tl_inline_answer = nullptr;

// Marks `req` (received into buf) as answered inline on this thread while it lives.
class InlineAnswerScope {
 public:
  InlineAnswerScope(Dispatcher& d, RecvBuffer* buf, fuse_req_t req)
      : answer_{req, unique_of(buf), d.protocol_7_9_or_later.load(std::memory_order_relaxed) ? d.direct_reply_fd : -1},
        outer_(std::exchange(tl_inline_answer, &answer_)) {}
  InlineAnswerScope(const InlineAnswerScope&) = delete;
  InlineAnswerScope& operator=(const InlineAnswerScope&) = delete;
  ~InlineAnswerScope() { tl_inline_answer = outer_; }

 private:
  static uint64_t unique_of(const RecvBuffer* buf) {
    uint64_t unique;  // fuse_in_header: len, opcode, then unique
    std::memcpy(&unique, static_cast<const char*>(buf->buf.mem) + 2 * sizeof(uint32_t), sizeof unique);
    return unique;
  }
  InlineAnswer answer_;
  const InlineAnswer* outer_;
};

// Replies as libfuse's fuse_reply_err/attr/entry/create would, and return what they return
// (0, or -errno when the kernel refused it: -ENOENT once the connection was aborted); written
// directly for the request answered inline on this thread (InlineAnswer).
int reply_error(fuse_req_t req, int err);
int reply_attr(fuse_req_t req, const EntryAttributes& attr);
int reply_entry_attributes(fuse_req_t req, const EntryAttributes& attr);
int reply_create(fuse_req_t req, const EntryAttributes& attr, const FileInfo& info);
int reply_open(fuse_req_t req, const FileInfo& info);

// Where start() puts the request libfuse made for a decoded request (libfuse_request_for)
// instead of starting its handler a second time.
inline thread_local fuse_req_t* tl_adopting = nullptr;
// Has libfuse make its request for the decoded request in buf, whose handler is about to
// suspend: libfuse processes the same message, and start() hands its request over (null
// when libfuse did not call back: it has then answered the kernel itself).
fuse_req_t libfuse_request_for(Dispatcher& d, RecvBuffer* buf);
// Serves the request in buf (n bytes) if it is one of the hot requests the binding decodes
// itself (dispatch_decoded.cpp); false when libfuse is to process it.
bool serve_decoded(Dispatcher& d, RecvBuffer* buf, size_t n);

// The errno to answer for a handler's error; a Done that has failed(err, ino) hears of it
// (RELEASE, whose answer the kernel ignores, logs it).
template <class Done>
int failure(int handler_error, const char* op, uint64_t ino) {
  int err = checked_errno(handler_error, op, ino);
  if constexpr (requires { Done::failed(err, ino); }) Done::failed(err, ino);
  return err;
}

// Sends the success reply, done(req, result), and returns 0; or returns the errno to answer.
// A throw from done can only come before its fuse_reply_*: the caller answers it.
template <class T, class Done>
int answer(fuse_req_t req, const char* op, uint64_t ino, Done& done, Result<T>& result) {
  if (!result.ok()) return failure<Done>(result.error(), op, ino);
  done(req, result);
  return 0;
}

// Holds a request whose handler may suspend until the handler completes (buffer pinned,
// counted in flight), then sends exactly one reply: done(req, result) on success, else the
// errno the handler failed with or EIO for anything else it threw. It takes the handler's
// awaitable when it first runs, which launch() and InlineThread::adopt do at once: had the
// awaitable been a parameter, a failed frame allocation would destroy a running handler.
template <class T, class Done>
asio::awaitable<void> serve(Dispatcher& d, RecvBuffer* buf, fuse_req_t req, const char* op, uint64_t ino, Done done,
                            Reply<T>& started) {
  Reply<T> handler = std::move(started);
  RequestScope scope(d, buf);
  int err = 0;
  try {
    // Built in place from the handler's frame: no optional to move the result through.
    Result<T> result = co_await std::move(handler);
    err = answer(req, op, ino, done, result);
  } catch (...) {
    err = errno_from_current_exception(op, ino);
  }
  if (err != 0) fuse_reply_err(req, err);
}

#if !FUSEPP_ASIO_INTERNALS
// A coroutine co_spawn starts later, after the reader may have received into the request's
// buffer again: the buffer (the request's names, data and context) stays pinned from the
// launch, as the coroutine's own RequestScope pins it only once it runs (if it is told which:
// by then no buffer is current). It counts in flight only from its start:
// Reader::batch_limit() makes max_tasks hold all the same.
inline asio::awaitable<void> run_later([[maybe_unused]] BufferPin pin, asio::awaitable<void> coro) {
  co_await std::move(coro);
}
#endif

// Starts a coroutine inside the current libfuse callback. Boost 1.74's co_spawn always
// posts its first step (~25% slower stat, docs/architecture.md "Inline start"); launching the
// awaitable_thread directly runs the handler up to its first suspension right here, and a
// handler that never suspends has replied before this returns. The only use of Asio's
// detail namespace; otherwise co_spawn (run_later).
inline void launch_coroutine(Dispatcher& d, asio::awaitable<void> coro) {
#if FUSEPP_ASIO_INTERNALS
  asio::detail::awaitable_thread<asio::any_io_executor>(std::move(coro), d.io.get_executor()).launch();
#else
  asio::co_spawn(d.io, run_later(BufferPin(tl_current_buffer), std::move(coro)), asio::detached);
#endif
}

inline void launch(fuse_req_t req, Dispatcher& d, asio::awaitable<void> coro) {
  try {
    launch_coroutine(d, std::move(coro));
  } catch (...) {
    // Only the frame allocation can throw here (serve() catches everything else), so the
    // request has not been answered yet.
    std::fprintf(stderr, "fusepp: could not start a request coroutine; answered ENOMEM\n");
    fuse_reply_err(req, ENOMEM);
  }
}

// The arguments of the request libfuse is dispatching on this thread, from its raw message.
inline RequestArgs current_request_args() {
  RecvBuffer* b = tl_current_buffer;
  return b ? decode_request(b->buf.mem, b->buf.size) : RequestArgs{};
}

// Runs a fault plan's actions that come before the handler (observe_serve.cpp). Returns the
// errno to answer instead of running the handler, or 0. req is null for a FORGET (answered
// at once, never interrupted).
asio::awaitable<int> apply_fault(Dispatcher& d, Observer::Impl& o, fuse_req_t req, const FaultPlan& plan);
// A negative entry (node id 0) cached for timeout seconds.
int reply_negative_entry(fuse_req_t req, double timeout);
// What a successful reply tells the trace and balance, and the rule's changes to it.
void apply_override(const ReplyOverride& o, EntryAttributes& attr);
void apply_override(const ReplyOverride& o, FileInfo& info);
template <class T>
void override_and_describe(const ReplyOverride& o, T& value, ReplyFacts& facts) {
  if constexpr (std::is_same_v<T, EntryAttributes>) {
    if (!o.empty()) apply_override(o, value);
    facts.node = value.st_ino;
  } else if constexpr (std::is_same_v<T, std::pair<FileInfo, EntryAttributes>>) {
    if (!o.empty()) {
      apply_override(o, value.first);
      apply_override(o, value.second);
    }
    facts.node = value.second.st_ino;
    facts.fh = value.first.fh;
    facts.has_fh = true;
  } else if constexpr (std::is_same_v<T, FileInfo>) {
    if (!o.empty()) apply_override(o, value);
    facts.fh = value.fh;
    facts.has_fh = true;
  } else if constexpr (std::is_same_v<T, FileHandleT>) {
    facts.fh = value;
    facts.has_fh = true;
  }
}

// GCC 12 reports this coroutine's frame as freed by a mismatched operator delete when it is
// inlined into start() (seen with -fsanitize): Boost 1.74's awaitable_frame_base pairs its own
// new and delete, so the warning is a false positive for coroutine frames.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
// serve() with the Observer attached: records the request, applies the matching fault rule
// before the handler and its reply override after, and records the reply. A separate
// coroutine so that the unobserved path stays exactly serve().
template <class T, class Call, class Done>
asio::awaitable<void> serve_observed(Dispatcher& d, Observer::Impl& o, RequestArgs args, fuse_req_t req, const char* op,
                                     uint64_t ino, Call call, Done done) {
  RequestScope scope(d);
  RequestContext ctx = make_context(req);
  FaultPlan plan;
  uint64_t seq = o.begin(args, &plan);
  ReplyFacts facts;
  std::optional<Result<T>> result;
  int err = 0;
  if (plan.rule != 0) err = co_await apply_fault(d, o, req, plan);
  if (err == 0 && plan.negative_entry) {
    facts.interrupted = fuse_req_interrupted(req) != 0;
    reply_negative_entry(req, *plan.negative_entry);
    o.end(seq, args, facts);
    co_return;
  }
  if (err == 0) {
    try {
      result.emplace(co_await call(ctx));
    } catch (...) {
      err = errno_from_current_exception(op, ino);
    }
  }
  facts.interrupted = fuse_req_interrupted(req) != 0;
  if (result) {
    if (result->ok()) {
      if constexpr (!std::is_void_v<T>) override_and_describe(plan.reply, **result, facts);
      o.end(seq, args, facts);  // before the reply: the kernel may act on it at once
      done(req, *result);
      co_return;
    }
    err = failure<Done>(result->error(), op, ino);
  }
  facts.error = err;
  if (err == ENOENT && plan.reply.negative_timeout && args.opcode == 1 /* LOOKUP */) {
    facts.error = 0;
    o.end(seq, args, facts);
    reply_negative_entry(req, *plan.reply.negative_timeout);
    co_return;
  }
  o.end(seq, args, facts);
  fuse_reply_err(req, err);
}
#pragma GCC diagnostic pop

#if FUSEPP_ASIO_INTERNALS
// The frame an awaitable owns (Asio keeps the pointer private; it is all the awaitable holds).
template <class T>
asio::detail::awaitable_frame<T, asio::any_io_executor>* frame_of(const asio::awaitable<T>& a) {
  asio::detail::awaitable_frame<T, asio::any_io_executor>* frame;
  static_assert(sizeof a == sizeof frame);
  std::memcpy(&frame, static_cast<const void*>(&a), sizeof frame);
  return frame;
}

// A handler's stack while it runs inline: an Asio thread of execution whose bottom frame is
// the handler's own (its awaitable stays with InlineRun) until adopt() puts serve() beneath.
class InlineThread : public asio::detail::awaitable_thread<asio::any_io_executor> {
 public:
  InlineThread(asio::detail::awaitable_frame_base<asio::any_io_executor>* handler, const asio::any_io_executor& ex)
      : awaitable_thread(asio::awaitable<void>(), ex) {
    top_of_stack_ = handler;
  }
  const awaitable_thread* id() const { return this; }
  // Runs `below` up to its await of the handler, which makes the handler return into it when it
  // completes; the thread then owns it (and whoever the thread moves to when it suspends). The
  // frame about to suspend may be one the handler awaits (a helper Reply): it stays on top.
  void adopt(asio::awaitable<void> below) {
    auto* suspending = top_of_stack_;
    bottom_of_stack_.~awaitable();  // empty until now
    ::new (&bottom_of_stack_) asio::awaitable<void>(std::move(below));
    auto* frame = frame_of(bottom_of_stack_);
    frame->attach_thread(this);
    frame->resume();  // pushes the handler's frame on top of below's
    if (top_of_stack_ != suspending) {
      top_of_stack_->detach_thread();  // the handler's frame runs again when the frame above returns
      top_of_stack_ = suspending;
    }
  }
};

// True when `a` came from a coroutine with a RecycledFrame (the newest on this thread), which
// says when it first suspends, so it may run inline. One with Asio's own frame (a forget
// override that forwards another coroutine's awaitable) would not.
template <class T>
bool is_recycled_frame(const asio::awaitable<T>& a) {
  const void* frame = frame_of(a);
  return frame != nullptr && frame == tl_newest_frame;
}

// Runs `handler` inline as `request` on a stack of its own (InlineThread). True when it
// completed here (await_resume() then gives its result); false when its first suspension
// adopted it (request.adopt moved it beneath a coroutine that finishes the request). Forced
// inline: as a call it cost ~100 instructions more per GETATTR (callgrind).
template <class R>
[[gnu::always_inline]] inline bool run_inline(InlineRequest& request, asio::io_context& io,
                                              asio::awaitable<R>& handler) {
  InlineThread stack(frame_of(handler), asio::any_io_executor(io.get_executor()));
  request.thread = stack.id();
  InlineRequest* outer = std::exchange(tl_inline_request, &request);
  stack.launch();  // never throws once adopted: the coroutine beneath catches everything
  tl_inline_request = outer;
  return handler.valid();
}

inline InlineThread& stack_of(InlineRequest& r) {
  return *static_cast<InlineThread*>(const_cast<asio::detail::awaitable_thread<asio::any_io_executor>*>(r.thread));
}

// Runs a handler inline with nothing of the binding's beneath it: no coroutine frame, no
// buffer pin, no count in flight. The first await anywhere in its stack (the only place it may
// suspend) hands the request to serve() first (RecycledFrame::adopt_if_inline); otherwise the
// handler has completed when launch() returns, and this answers.
template <class T, class Done>
class InlineRun : public InlineRequest {
 public:
  InlineRun(Dispatcher& d, RecvBuffer* buf, fuse_req_t req, const char* op, uint64_t ino, Done& done, Reply<T>& handler)
      : InlineRequest{nullptr, &InlineRun::adopt_request},
        d_(d),
        buf_(buf),
        req_(req),
        op_(op),
        ino_(ino),
        done_(done),
        handler_(handler) {}

  void run() noexcept {
    int err = 0;
    InlineAnswerScope answering(d_, buf_, req_);  // req_ only: an adopted handler answers elsewhere
    try {
      if (!run_inline(*this, d_.io, handler_)) return;  // adopted: serve() answers
      Result<T> result = handler_.await_resume();
      err = answer(req_, op_, ino_, done_, result);
    } catch (...) {
      err = errno_from_current_exception(op_, ino_);
    }
    if (err != 0) reply_error(req_, err);
  }

 private:
  static void adopt_request(InlineRequest& r) {
    auto& self = static_cast<InlineRun&>(r);
    if (self.req_ == nullptr) {  // decoded by the binding: serve() answers through libfuse
      self.req_ = libfuse_request_for(self.d_, self.buf_);
      if (self.req_ == nullptr) throw std::bad_alloc();  // already answered: the handler fails
    }
    stack_of(r).adopt(
        serve<T>(self.d_, self.buf_, self.req_, self.op_, self.ino_, std::move(self.done_), self.handler_));
  }
  Dispatcher& d_;
  RecvBuffer* buf_;
  fuse_req_t req_;
  const char* op_;
  uint64_t ino_;
  Done& done_;
  Reply<T>& handler_;
};
#else
// co_spawn runs a coroutine later (run_later): the handler's awaitable waits in a frame of
// its own.
template <class T, class Done>
asio::awaitable<void> serve_later(Dispatcher& d, RecvBuffer* buf, fuse_req_t req, const char* op, uint64_t ino,
                                  Done done, Reply<T> handler) {
  co_await serve<T>(d, buf, req, op, ino, std::move(done), handler);
}
#endif

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // see serve_observed()
// Starts a request's handler: call(ctx) returns its Reply<T>, done(req, result) sends the
// success reply. The context lives in the receive buffer, which stays pinned while the handler
// is suspended. With max_tasks, every request counts in flight from its start (serve()).
template <class T, class Call, class Done>
void start(fuse_req_t req, const char* op, uint64_t ino, Call call, Done done) {
  if (tl_adopting != nullptr) [[unlikely]] {  // libfuse_request_for: the handler runs already
    *std::exchange(tl_adopting, nullptr) = req;
    ::new (tl_current_buffer->context) RequestContext(make_context(req));
    return;
  }
  Dispatcher& d = dispatcher_of(req);
  // A decoded request (null req) never takes the Observer's path: one read just before an
  // observer was attached goes unobserved, as one answered just before would.
  if (Observer::Impl* o = d.observing(); o != nullptr && req != nullptr) [[unlikely]] {
    launch(req, d, serve_observed<T>(d, *o, current_request_args(), req, op, ino, std::move(call), std::move(done)));
    return;
  }
  RecvBuffer* buf = tl_current_buffer;
  const RequestContext& ctx = *::new (buf->context) RequestContext(make_context(req));
  try {
    Reply<T> handler = call(ctx);
#if FUSEPP_ASIO_INTERNALS
    if (d.hooks.max_tasks == 0) return InlineRun<T, Done>(d, buf, req, op, ino, done, handler).run();
    launch(req, d, serve<T>(d, buf, req, op, ino, std::move(done), handler));
#else
    launch(req, d, serve_later<T>(d, buf, req, op, ino, std::move(done), std::move(handler)));
#endif
  } catch (...) {  // only from call(): the handler threw before returning its coroutine
    reply_error(req, errno_from_current_exception(op, ino));
  }
}
#pragma GCC diagnostic pop

// start() for a request that carries an inode and one name and nothing else: lookup,
// unlink, rmdir (a directory's entry), getxattr, removexattr (an inode's attribute).
template <class T, class Done>
void start_named(fuse_req_t req, const char* op, fuse_ino_t ino, const char* name,
                 Reply<T> (Operations::*handler)(InodeT, std::string_view, const RequestContext&), Done done) {
  start<T>(
      req, op, ino,
      [&ops = dispatcher_of(req).ops, handler, ino, n = std::string_view(name)](const RequestContext& ctx) {
        return (ops.*handler)(InodeT{ino}, n, ctx);
      },
      std::move(done));
}

// Reply helpers shared by the op families.
fuse_entry_param to_entry_param(const EntryAttributes& attr);
fuse_file_info to_file_info(const FileInfo& info);
// The payloads of the direct replies (InlineAnswer), as libfuse 3.14 encodes them.
fuse_attr_out attr_reply_payload(const EntryAttributes& attr);
fuse_entry_out entry_reply_payload(const EntryAttributes& attr);
fuse_open_out open_reply_payload(const FileInfo& info);
void reply_entry(fuse_req_t req, Result<EntryAttributes>& r);
void reply_ok(fuse_req_t req, Result<void>& r);
EntryAttributes from_stat(fuse_ino_t ino, const struct stat& st);

// When the kernel no longer waits for an answer (the caller was interrupted), fuse_reply_*
// fails with ENOENT and the kernel never learns of what the handler created; like libfuse's
// high-level API, the binding then undoes it so lookup counts and open handles stay exact:
// a FORGET of one lookup for an entry, a release/releasedir for an open handle.
void undo_entry_if_unanswered(Dispatcher& d, int reply_rc, uint64_t ino);
void undo_open_if_unanswered(Dispatcher& d, int reply_rc, FileHandleT fh, bool dir);

// The callbacks, one group per op family.
namespace ll {
// Runs Operations::forget for a list the kernel (or the binding, see above) gave up.
void run_forget_handler(Dispatcher& d, std::vector<ForgetRequest> list);
// dispatch_entry.cpp
void lookup(fuse_req_t, fuse_ino_t, const char*);
void forget(fuse_req_t, fuse_ino_t, uint64_t);
void forget_multi(fuse_req_t, size_t, fuse_forget_data*);
// FORGET or BATCH_FORGET's list, already decoded (the decoded path builds it straight from
// the kernel's message).
void forget_list(fuse_req_t, std::vector<ForgetRequest> list);
void mknod(fuse_req_t, fuse_ino_t, const char*, mode_t, dev_t);
void mkdir(fuse_req_t, fuse_ino_t, const char*, mode_t);
void unlink(fuse_req_t, fuse_ino_t, const char*);
void rmdir(fuse_req_t, fuse_ino_t, const char*);
void symlink(fuse_req_t, const char*, fuse_ino_t, const char*);
void rename(fuse_req_t, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned);
void link(fuse_req_t, fuse_ino_t, fuse_ino_t, const char*);
// dispatch_attr.cpp
void getattr(fuse_req_t, fuse_ino_t, fuse_file_info*);
void setattr(fuse_req_t, fuse_ino_t, struct stat*, int, fuse_file_info*);
void readlink(fuse_req_t, fuse_ino_t);
void access(fuse_req_t, fuse_ino_t, int);
// dispatch_file.cpp
void open(fuse_req_t, fuse_ino_t, fuse_file_info*);
void create(fuse_req_t, fuse_ino_t, const char*, mode_t, fuse_file_info*);
void read(fuse_req_t, fuse_ino_t, size_t, off_t, fuse_file_info*);
void write(fuse_req_t, fuse_ino_t, const char*, size_t, off_t, fuse_file_info*);
void flush(fuse_req_t, fuse_ino_t, fuse_file_info*);
void release(fuse_req_t, fuse_ino_t, fuse_file_info*);
void fsync(fuse_req_t, fuse_ino_t, int, fuse_file_info*);
void fallocate(fuse_req_t, fuse_ino_t, int, off_t, off_t, fuse_file_info*);
void lseek(fuse_req_t, fuse_ino_t, off_t, int, fuse_file_info*);
void copy_file_range(fuse_req_t, fuse_ino_t, off_t, fuse_file_info*, fuse_ino_t, off_t, fuse_file_info*, size_t, int);
void getlk(fuse_req_t, fuse_ino_t, fuse_file_info*, struct flock*);
void setlk(fuse_req_t, fuse_ino_t, fuse_file_info*, struct flock*, int);
void flock(fuse_req_t, fuse_ino_t, fuse_file_info*, int);
void poll(fuse_req_t, fuse_ino_t, fuse_file_info*, fuse_pollhandle*);
void ioctl(fuse_req_t, fuse_ino_t, unsigned, void*, fuse_file_info*, unsigned, const void*, size_t, size_t);
// dispatch_dir.cpp
void opendir(fuse_req_t, fuse_ino_t, fuse_file_info*);
void readdir(fuse_req_t, fuse_ino_t, size_t, off_t, fuse_file_info*);
void readdirplus(fuse_req_t, fuse_ino_t, size_t, off_t, fuse_file_info*);
void releasedir(fuse_req_t, fuse_ino_t, fuse_file_info*);
void fsyncdir(fuse_req_t, fuse_ino_t, int, fuse_file_info*);
// dispatch_xattr.cpp
void setxattr(fuse_req_t, fuse_ino_t, const char*, const char*, size_t, int);
void getxattr(fuse_req_t, fuse_ino_t, const char*, size_t);
void listxattr(fuse_req_t, fuse_ino_t, size_t);
void removexattr(fuse_req_t, fuse_ino_t, const char*);
// dispatch_fs.cpp
void init(void*, fuse_conn_info*);
// dispatch_statx.cpp: FUSE_STATX, which libfuse 3.14 does not know (see there).
void statx(Dispatcher& d, int fd, const void* message, size_t length);
// notify.cpp
void retrieve_reply(fuse_req_t, void*, fuse_ino_t, off_t, fuse_bufvec*);
void statfs(fuse_req_t, fuse_ino_t);
}  // namespace ll

}  // namespace fusepp
