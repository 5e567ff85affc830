// Session: mounting, the receive loop and kernel notifications, plus pyfuse3's module functions
// on one process-wide session. The loop reads the non-blocking /dev/fuse fd from inside an
// Asio io_context, so suspended handlers and new requests interleave on the same thread(s);
// with one thread and nothing else pending it blocks in read(2) instead, as libfuse does.
#include "session_impl.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace fusepp {

namespace {

// A single-threaded loop that blocks in read(2) checks for other work after every request;
// one that serves in epoll (work was pending) checks whether it can go back to read(2)
// after a suspended handler, else every this many requests (a check costs an epoll_wait).
constexpr unsigned kIdleCheckEvery = 256;

// The most requests one read completion takes in a row from /dev/fuse before it lets the
// io_context run other handlers (Reader::on_readable).
constexpr unsigned kReadBatch = 64;

// How often the single-threaded loop reads /dev/fuse between handlers at most
// (run_reading_between_handlers): a read that finds nothing costs a system call, and a client
// woken by a reply needs some microseconds to send its next request.
constexpr std::chrono::microseconds kReadGap{30};

// /dev/fuse is read and written by system calls made directly, not through glibc's read(2) and
// writev(2): those are cancellation points, and in a process with a second thread (memfs has
// its signal thread) each call switches asynchronous cancellation on and off around the
// system call, two atomic read-modify-writes and ~60 instructions per call (callgrind, memfs
// create + unlink: 831 instructions fewer per pair of 12 requests). No thread of a serving
// loop is ever cancelled, so nothing is lost.
ssize_t read_device(int fd, void* buf, size_t size) { return ::syscall(SYS_read, fd, buf, size); }
ssize_t writev_device(int fd, iovec* iov, int count, void*) { return ::syscall(SYS_writev, fd, iov, count); }
ssize_t read_device_for_libfuse(int fd, void* buf, size_t size, void*) { return read_device(fd, buf, size); }
// libfuse sends every reply and notification through these (fuse_session_custom_io). Without
// splice functions it neither offers nor uses splice, which the binding turns off anyway.
const fuse_custom_io kDeviceIo{writev_device, read_device_for_libfuse, nullptr, nullptr};

// The signal terminate() ends a blocked read(2) with. SIGURG because its default action is
// to ignore it (a stray one never kills the process) and almost nothing uses it (Go's
// runtime chose it for the same reasons). The binding takes it only while it is SIG_DFL, and
// installs its no-op handler without SA_RESTART, so the read returns EINTR.
constexpr int kWakeSignal = SIGURG;
void on_wake_signal(int) {}

std::mutex g_wake_signal_mutex;
int g_wake_signal_users = 0;  // serving loops in this process relying on our handler

bool is_our_handler(const struct sigaction& sa) {
  return (sa.sa_flags & SA_SIGINFO) == 0 && sa.sa_handler == on_wake_signal;
}

// false: the signal is the application's (or blocked on this thread); the loop then never
// blocks in read(2) and serves through epoll only.
bool acquire_wake_signal() {
  sigset_t blocked;
  if (pthread_sigmask(SIG_BLOCK, nullptr, &blocked) != 0 || sigismember(&blocked, kWakeSignal)) return false;
  std::lock_guard lock(g_wake_signal_mutex);
  struct sigaction current {};
  if (sigaction(kWakeSignal, nullptr, &current) != 0) return false;
  if (!is_our_handler(current)) {
    if ((current.sa_flags & SA_SIGINFO) != 0 || current.sa_handler != SIG_DFL) return false;
    struct sigaction ours {};
    ours.sa_handler = on_wake_signal;
    sigemptyset(&ours.sa_mask);
    ours.sa_flags = 0;  // no SA_RESTART: the blocked read must return
    if (sigaction(kWakeSignal, &ours, nullptr) != 0) return false;
    g_wake_signal_users = 0;
  }
  ++g_wake_signal_users;
  return true;
}

void release_wake_signal() {
  std::lock_guard lock(g_wake_signal_mutex);
  if (--g_wake_signal_users > 0) return;
  struct sigaction current {};
  if (sigaction(kWakeSignal, nullptr, &current) == 0 && is_our_handler(current)) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(kWakeSignal, &dfl, nullptr);
  }
}

#if FUSEPP_ASIO_INTERNALS
// Reads the scheduler's count of outstanding work (pending operations, posted handlers, work
// guards), which io_context::poll() tests under its mutex before stopping the context. Boost
// 1.74 has no public accessor; a member pointer named in an explicit instantiation may name a
// private member, and Grant hands it out through a friend function.
struct OutstandingWorkMember {
  using type = asio::detail::atomic_count asio::detail::scheduler::*;
};
OutstandingWorkMember::type member(OutstandingWorkMember);
template <typename Tag, typename Tag::type Member>
struct Grant {
  friend typename Tag::type member(Tag) { return Member; }
};
template struct Grant<OutstandingWorkMember, &asio::detail::scheduler::outstanding_work_>;
#endif

}  // namespace

WorkProbe::WorkProbe(asio::io_context& io) : io_(io) {
#if FUSEPP_ASIO_INTERNALS
  scheduler_ = &asio::use_service<asio::detail::scheduler>(io);
#endif
}

// Runs what is ready without blocking; true when nothing at all is outstanding (the io_context
// is then stopped, as poll() leaves it). With Boost 1.74 an idle context costs one atomic load
// instead of poll()'s two mutex round trips and a condition-variable broadcast (about 300
// instructions per request, measured with callgrind). Whether the context is stopped is
// remembered from the last poll() rather than asked (io_context::stopped() takes the
// scheduler's mutex): only the serving thread restarts it, and its run() returns stopped.
bool WorkProbe::run_ready_and_check_idle() {
#if FUSEPP_ASIO_INTERNALS
  if (stopped_ && (scheduler_->*member(OutstandingWorkMember{})) == 0) return true;
#endif
  io_.restart();
  io_.poll();
  stopped_ = io_.stopped();
  return stopped_;
}

bool WorkProbe::outstanding() {
#if FUSEPP_ASIO_INTERNALS
  return (scheduler_->*member(OutstandingWorkMember{})) != 0;
#else
  return !run_ready_and_check_idle();
#endif
}

Reader::Reader(Session::Impl& s) : s_(s), sd_(s.io, ::dup(fuse_session_fd(s.se))), current_(s.pool.acquire()) {}

void Reader::take_fresh_buffer_if_pinned() {
  if (current_->refs.load(std::memory_order_acquire) > 1) {
    // A suspended handler still holds views into this buffer: receive into a fresh one.
    BufferPool::release(current_);
    current_ = s_.pool.acquire();
  }
}

// Waits for the next request; the reader then reads it itself (read_queued). A read Asio
// completes would wait in its queue, so a read made meanwhile outside it (read_between_handlers)
// could take a later request and hand it to libfuse first. The readiness wait re-arms epoll
// (epoll_ctl) once per wait; the speculative read Asio made after each batch, which found
// nothing, cost as much.
void Reader::pump() {
  if (finished_ || wait_pending_) return;
  if (s_.exit_requested()) return finish();
  if (s_.hooks.max_tasks != 0 && pause_if_full()) return;
  wait_pending_ = true;
  sd_.async_wait(asio::posix::descriptor_base::wait_read,
                 [this](const boost::system::error_code& ec) { on_readable(ec); });
}

void Reader::on_readable(const boost::system::error_code& ec) {
  wait_pending_ = false;
  if (finished_) return;
  // operation_aborted: terminate() cancelled the wait (pump() then sees the exit flag).
  if (ec && ec != asio::error::operation_aborted) return finish();
  // Each completion passes once through the io_context's queue, and each pass runs the
  // reactor (an epoll_wait): the requests already queued are read here, in one pass, up to
  // kReadBatch so that handlers resumed meanwhile (a timer) are not held up.
  if (!ec && !read_queued()) return finish();
  if (!stopped_for_idle_check_) pump();
}

// The single-threaded loop may stop here to look whether the io_context went idle.
bool Reader::read_queued() {
  for (unsigned taken = 0; taken < batch_limit() && may_take_another();) {
    take_fresh_buffer_if_pinned();
    ssize_t got = read_device(fd(), current_->buf.mem, BufferPool::kBufferSize);
    if (got < 0) {
      int err = errno;
      if (err == EAGAIN) return true;  // pump()'s wait then waits in the reactor
      if (!read_error_is_transient(err)) return false;
      continue;
    }
    if (!process(static_cast<size_t>(got))) return false;
    ++taken;
    if (s_.single_thread && want_idle_check()) {
      // Leave run() with no wait pending: serve_single() looks whether anything else is.
      // Between handlers the readiness wait is still in the reactor; cancelled, its
      // completion runs in that look and does not wait again.
      stopped_for_idle_check_ = true;
      if (wait_pending_) cancel();
      s_.io.stop();
      return true;
    }
  }
  return true;
}

void Reader::read_between_handlers() {
  if (finished_ || stopped_for_idle_check_) return;
  if (!read_queued()) finish();
}

// A request's coroutine counts in flight once it starts; co_spawn (without Asio's internals)
// starts it only after the reader has returned to the io_context, so with max_tasks the
// reader takes one request per turn there (with several threads, each reader may still take
// one before the others' have started).
unsigned Reader::batch_limit() const {
#if FUSEPP_ASIO_INTERNALS
  return kReadBatch;
#else
  return s_.hooks.max_tasks == 0 ? kReadBatch : 1;
#endif
}

bool Reader::may_take_another() const {
  return !s_.exit_requested() &&
         (s_.hooks.max_tasks == 0 || s_.hooks.in_flight.load(std::memory_order_acquire) < s_.hooks.max_tasks);
}

// ENOENT: the request was interrupted before it was read; EINTR/EAGAIN: nothing read. Any
// other error ends the loop (ENODEV: the filesystem was unmounted or the connection aborted).
bool Reader::read_error_is_transient(int err) {
  if (err == ENOENT || err == EINTR || err == EAGAIN) return true;
  if (err != ENODEV) std::fprintf(stderr, "fusepp: reading /dev/fuse failed: %s\n", std::strerror(err));
  if (err == ENODEV) s_.connection_ended();
  fuse_session_exit(s_.se);
  return false;
}

bool Reader::want_idle_check() {
  if (s_.hooks.in_flight.load(std::memory_order_acquire) != 0) {
    idle_check_due_ = true;
    return false;
  }
  if (!idle_check_due_ && ++since_idle_check_ < kIdleCheckEvery) return false;
  idle_check_due_ = false;
  since_idle_check_ = 0;
  return true;
}

bool Reader::process(size_t n) {
  if (n < kMinRequestSize) {
    std::fprintf(stderr, "fusepp: short read on /dev/fuse (%zu bytes)\n", n);
    fuse_session_exit(s_.se);
    return false;
  }
  current_->buf.size = n;
  uint32_t opcode;  // fuse_in_header: len, then opcode
  std::memcpy(&opcode, static_cast<const char*>(current_->buf.mem) + sizeof(uint32_t), sizeof opcode);
  if (opcode == kFuseStatx) [[unlikely]] {
    ll::statx(s_.dispatcher, fd(), current_->buf.mem, n);
    return true;
  }
  if (s_.dispatcher.decodes_hot_requests && serve_decoded(s_.dispatcher, current_, n)) return true;
  tl_current_buffer = current_;
  fuse_session_process_buf(s_.se, &current_->buf);
  tl_current_buffer = nullptr;
  return true;
}

Reader::Blocking Reader::receive_blocking() {
  take_fresh_buffer_if_pinned();
  // Pairs with wake_blocked_readers(): either we see terminate()'s flag here, or it sees ours
  // and signals this thread until the read has returned.
  blocking.store(true, std::memory_order_seq_cst);
  if (s_.exit_requested()) {
    blocking.store(false, std::memory_order_seq_cst);
    return Blocking::end;
  }
  ssize_t n = read_device(fd(), current_->buf.mem, BufferPool::kBufferSize);
  int err = errno;
  blocking.store(false, std::memory_order_seq_cst);
  if (n < 0) {
    if (err == EAGAIN) return Blocking::would_block;
    return read_error_is_transient(err) ? Blocking::next : Blocking::end;  // EINTR: the caller looks at the exit flag
  }
  return process(static_cast<size_t>(n)) ? Blocking::next : Blocking::end;
}

bool Reader::pause_if_full() {
  std::lock_guard lock(s_.pause_mutex);
  if (s_.hooks.in_flight.load(std::memory_order_acquire) < s_.hooks.max_tasks) return false;
  s_.paused.push_back(this);
  return true;
}

void Reader::finish() {
  if (finished_) return;
  finished_ = true;
  if (s_.readers_running.fetch_sub(1) == 1) s_.io.stop();
}

void Session::Impl::connection_ended() {
  if (connection_gone.exchange(true)) return;
  if (Observer::Impl* observer = dispatcher.observing()) observer->connection_ended();
}

void Session::Impl::check_open() const {
  if (closed || !se) throw std::logic_error("fusepp: the session is closed");
}

void Session::Impl::wake_readers() {
  asio::post(io, [this] {
    for (auto& r : readers) r->cancel();
    resume_paused();
  });
}

void Session::Impl::resume_paused() {
  std::vector<Reader*> ready;
  {
    std::lock_guard lock(pause_mutex);
    ready.swap(paused);
  }
  for (Reader* r : ready) asio::post(io, [r] { r->pump(); });
}

void Notifier::push(std::function<void()> job) {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  queue_.push_back(std::move(job));
  cv_.notify_one();
}

void Notifier::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void Notifier::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    auto job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
}

namespace {

std::string join_options(const std::set<std::string>& options) {
  std::string joined;
  for (const auto& o : options) {
    if (!joined.empty()) joined += ',';
    joined += o;
  }
  return joined;
}

void throw_if_failed(int rc, const char* what) {
  if (rc < 0) throw std::system_error(-rc, std::generic_category(), std::string("fusepp: ") + what);
}

}  // namespace

void register_open_session(Session* session, bool open);  // for current_session(), below

Session::Session(Operations& ops, const std::filesystem::path& mountpoint, const std::set<std::string>& options)
    : impl_(std::make_unique<Impl>(ops, mountpoint)) {
  std::string joined = join_options(options);
  std::vector<const char*> argv{"fusepp"};
  if (!joined.empty()) {
    argv.push_back("-o");
    argv.push_back(joined.c_str());
  }
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
  impl_->se = fuse_session_new(&args, &Dispatcher::table(), sizeof(fuse_lowlevel_ops), &impl_->dispatcher);
  impl_->debug = options.count("debug") != 0;
  fuse_opt_free_args(&args);
  if (!impl_->se)
    throw std::system_error(
        EINVAL, std::generic_category(),
        "fusepp: cannot create a FUSE session for " + mountpoint.string() + " (options: " + joined + ")");
  // Resolved before mounting: afterwards every lookup of the mountpoint waits for this daemon.
  std::error_code resolve_error;
  std::filesystem::path resolved = std::filesystem::canonical(mountpoint, resolve_error);
  if (fuse_session_mount(impl_->se, mountpoint.c_str()) != 0) {
    int err = errno ? errno : EIO;
    fuse_session_destroy(impl_->se);
    impl_->se = nullptr;
    impl_->closed = true;
    throw std::system_error(err, std::generic_category(), "fusepp: cannot mount " + mountpoint.string());
  }
  // The same descriptor, kept by libfuse as before (and closed by fuse_session_destroy).
  if (fuse_session_custom_io(impl_->se, &kDeviceIo, fuse_session_fd(impl_->se)) != 0)
    std::fprintf(stderr, "fusepp: replies go through glibc's writev (fuse_session_custom_io failed)\n");
  // Before the INIT reply, which keeps the smaller of this and Operations::max_readahead.
  if (ops.max_readahead > kKernelReadahead && !resolve_error) raise_read_ahead(resolved, ops.max_readahead);
  register_open_session(this, true);
}

Session::~Session() {
  try {
    close(true);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fusepp: closing the session failed: %s\n", e.what());
  }
}

void Session::main(MainOptions options) {
  Impl& s = *impl_;
  s.check_open();
  if (fuse_session_exited(s.se)) fuse_session_reset(s.se);
  s.exiting = false;
  int fd = fuse_session_fd(s.se);
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
    throw std::system_error(errno, std::generic_category(), "fusepp: making /dev/fuse non-blocking");

  s.dispatcher.direct_reply_fd = s.debug ? -1 : fd;
  s.hooks.max_tasks = options.max_tasks;
  s.hooks.on_slot_free = [&s] { s.resume_paused(); };
  unsigned threads = options.threads == 0 ? 1 : options.threads;
  s.dispatcher.session = s.se;
  s.dispatcher.decodes_hot_requests =
      FUSEPP_ASIO_INTERNALS && threads == 1 && options.max_tasks == 0 && s.dispatcher.direct_reply_fd >= 0;
  s.single_thread = threads == 1;
  {
    std::lock_guard lock(s.idle_thread_mutex);  // terminate() may be looking at the readers
    s.readers.clear();
    for (unsigned i = 0; i < threads; ++i) s.readers.push_back(std::make_unique<Reader>(s));
  }
  s.readers_running = threads;
  s.threads_serving = 0;
  s.io.restart();
  if (threads == 1)
    s.serve_single();
  else if (options.max_tasks != 0 || !s.serve_blocking_threads(threads))
    s.serve_multi(threads);

  // Close the readers' descriptors (their dups keep the connection alive) and let the
  // aborted waits complete while the readers still exist.
  for (auto& r : s.readers) r->close_descriptor();
  s.io.restart();
  s.io.poll();
}

// Several threads, all in io_context::run() with one Asio reader each: the fallback when they
// cannot block in read(2) (max_tasks, or the application owns the wake signal).
void Session::Impl::serve_multi(unsigned threads) {
  for (auto& r : readers) asio::post(io, [reader = r.get()] { reader->pump(); });
  auto run = [this] {
    ++threads_serving;
    io.run();
    --threads_serving;
  };
  std::vector<std::thread> extra;
  for (unsigned i = 1; i < threads; ++i) extra.emplace_back(run);
  run();
  for (auto& t : extra) t.join();
}

// Several threads as libfuse runs them: each blocks in read(2) on /dev/fuse (the kernel wakes
// one reader per request) and runs the request's handler in place. Whichever thread finds Asio
// work outstanding after a request (a suspended handler, a timer, a post) runs the io_context
// until none is left, one thread at a time, while the others keep reading. Through Asio, with
// every thread in run() and one reader each, 2 threads were slower than 1 (20 us handlers, 2
// clients: 0.74-0.84x): every request made every reader's descriptor ready (the readers all
// wait on the connection's one queue), each read's completion went through the scheduler's
// queue (an epoll_wait and a futex wake-up per request) and the threads passed requests to
// each other. The signals and caveats are serve_single()'s: terminate() signals the threads
// blocked in read(2), and a post from another thread without a work guard waits for a request.
bool Session::Impl::serve_blocking_threads(unsigned threads) {
  int fd = readers.front()->fd();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || !acquire_wake_signal()) return false;
  // The readers' dups share one file description, hence one O_NONBLOCK: off while they serve.
  if (fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    release_wake_signal();
    return false;
  }
  std::vector<std::thread> extra;
  for (unsigned i = 1; i < threads; ++i) extra.emplace_back([this, r = readers[i].get()] { serve_reads(*r); });
  serve_reads(*readers.front());
  for (auto& t : extra) t.join();
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  release_wake_signal();
  return true;
}

void Session::Impl::serve_reads(Reader& r) {
  {
    std::lock_guard lock(idle_thread_mutex);
    r.blocked_thread = pthread_self();
  }
  ++threads_serving;
  WorkProbe work(io);
  while (!exit_requested()) {
    run_io_while_outstanding(work);
    Reader::Blocking b = r.receive_blocking();
    if (b == Reader::Blocking::end) break;
    if (b == Reader::Blocking::would_block) {  // someone set O_NONBLOCK again: wait for a request
      pollfd p{r.fd(), POLLIN, 0};
      ::poll(&p, 1, 100);
    }
  }
  --threads_serving;
  {
    std::lock_guard lock(idle_thread_mutex);  // terminate() may be signalling right now
    r.blocked_thread.reset();
  }
  // This thread ends the loop for all (unmounted, terminated or a bad read): wake the other
  // readers and a runner blocked in epoll (terminate() does the same).
  exiting.store(true, std::memory_order_seq_cst);
  wake_blocked_readers();
  io.stop();
}

// Runs the io_context on this thread while work is outstanding, unless another thread does.
// A thread that adds work after the runner's run() returned either sees the runner flag
// cleared or is seen by the runner's second look (both sequentially consistent).
void Session::Impl::run_io_while_outstanding(WorkProbe& work) {
  while (work.outstanding() && !exit_requested()) {
    if (io_runner.exchange(true, std::memory_order_seq_cst)) return;
    io.restart();
    if (!exit_requested()) io.run();  // after restart(): a terminate() before it is seen here
    io_runner.store(false, std::memory_order_seq_cst);
  }
}

// One serving thread, two modes. While the io_context has no outstanding work at all (no
// suspended handler, timer, socket, posted function or work guard) and no request is in
// flight, the thread blocks in read(2) on /dev/fuse like libfuse's loop: 2 syscalls per
// request (read, writev). Through Asio it costs 4 whenever requests come one at a time: the
// speculative read finds EAGAIN, epoll_wait, read, writev (Boost 1.74's reactor re-arms
// epoll with epoll_ctl on every async_wait, so waiting first costs the same). Measured with
// bench/binding (uncached stat, one CPU): 0.85-0.88x raw libfuse through Asio, 0.95-0.97x
// blocking; poll(2) on /dev/fuse plus an eventfd, then read, stayed at 0.89x. Nothing
// is starved meanwhile: with no outstanding work only a request, terminate() (which signals
// this thread, see kWakeSignal) or a post from another thread can create work, and such a
// post from a thread holding no work guard waits for the next request (documented at
// Session::io_context()). As soon as a request leaves work behind (a handler suspended,
// something was posted), the loop serves in epoll inside io_context::run(), so a suspended
// handler never delays other requests, and it comes back to read(2) once the io_context is
// idle again. Without the wake signal (the application owns SIGURG) it always uses epoll.
void Session::Impl::serve_single() {
  Reader& r = *readers.front();
  int fd = r.fd();
  int flags = fcntl(fd, F_GETFL);
  bool can_block = flags >= 0 && acquire_wake_signal();
  if (can_block) {
    std::lock_guard lock(idle_thread_mutex);
    r.blocked_thread = pthread_self();
  }
  ++threads_serving;
  // O_NONBLOCK belongs to the file description the session fd and the reader's dup share;
  // only this thread reads it, and Asio's reads need it back on before the next async read.
  struct Restore {
    Impl& s;
    Reader& r;
    int fd, flags;
    bool signal;
    ~Restore() {
      --s.threads_serving;
      if (!signal) return;
      fcntl(fd, F_SETFL, flags | O_NONBLOCK);
      {
        std::lock_guard lock(s.idle_thread_mutex);  // terminate() may be signalling right now
        r.blocked_thread.reset();
      }
      release_wake_signal();
    }
  } restore{*this, r, fd, flags, can_block};
  WorkProbe idle(io);
  while (!r.finished() && !exit_requested()) {
    bool was_idle = idle.run_ready_and_check_idle();
    if (can_block && was_idle && hooks.in_flight.load(std::memory_order_acquire) == 0 &&
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0) {
      Reader::Blocking b;
      do {
        b = r.receive_blocking();
        if (b != Reader::Blocking::next || hooks.in_flight.load(std::memory_order_acquire) != 0) break;
        // Run what the request left ready (a handler may have posted); stay in read(2) while
        // nothing is outstanding.
      } while (idle.run_ready_and_check_idle());
      if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        std::fprintf(stderr, "fusepp: making /dev/fuse non-blocking failed: %s\n", std::strerror(errno));
        fuse_session_exit(se);
        break;
      }
      if (b == Reader::Blocking::end) break;
      if (b == Reader::Blocking::next) continue;  // look again: leave for epoll only while work is outstanding
      can_block = false;                          // would_block: someone else sets O_NONBLOCK; stay in epoll
    }
    // run() must end only when the reader finishes or stops it to check whether the
    // io_context is idle, never for lack of work: a reader paused by max_tasks has no read
    // pending, and its handlers may await something that holds no work on the io_context.
    // Restarted before the reader is armed: arming finishes it when terminate() ran in the
    // look above, and that stop must hold.
    auto until_stopped = asio::make_work_guard(io);
    io.restart();
    r.start_async();
    run_reading_between_handlers(r);
  }
}

// io_context::run(), except that after a handler that answered a request (in_flight fell) the
// loop also takes the requests already queued on /dev/fuse, at most once per kReadGap. The
// reactor sees /dev/fuse only once per pass through Asio's queue, after every handler ready
// before it; under load (64 clients on a 1 ms backend) a pass took about 250 us, so the next
// request of a client answered early in a pass waited for the next one, and its backend wait
// started that much later.
void Session::Impl::run_reading_between_handlers(Reader& r) {
  unsigned last_in_flight = hooks.in_flight.load(std::memory_order_relaxed);
  auto last_read = std::chrono::steady_clock::now();
  while (io.run_one() != 0) {
    unsigned in_flight = hooks.in_flight.load(std::memory_order_relaxed);
    if (in_flight < last_in_flight) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_read < kReadGap) continue;  // keep last_in_flight: a request was answered
      last_read = now;
      r.read_between_handlers();
      in_flight = hooks.in_flight.load(std::memory_order_relaxed);
    }
    last_in_flight = in_flight;
  }
}

void Session::terminate() {
  Impl& s = *impl_;
  if (!s.se) return;
  s.exiting.store(true, std::memory_order_seq_cst);
  fuse_session_exit(s.se);
  s.wake_blocked_readers();
  s.wake_readers();
  if (!s.single_thread) s.io.stop();  // a thread running the io_context for blocked readers
}

void Session::Impl::wake_blocked_readers() {
  std::lock_guard lock(idle_thread_mutex);
  for (auto& r : readers) {
    if (!r->blocked_thread || pthread_equal(*r->blocked_thread, pthread_self())) continue;  // in a handler
    // A signal that lands between the loop's look at the exit flag and read(2) is lost, so
    // signal until the read has returned; normally the first one ends it. The loop cannot
    // leave (and its thread end) meanwhile: it needs this mutex to. One that lands just
    // after a request ended the read can interrupt a syscall of that request's handler
    // (EINTR, as any signal can), and only when terminate() races a request.
    std::atomic<bool>& blocking = r->blocking;
    for (int i = 0; i < 20000 && blocking.load(std::memory_order_seq_cst); ++i) {
      pthread_kill(*r->blocked_thread, kWakeSignal);
      for (int j = 0; j < 20 && blocking.load(std::memory_order_seq_cst); ++j) std::this_thread::yield();
      if (blocking.load(std::memory_order_seq_cst)) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
}

void Session::close(bool unmount) {
  register_open_session(this, false);
  Impl& s = *impl_;
  std::lock_guard lock(s.state_mutex);
  if (s.closed) return;
  s.closed = true;
  {
    std::lock_guard readers_lock(s.idle_thread_mutex);
    s.readers.clear();
  }
  s.notifier.stop();
  if (unmount) fuse_session_unmount(s.se);
  fuse_session_destroy(s.se);
  s.se = nullptr;
}

void Session::invalidate_inode(InodeT inode, bool attr_only) {
  impl_->check_open();
  throw_if_failed(fuse_lowlevel_notify_inval_inode(impl_->se, inode, attr_only ? -1 : 0, 0), "invalidate_inode");
}

namespace {
int notify_entry(fuse_session* se, InodeT inode_p, std::string_view name, InodeT deleted) {
  if (deleted != InodeT{0}) return fuse_lowlevel_notify_delete(se, inode_p, deleted, name.data(), name.size());
  return fuse_lowlevel_notify_inval_entry(se, inode_p, name.data(), name.size());
}
}  // namespace

void Session::invalidate_entry(InodeT inode_p, std::string_view name, InodeT deleted) {
  impl_->check_open();
  throw_if_failed(notify_entry(impl_->se, inode_p, name, deleted), "invalidate_entry");
}

void Session::invalidate_entry_async(InodeT inode_p, std::string name, InodeT deleted, bool ignore_enoent) {
  impl_->check_open();
  fuse_session* se = impl_->se;
  impl_->notifier.push([se, inode_p, name = std::move(name), deleted, ignore_enoent] {
    int rc = notify_entry(se, inode_p, name, deleted);
    if (rc < 0 && !(ignore_enoent && rc == -ENOENT))
      std::fprintf(stderr, "fusepp: invalidate_entry(%llu, %s) failed: %s\n",
                   static_cast<unsigned long long>(inode_p.value), name.c_str(), std::strerror(-rc));
  });
}

void Session::invalidate_inode_async(InodeT inode, bool attr_only) {
  impl_->check_open();
  fuse_session* se = impl_->se;
  impl_->notifier.push([se, inode, attr_only] {
    int rc = fuse_lowlevel_notify_inval_inode(se, inode, attr_only ? -1 : 0, 0);
    if (rc < 0 && rc != -ENOENT)
      std::fprintf(stderr, "fusepp: invalidate_inode(%llu) failed: %s\n", static_cast<unsigned long long>(inode.value),
                   std::strerror(-rc));
  });
}

void Session::notify_store(InodeT inode, off_t offset, std::string_view data) {
  impl_->check_open();
  fuse_bufvec bufv = FUSE_BUFVEC_INIT(data.size());
  bufv.buf[0].mem = const_cast<char*>(data.data());
  throw_if_failed(fuse_lowlevel_notify_store(impl_->se, inode, offset, &bufv, static_cast<fuse_buf_copy_flags>(0)),
                  "notify_store");
}

const std::filesystem::path& Session::mountpoint() const { return impl_->mountpoint; }
unsigned Session::serving_threads() const { return impl_->threads_serving.load(); }
asio::io_context& Session::io_context() { return impl_->io; }

// ----- module functions on one process-wide session -----

namespace {
std::mutex g_session_mutex;
std::unique_ptr<Session> g_session;     // made by init()
std::vector<Session*> g_open_sessions;  // every Session mounted and not yet closed
}  // namespace

void register_open_session(Session* session, bool open) {
  std::lock_guard lock(g_session_mutex);
  std::erase(g_open_sessions, session);
  if (open) g_open_sessions.push_back(session);
}

// init()'s session, else the only open one (a Session or ScopedMount made directly), so the
// module functions work in tests as they do in a daemon.
Session& current_session() {
  std::lock_guard lock(g_session_mutex);
  if (g_session) return *g_session;
  if (g_open_sessions.size() == 1) return *g_open_sessions.front();
  throw std::logic_error(g_open_sessions.empty()
                             ? "fusepp: no session is mounted (init() was not called)"
                             : "fusepp: several sessions are mounted; call the Session's own functions");
}

void init(Operations& ops, const std::filesystem::path& mountpoint, const std::set<std::string>& options) {
  auto check_first = [] {
    if (g_session) throw std::logic_error("fusepp: init() called twice without close()");
  };
  {
    std::lock_guard lock(g_session_mutex);
    check_first();
  }
  // Made outside the lock: a Session registers itself as open (register_open_session).
  auto session = std::make_unique<Session>(ops, mountpoint, options);
  std::lock_guard lock(g_session_mutex);
  check_first();
  g_session = std::move(session);
}

void main(MainOptions options) { current_session().main(options); }
void terminate() { current_session().terminate(); }

void close(bool unmount) {
  std::unique_ptr<Session> session;
  {
    std::lock_guard lock(g_session_mutex);
    session = std::move(g_session);
  }
  if (session) session->close(unmount);
}

void invalidate_inode(InodeT inode, bool attr_only) { current_session().invalidate_inode(inode, attr_only); }
void invalidate_entry(InodeT inode_p, std::string_view name, InodeT deleted) {
  current_session().invalidate_entry(inode_p, name, deleted);
}
void invalidate_entry_async(InodeT inode_p, std::string name, InodeT deleted, bool ignore_enoent) {
  current_session().invalidate_entry_async(inode_p, std::move(name), deleted, ignore_enoent);
}
void notify_store(InodeT inode, off_t offset, std::string_view data) {
  current_session().notify_store(inode, offset, data);
}

}  // namespace fusepp
