// Private to the binding: Session::Impl, the state of one mounted filesystem. Holds the libfuse
// session, the io_context handlers run on, the /dev/fuse readers and the notifier thread.
#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <boost/asio/posix/stream_descriptor.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
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

  void check_open() const;
  void wake_readers();  // after terminate: make every reader notice the exit flag
  void resume_paused();
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

  void pump();  // start the next read (or finish / pause)
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
  void finish();
  bool pause_if_full();
  static constexpr size_t kMinRequestSize = 40;  // sizeof(struct fuse_in_header), not in the public headers

  Session::Impl& s_;
  asio::posix::stream_descriptor sd_;
  RecvBuffer* current_;
  bool finished_ = false;
};

}  // namespace fusepp
