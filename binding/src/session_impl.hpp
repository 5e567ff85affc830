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
  bool closed = false;
  std::mutex state_mutex;  // guards se against close() racing notifications
  std::vector<std::unique_ptr<Reader>> readers;
  std::atomic<unsigned> readers_running{0};
  std::mutex pause_mutex;
  std::vector<Reader*> paused;
  Notifier notifier;
  // terminate() was called (libfuse's own exit flag is a plain int, not for other threads).
  std::atomic<bool> exiting{false};
  // The single-threaded loop sits in (or is about to enter) a blocking read(2) of /dev/fuse,
  // which only a request or a signal ends: terminate() then signals idle_thread.
  std::atomic<bool> blocking{false};
  std::mutex idle_thread_mutex;
  std::optional<pthread_t> idle_thread;  // set while serve_single() may block in read(2)
  bool single_thread = false;            // main() runs with threads == 1
  std::atomic<bool> connection_gone{false};

  // Reading /dev/fuse gave ENODEV: the kernel ended the connection (unmount or abort) and
  // forgot every reference without a FORGET; the attached Observer settles its balance once.
  void connection_ended();

  void check_open() const;
  bool exit_requested() const { return exiting.load(std::memory_order_seq_cst) || fuse_session_exited(se); }
  void wake_readers();  // after terminate: make every reader notice the exit flag
  void wake_blocked_reader();
  void resume_paused();
  void serve_single();
  void serve_multi(unsigned threads);
};

// One /dev/fuse reader: receives into its current buffer until EAGAIN, then waits for
// readability. When a request left a suspended handler holding the buffer, the next request
// goes into a fresh one, so the handler's views stay valid.
class Reader {
 public:
  explicit Reader(Session::Impl& s);
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader() { BufferPool::release(current_); }

  void pump();          // start the next read (or finish / pause)
  void start_async() {  // the single-threaded loop leaves its idle mode
    idle_check_due_ = true;
    pump();
  }
  // The single-threaded loop's idle mode: one blocking read(2) and the request it got.
  enum class Blocking { next, end, would_block };  // end: unmounted or terminated
  Blocking receive_blocking();
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
  void on_received(const boost::system::error_code& ec, size_t n);
  bool process(size_t n);  // hands one received request to libfuse; false: the loop must end
  bool want_idle_check();
  void take_fresh_buffer_if_pinned();
  void finish();
  bool pause_if_full();
  static constexpr size_t kMinRequestSize = 40;  // sizeof(struct fuse_in_header), not in the public headers

  Session::Impl& s_;
  asio::posix::stream_descriptor sd_;
  RecvBuffer* current_;
  bool finished_ = false;
  // Single-threaded async mode: when to stop io_context::run() to check whether the
  // io_context has gone idle (Session::Impl::serve_single).
  bool idle_check_due_ = true;  // a handler suspended since the last check
  unsigned since_idle_check_ = 0;
};

}  // namespace fusepp
