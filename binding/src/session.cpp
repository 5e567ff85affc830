// Session: mounting, the receive loop and kernel notifications, plus pyfuse3's module functions
// on one process-wide session. The loop reads the non-blocking /dev/fuse fd from inside an
// Asio io_context, so suspended handlers and new requests interleave on the same thread(s).
#include "session_impl.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace fusepp {

Reader::Reader(Session::Impl& s)
    : s_(s), sd_(s.io, ::dup(fuse_session_fd(s.se))), current_(s.pool.acquire()) {}

// Asks Asio to read the next request. Asio first tries the read at once (Boost 1.74 keeps
// speculative reads on for descriptors), so queued requests are taken without touching epoll;
// only on EAGAIN does the op wait for readiness, and without re-arming epoll (epoll_ctl) as
// async_wait would on every call. Each read returns exactly one request.
void Reader::pump() {
  if (finished_) return;
  if (fuse_session_exited(s_.se)) return finish();
  if (s_.hooks.max_tasks != 0 && pause_if_full()) return;
  if (current_->refs.load(std::memory_order_acquire) > 1) {
    // A suspended handler still holds views into this buffer: receive into a fresh one.
    BufferPool::release(current_);
    current_ = s_.pool.acquire();
  }
  sd_.async_read_some(asio::buffer(current_->buf.mem, BufferPool::kBufferSize),
                      [this](const boost::system::error_code& ec, size_t n) { on_received(ec, n); });
}

void Reader::on_received(const boost::system::error_code& ec, size_t n) {
  if (finished_) return;
  fuse_session* se = s_.se;
  if (ec) {
    int err = ec.value();
    // ENOENT: the request was interrupted before it was read; EINTR/EAGAIN: nothing read;
    // operation_aborted: terminate() cancelled the wait (pump() then sees the exit flag).
    if (ec == asio::error::operation_aborted || err == ENOENT || err == EINTR || err == EAGAIN) return pump();
    if (err != ENODEV) std::fprintf(stderr, "fusepp: reading /dev/fuse failed: %s\n", ec.message().c_str());
    fuse_session_exit(se);  // ENODEV: the filesystem was unmounted
    return finish();
  }
  if (n < kMinRequestSize) {
    std::fprintf(stderr, "fusepp: short read on /dev/fuse (%zu bytes)\n", n);
    fuse_session_exit(se);
    return finish();
  }
  current_->buf.size = n;
  tl_current_buffer = current_;
  fuse_session_process_buf(se, &current_->buf);
  tl_current_buffer = nullptr;
  pump();
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
  fuse_opt_free_args(&args);
  if (!impl_->se)
    throw std::system_error(EINVAL, std::generic_category(),
                            "fusepp: cannot create a FUSE session for " + mountpoint.string() + " (options: " +
                                joined + ")");
  if (fuse_session_mount(impl_->se, mountpoint.c_str()) != 0) {
    int err = errno ? errno : EIO;
    fuse_session_destroy(impl_->se);
    impl_->se = nullptr;
    impl_->closed = true;
    throw std::system_error(err, std::generic_category(), "fusepp: cannot mount " + mountpoint.string());
  }
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
  int fd = fuse_session_fd(s.se);
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
    throw std::system_error(errno, std::generic_category(), "fusepp: making /dev/fuse non-blocking");

  s.hooks.max_tasks = options.max_tasks;
  s.hooks.on_slot_free = [&s] { s.resume_paused(); };
  unsigned threads = options.threads == 0 ? 1 : options.threads;
  s.readers.clear();
  for (unsigned i = 0; i < threads; ++i) s.readers.push_back(std::make_unique<Reader>(s));
  s.readers_running = threads;
  s.io.restart();
  for (auto& r : s.readers) asio::post(s.io, [reader = r.get()] { reader->pump(); });

  std::vector<std::thread> extra;
  for (unsigned i = 1; i < threads; ++i) extra.emplace_back([&s] { s.io.run(); });
  s.io.run();
  for (auto& t : extra) t.join();

  // Close the readers' descriptors (their dups keep the connection alive) and let the
  // aborted waits complete while the readers still exist.
  for (auto& r : s.readers) r->close_descriptor();
  s.io.restart();
  s.io.poll();
}

void Session::terminate() {
  Impl& s = *impl_;
  if (!s.se) return;
  fuse_session_exit(s.se);
  s.wake_readers();
}

void Session::close(bool unmount) {
  Impl& s = *impl_;
  std::lock_guard lock(s.state_mutex);
  if (s.closed) return;
  s.closed = true;
  s.readers.clear();
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
  if (deleted != InodeT{0})
    return fuse_lowlevel_notify_delete(se, inode_p, deleted, name.data(), name.size());
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
      std::fprintf(stderr, "fusepp: invalidate_inode(%llu) failed: %s\n",
                   static_cast<unsigned long long>(inode.value), std::strerror(-rc));
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
asio::io_context& Session::io_context() { return impl_->io; }

// ----- module functions on one process-wide session -----

namespace {
std::mutex g_session_mutex;
std::unique_ptr<Session> g_session;
}  // namespace

Session& current_session() {
  std::lock_guard lock(g_session_mutex);
  if (!g_session) throw std::logic_error("fusepp: init() was not called");
  return *g_session;
}

void init(Operations& ops, const std::filesystem::path& mountpoint, const std::set<std::string>& options) {
  std::lock_guard lock(g_session_mutex);
  if (g_session) throw std::logic_error("fusepp: init() called twice without close()");
  g_session = std::make_unique<Session>(ops, mountpoint, options);
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
