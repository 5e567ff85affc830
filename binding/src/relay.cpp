// The relay (fusepp/relay.hpp): one thread reads the kernel's requests and passes them to the
// daemon, one reads the daemon's replies and notifications and passes them to the kernel, one
// writes notifications (they may block in the kernel: the invalidation deadlock must not stop
// the relay), and each request a rule delays or holds waits on a thread of its own.
#include "fusepp/relay.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <fstream>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "observe_impl.hpp"
#include "relay_wire.hpp"

namespace fusepp {

namespace {

constexpr uint64_t kRelayUnique = uint64_t{1} << 63;  // the relay's own requests (never the kernel's)

uint64_t own_unique() {
  static std::atomic<uint64_t> next{0};
  return kRelayUnique | (next.fetch_add(1) << 1);
}

}  // namespace

// A request the daemon (or a rule) has not answered yet.
struct Pending {
  uint64_t seq = 0;
  RequestArgs args;
  ReplyOverride reply;
  bool parked = false;          // a rule holds it back: the daemon has not seen it
  bool interrupted = false;     // the kernel sent INTERRUPT for it
  std::vector<char> interrupt;  // that INTERRUPT, when it came while parked
};

struct Relay::Impl {
  Impl(int kernel_fd, int daemon_fd, Observer& observer)
      : kernel_fd(kernel_fd), daemon_fd(daemon_fd), observer(observer.impl()) {}

  int kernel_fd, daemon_fd;
  Observer::Impl& observer;
  std::atomic<bool> stopping{false};
  std::function<void(const std::string&)> on_end;
  std::once_flag ended;
  std::vector<std::thread> threads;

  std::mutex mutex;  // pending, fault_threads
  std::unordered_map<uint64_t, Pending> pending;
  struct FaultThread {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<FaultThread> fault_threads;  // finished ones are joined when the next starts

  std::mutex notify_mutex;
  std::condition_variable notify_changed;
  std::deque<std::function<void()>> notify_jobs;

  void end(const std::string& why) {
    std::call_once(ended, [&] {
      if (on_end) on_end(why);
    });
  }
  ssize_t receive(int fd, char* data, size_t size);
  ssize_t receive_reply(std::vector<char>& buffer);
  void send_to_daemon(const char* message, size_t length);
  void kernel_loop();
  void daemon_loop();
  void notify_loop();
  void on_request(char* message, size_t length);
  void on_interrupt(char* message, size_t length);
  void start_request(const wire::RequestHeader& h, char* message, size_t length);
  void start_fault_thread(std::function<void()> job);
  // A plan's notification, delay and hold; returns what the plan answers after them (0: go on).
  int wait_fault(const FaultPlan& plan, const std::function<bool()>& interrupted);
  void run_fault(uint64_t unique, std::vector<char> message, FaultPlan plan);
  void run_forget_fault(std::vector<char> message, FaultPlan plan);
  void answer(uint64_t unique, std::vector<char> reply, bool interrupted);
  void on_reply(char* message, size_t length);
  void reply_to_kernel(const Pending& p, char* message, size_t length, const ReplyFacts& facts);
  void push_notification(std::function<void()> job);
};

// One message; 0 at the end of that side (errno says why for /dev/fuse).
ssize_t Relay::Impl::receive(int fd, char* data, size_t size) {
  for (;;) {
    ssize_t n = ::read(fd, data, size);
    if (n >= 0) return n;
    if (errno != EINTR) return 0;
  }
}

// A reply the daemon spliced from more than 16 pipe buffers arrives as several datagrams
// (the kernel's splice into a socket sends one per batch of buffers): they are joined by the
// length in the reply's header.
ssize_t Relay::Impl::receive_reply(std::vector<char>& buffer) {
  ssize_t n = receive(daemon_fd, buffer.data(), buffer.size());
  if (n <= 0) return n;
  auto have = static_cast<size_t>(n);
  size_t want = std::min(wire::reply_length(buffer.data(), have), buffer.size());
  while (have < want) {
    ssize_t more = receive(daemon_fd, buffer.data() + have, want - have);
    if (more <= 0) return more;
    have += static_cast<size_t>(more);
  }
  return static_cast<ssize_t>(have);
}

void Relay::Impl::send_to_daemon(const char* message, size_t length) {
  ssize_t n = 0;
  do n = ::send(daemon_fd, message, length, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0 && !stopping.load())
    std::fprintf(stderr, "fusecheck-relay: cannot pass a request to the daemon: %s\n", strerror(errno));
}

void Relay::Impl::kernel_loop() {
  std::vector<char> buffer(max_message_size());
  for (;;) {
    ssize_t n = receive(kernel_fd, buffer.data(), buffer.size());
    if (n < 0) return;
    if (n == 0)
      return end(errno == ENODEV ? "the kernel ended the connection (unmounted or aborted)"
                                 : std::string("reading /dev/fuse failed: ") + strerror(errno));
    on_request(buffer.data(), static_cast<size_t>(n));
  }
}

void Relay::Impl::daemon_loop() {
  std::vector<char> buffer(max_message_size());
  for (;;) {
    ssize_t n = receive_reply(buffer);
    if (stopping.load()) return;
    if (n == 0) return end("the daemon closed its FUSE device");
    on_reply(buffer.data(), static_cast<size_t>(n));
  }
}

void Relay::Impl::notify_loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(notify_mutex);
      notify_changed.wait(lock, [&] { return stopping.load() || !notify_jobs.empty(); });
      if (notify_jobs.empty()) return;
      job = std::move(notify_jobs.front());
      notify_jobs.pop_front();
    }
    job();
  }
}

void Relay::Impl::push_notification(std::function<void()> job) {
  std::lock_guard lock(notify_mutex);
  notify_jobs.push_back(std::move(job));
  notify_changed.notify_one();
}

void Relay::Impl::on_request(char* message, size_t length) {
  wire::RequestHeader h;
  if (!wire::read_request_header(message, length, &h)) return;
  switch (wire::classify(h.opcode)) {
    case wire::RequestKind::passed: return send_to_daemon(message, length);
    case wire::RequestKind::interrupt: return on_interrupt(message, length);
    case wire::RequestKind::forget: {
      FaultPlan plan;
      observer.forgotten(decode_request(message, length), wire::forget_list(message, length), &plan);
      if (plan.rule == 0) return send_to_daemon(message, length);
      return start_fault_thread([this, m = std::vector<char>(message, message + length), plan]() mutable {
        run_forget_fault(std::move(m), std::move(plan));
      });
    }
    case wire::RequestKind::recorded: return start_request(h, message, length);
  }
}

// An INTERRUPT for a request a rule holds stays here (the hold ends with EINTR, or passes
// it on with the request); any other goes to the daemon.
void Relay::Impl::on_interrupt(char* message, size_t length) {
  {
    std::lock_guard lock(mutex);
    auto it = pending.find(wire::interrupt_target(message, length));
    if (it != pending.end()) {
      it->second.interrupted = true;
      if (it->second.parked) {
        it->second.interrupt.assign(message, message + length);
        return;
      }
    }
  }
  send_to_daemon(message, length);
}

void Relay::Impl::start_request(const wire::RequestHeader& h, char* message, size_t length) {
  RequestArgs args = decode_request(message, length);
  FaultPlan plan;
  uint64_t seq = observer.begin(args, &plan);
  bool waits = plan.notify || plan.delay.count() > 0 || !plan.hold.empty();
  {
    std::lock_guard lock(mutex);
    pending[h.unique] = Pending{seq, args, plan.reply, waits, false, {}};
  }
  if (waits) {
    start_fault_thread([this, unique = h.unique, m = std::vector<char>(message, message + length), plan]() mutable {
      run_fault(unique, std::move(m), std::move(plan));
    });
  } else if (plan.error != 0) {
    answer(h.unique, wire::error_reply(h.unique, plan.error), false);
  } else if (plan.negative_entry) {
    answer(h.unique, wire::negative_entry_reply(h.unique, *plan.negative_entry), false);
  } else {
    send_to_daemon(message, length);
  }
}

// Threads that finished are joined here, so a standing delay rule does not pile them up.
void Relay::Impl::start_fault_thread(std::function<void()> job) {
  std::lock_guard lock(mutex);
  std::erase_if(fault_threads, [](FaultThread& f) {
    if (!f.done->load()) return false;
    f.thread.join();
    return true;
  });
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::thread thread([done, job = std::move(job)] {
    job();
    done->store(true);
  });
  fault_threads.push_back(FaultThread{std::move(thread), done});
}

int Relay::Impl::wait_fault(const FaultPlan& plan, const std::function<bool()>& interrupted) {
  if (plan.notify) log_failed_notification(plan, write_notification(kernel_fd, *plan.notify));
  FaultWait wait(observer, plan);
  for (;;) {
    std::optional<int> outcome = wait.step(stopping.load() || interrupted());
    if (outcome) return *outcome;
    std::this_thread::sleep_for(wait.next_wait());
  }
}

// A FORGET a rule holds or delays reaches the daemon afterwards; with the rule's errno, never.
void Relay::Impl::run_forget_fault(std::vector<char> message, FaultPlan plan) {
  if (wait_fault(plan, [] { return false; }) == 0) send_to_daemon(message.data(), message.size());
}

// A rule's notification, delay and hold, on a thread of the request's own; then the rule's
// errno or negative entry, or the request goes to the daemon after all.
void Relay::Impl::run_fault(uint64_t unique, std::vector<char> message, FaultPlan plan) {
  int outcome = wait_fault(plan, [&] {
    std::lock_guard lock(mutex);
    return pending[unique].interrupted;
  });
  bool interrupted = false;
  std::vector<char> interrupt;
  {
    std::lock_guard lock(mutex);
    Pending& p = pending[unique];
    p.parked = false;
    interrupted = p.interrupted;
    interrupt.swap(p.interrupt);
  }
  if (outcome != 0) return answer(unique, wire::error_reply(unique, outcome), interrupted);
  if (plan.negative_entry) return answer(unique, wire::negative_entry_reply(unique, *plan.negative_entry), interrupted);
  send_to_daemon(message.data(), message.size());
  if (!interrupt.empty()) send_to_daemon(interrupt.data(), interrupt.size());
}

// The relay's own answer to a request the daemon never saw.
void Relay::Impl::answer(uint64_t unique, std::vector<char> reply, bool interrupted) {
  Pending p;
  {
    std::lock_guard lock(mutex);
    auto it = pending.find(unique);
    if (it == pending.end()) return;
    p = std::move(it->second);
    pending.erase(it);
  }
  ReplyFacts facts = wire::describe_reply(p.args.opcode, reply.data(), reply.size(), ReplyOverride{});
  facts.interrupted = interrupted;
  reply_to_kernel(p, reply.data(), reply.size(), facts);
}

void Relay::Impl::on_reply(char* message, size_t length) {
  uint64_t unique = wire::reply_unique(message, length);
  if (unique == 0) {  // a notification: written from the notifying thread, in order
    std::vector<char> copy(message, message + length);
    return push_notification([this, copy = std::move(copy)] { (void)!::write(kernel_fd, copy.data(), copy.size()); });
  }
  if (unique & kRelayUnique) return;  // the answer to the relay's own request
  Pending p;
  bool known = false;
  {
    std::lock_guard lock(mutex);
    auto it = pending.find(unique);
    if (it != pending.end()) {
      p = std::move(it->second);
      pending.erase(it);
      known = true;
    }
  }
  if (!known) {  // INIT, unknown opcodes, an INTERRUPT's EAGAIN
    (void)!::write(kernel_fd, message, length);
    return;
  }
  std::vector<char> negative;
  if (p.reply.negative_timeout && wire::is_lookup_enoent(p.args.opcode, message, length)) {
    negative = wire::negative_entry_reply(unique, *p.reply.negative_timeout);
    message = negative.data();
    length = negative.size();
  }
  ReplyFacts facts = wire::describe_reply(p.args.opcode, message, length, p.reply);
  facts.interrupted = p.interrupted;
  // The daemon counted a reference for each entry whose node id a rule took away: it gets
  // them back, before any LOOKUP the kernel sends for those names.
  for (uint64_t node : facts.zeroed) {
    std::vector<char> forget = wire::forget_request(own_unique(), node, 1);
    send_to_daemon(forget.data(), forget.size());
  }
  reply_to_kernel(p, message, length, facts);
}

// Records the reply before the kernel sees it (the kernel may act on it at once, e.g. FORGET
// an entry), then passes it on. A reply the kernel no longer waits for (ENOENT: the
// connection was aborted after the request was read; the kernel waits for the reply to every
// request a daemon has read, even once its caller is killed) gave the kernel nothing, though
// the daemon's own write succeeded: the balance is corrected, and the daemon gets the FORGETs
// (an entry reply's node, READDIRPLUS's entries) and RELEASE the kernel never will, as
// libfuse's high-level API does for itself when its reply fails (RELEASE first, as the kernel
// orders them).
void Relay::Impl::reply_to_kernel(const Pending& p, char* message, size_t length, const ReplyFacts& facts) {
  observer.end(p.seq, p.args, facts);
  ssize_t n = ::write(kernel_fd, message, length);
  if (n >= 0 || errno != ENOENT || facts.error != 0) return;
  if (facts.has_fh) {
    bool dir = wire::is_opendir(p.args.opcode);
    observer.open_undone(facts.fh, dir);
    uint64_t node = facts.node != 0 ? facts.node : p.args.node;  // CREATE's new node, else OPEN's
    std::vector<char> release = wire::release_request(own_unique(), dir, node, facts.fh);
    send_to_daemon(release.data(), release.size());
  }
  observer.reply_discarded(p.seq, facts);
  auto forget = [this](uint64_t node) {
    std::vector<char> request = wire::forget_request(own_unique(), node, 1);
    send_to_daemon(request.data(), request.size());
  };
  if (facts.node != 0) forget(facts.node);
  for (const auto& entry : facts.entries) forget(entry.first);
}

// ----- Relay -----

Relay::Relay(int kernel_fd, int daemon_fd, Observer& observer)
    : impl_(std::make_unique<Impl>(kernel_fd, daemon_fd, observer)) {}

Relay::~Relay() { stop(); }

void Relay::start(std::function<void(const std::string&)> on_end) {
  impl_->on_end = std::move(on_end);
  impl_->threads.emplace_back(&Impl::kernel_loop, impl_.get());
  impl_->threads.emplace_back(&Impl::daemon_loop, impl_.get());
  impl_->threads.emplace_back(&Impl::notify_loop, impl_.get());
}

void Relay::stop() {
  if (impl_->stopping.exchange(true)) return;
  ::shutdown(impl_->daemon_fd, SHUT_RDWR);  // wakes the daemon side's reader (and a blocked send)
  {
    std::lock_guard lock(impl_->notify_mutex);
    impl_->notify_changed.notify_all();
  }
  for (std::thread& t : impl_->threads) t.join();
  std::vector<Impl::FaultThread> faults;
  {
    std::lock_guard lock(impl_->mutex);
    faults.swap(impl_->fault_threads);
  }
  for (Impl::FaultThread& f : faults) f.thread.join();
}

void Relay::notify(Notification notification, std::function<void(int)> done) {
  impl_->push_notification([this, n = std::move(notification), done = std::move(done)] {
    int rc = write_notification(impl_->kernel_fd, n);
    if (done) done(rc);
  });
}

size_t Relay::max_message_size() {
  // What the kernel may send: max_pages (at most fs.fuse.max_pages_limit, 256 before kernel
  // 6.13) pages of data plus the largest request header, as libfuse sizes its buffers.
  static const size_t size = [] {
    size_t pages = 256;
    std::ifstream limit("/proc/sys/fs/fuse/max_pages_limit");
    if (size_t configured = 0; limit >> configured) pages = std::max(pages, configured);
    return pages * static_cast<size_t>(::sysconf(_SC_PAGESIZE)) + 4096;
  }();
  return size;
}

}  // namespace fusepp
