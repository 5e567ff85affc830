// Private to the binding: Session::Impl, the state of one mounted filesystem. Holds the libfuse
// session, the io_context handlers run on, the /dev/fuse readers and the notifier thread, and
// the single-threaded loop's two receive modes (see Session::main in session.cpp).
#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <pthread.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "dispatcher.hpp"
#include "fusepp/session.hpp"

namespace fusepp {

// Sets the read-ahead of the FUSE mount at canonical_mountpoint to `bytes` through its
// backing device in sysfs (readahead.cpp). False when that is not possible (not root, no
// such mount); the kernel's default then stays.
bool raise_read_ahead(const std::filesystem::path& canonical_mountpoint, size_t bytes);

// Runs queued kernel notifications on its own thread, in FIFO order, so a handler can ask for
// one without waiting for the kernel (which may be waiting for that very handler).
class Notifier {
 public:
  Notifier() = default;
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;
  ~Notifier() { stop(); }
  void push(std::function<void()> job);
  void stop();  // runs nothing more; joins the thread

 private:
  void run();
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

class Reader;

// Tells whether the io_context has anything outstanding: the loops that block in read(2) ask
// after every request they received.
class WorkProbe {
 public:
  explicit WorkProbe(asio::io_context& io);
  bool run_ready_and_check_idle();
  bool outstanding();  // anything at all outstanding (no handler is run)

 private:
  asio::io_context& io_;
  bool stopped_ = false;  // the last poll() left the io_context stopped (and nobody restarted it since)
#if FUSEPP_ASIO_INTERNALS
  asio::detail::scheduler* scheduler_ = nullptr;
#endif
};

struct Session::Impl {
  Impl(Operations& ops, std::filesystem::path mountpoint) : ops(ops), mountpoint(std::move(mountpoint)) {}

  Operations& ops;
  std::filesystem::path mountpoint;
  // Declared before io so they outlive coroutine frames the io_context destroys.
  BufferPool pool;
  LoopHooks hooks;
  Dispatcher dispatcher{ops, io, hooks};
  asio::io_context io;
  fuse_session* se = nullptr;
  bool debug = false;  // libfuse prints every request and reply
  bool closed = false;
  std::mutex state_mutex;  // guards se against close() racing notifications
  std::vector<std::unique_ptr<Reader>> readers;
  std::atomic<unsigned> readers_running{0};
  std::mutex pause_mutex;
  std::vector<Reader*> paused;
  Notifier notifier;
  // terminate() was called (libfuse's own exit flag is a plain int, not for other threads).
  std::atomic<bool> exiting{false};
  // Guards every Reader's blocked_thread: terminate() signals the threads that may sit in a
  // blocking read(2) of /dev/fuse, which only a request or a signal ends.
  std::mutex idle_thread_mutex;
  bool single_thread = false;  // main() runs with threads == 1
  // Threads inside main()'s serving loops (ScopedMount waits for all before a test forks).
  std::atomic<unsigned> threads_serving{0};
  // Several threads reading in read(2): at most one of them runs the io_context at a time.
  std::atomic<bool> io_runner{false};
  std::atomic<bool> connection_gone{false};

  // Reading /dev/fuse gave ENODEV: the kernel ended the connection (unmount or abort) and
  // forgot every reference without a FORGET; the attached Observer settles its balance once.
  void connection_ended();

  void check_open() const;
  bool exit_requested() const { return exiting.load(std::memory_order_seq_cst) || fuse_session_exited(se); }
  void wake_readers();  // after terminate: make every reader notice the exit flag
  void wake_blocked_readers();
  void resume_paused();
  void serve_single();
  void serve_multi(unsigned threads);
  bool serve_blocking_threads(unsigned threads);  // false: not possible here, nothing served
  void serve_reads(Reader& r);
  void run_io_while_outstanding(WorkProbe& work);
  void run_reading_between_handlers(Reader& r);
};

// One /dev/fuse reader: receives into its current buffer until EAGAIN (at most kReadBatch
// requests per completion), then waits for readability. When a request left a suspended
// handler holding the buffer, the next request goes into a fresh one, so the handler's views
// stay valid.
class Reader {
 public:
  explicit Reader(Session::Impl& s);
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader() { BufferPool::release(current_); }

  void pump();          // start the next read (or finish / pause)
  void start_async() {  // the single-threaded loop leaves its idle mode
    idle_check_due_ = true;
    stopped_for_idle_check_ = false;
    pump();
  }
  // The single-threaded loop between two handlers: takes the requests already queued (at most
  // kReadBatch) while the readiness wait may still be pending in the reactor.
  void read_between_handlers();
  // The single-threaded loop's idle mode: one blocking read(2) and the request it got.
  enum class Blocking { next, end, would_block };  // end: unmounted or terminated
  Blocking receive_blocking();
  // The thread that may block in receive_blocking() (guarded by Session::Impl::idle_thread_mutex),
  // and whether it is in (or about to enter) read(2).
  std::optional<pthread_t> blocked_thread;
  std::atomic<bool> blocking{false};
  bool finished() const { return finished_; }
  int fd() { return sd_.native_handle(); }
  void cancel() {
    boost::system::error_code ec;
    sd_.cancel(ec);
  }
  void close_descriptor() {
    boost::system::error_code ec;
    sd_.close(ec);
  }

 private:
  void on_readable(const boost::system::error_code& ec);
  bool process(size_t n);                 // hands one received request to libfuse; false: the loop must end
  bool read_queued();                     // until EAGAIN or batch_limit(); false: the loop must end
  unsigned batch_limit() const;           // requests read in one turn
  bool may_take_another() const;          // neither terminated nor at max_tasks
  bool read_error_is_transient(int err);  // false: the error ends the loop (logged, session exited)
  bool want_idle_check();
  void take_fresh_buffer_if_pinned();
  void finish();
  bool pause_if_full();
  static constexpr size_t kMinRequestSize = 40;  // sizeof(struct fuse_in_header), not in the public headers

  Session::Impl& s_;
  asio::posix::stream_descriptor sd_;
  RecvBuffer* current_;
  bool finished_ = false;
  bool wait_pending_ = false;            // pump()'s readiness wait is in the reactor
  bool stopped_for_idle_check_ = false;  // stopped the io_context; no wait pending until start_async()
  // Single-threaded async mode: when to stop io_context::run() to check whether the
  // io_context has gone idle (Session::Impl::serve_single).
  bool idle_check_due_ = true;  // a handler suspended since the last check
  unsigned since_idle_check_ = 0;
};

}  // namespace fusepp
