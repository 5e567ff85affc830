// Private to the binding: the Observer's state and the hooks the dispatcher calls. The request
// is decoded from the raw kernel message in the receive buffer (linux/fuse.h), so no dispatch
// callback needs to pass its arguments along; the one place that knows every opcode is here.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include "fusepp/observe.hpp"

struct fuse_session;

namespace fusepp {

inline constexpr uint64_t kRootNode = 1;  // FUSE_ROOT_ID
// FUSE_STATX (kernel 6.6, "fuse: implement statx"): newer than libfuse 3.14 and this
// system's linux/fuse.h, so libfuse never sees it: the reader hands it to ll::statx.
inline constexpr uint32_t kFuseStatx = 52;

// The arguments of one kernel request, copied out of the receive buffer.
struct RequestArgs {
  uint32_t opcode = 0;
  uint64_t node = 0;
  uint32_t uid = 0, gid = 0, pid = 0;
  std::string name, name2;
  uint64_t fh = 0;
  int64_t offset = 0;
  uint64_t size = 0;
  uint64_t link_target = 0;  // LINK: the existing node
};
RequestArgs decode_request(const void* message, size_t length);
const char* opcode_name(uint32_t opcode);

// What the matching rule (if any) asks of one request.
struct FaultPlan {
  unsigned rule = 0;
  std::optional<Notification> notify;
  std::chrono::milliseconds delay{0};
  std::string hold;
  bool ignore_interrupts = false;
  int error = 0;
  std::optional<double> negative_entry;
  ReplyOverride reply;
};

// What the reply carried, for the trace and the balance.
struct ReplyFacts {
  int error = 0;
  bool answered = true;
  uint64_t node = 0;  // entry replies
  uint64_t fh = 0;    // OPEN, OPENDIR, CREATE
  bool has_fh = false;
  std::vector<std::pair<uint64_t, std::string>> entries;  // READDIRPLUS entries taking a lookup
  // READDIRPLUS entries whose node id a rule's {ino: 0} took away (the relay): the daemon
  // counted a reference for each that the kernel never got.
  std::vector<uint64_t> zeroed;
  bool interrupted = false;
};

// Waits out a fault plan's delay and then its hold by polling, so that a coroutine (the
// dispatcher) and a thread (the relay) wait alike (observe_serve.cpp). Leaves the gate when
// destroyed.
class FaultWait {
 public:
  FaultWait(Observer::Impl& observer, const FaultPlan& plan);
  ~FaultWait();
  FaultWait(const FaultWait&) = delete;
  FaultWait& operator=(const FaultWait&) = delete;
  // nullopt: not over yet; wait next_wait() and ask again. Else what to answer instead of
  // going on (0: go on): EINTR when the caller was interrupted (unless the rule ignores
  // interrupts), else the plan's errno.
  std::optional<int> step(bool interrupted);
  std::chrono::steady_clock::duration next_wait() const;

 private:
  Observer::Impl& observer_;
  const FaultPlan& plan_;
  std::chrono::steady_clock::time_point delay_until_;
  bool holding_ = false;
  bool interrupt_counted_ = false;
  uint64_t generation_ = 0;
};
// Logs a fault rule's notification that the kernel refused (rc < 0).
void log_failed_notification(const FaultPlan& plan, int rc);

// Sends one notification; returns 0 or -errno (notify.cpp).
int send_notification(fuse_session* se, const Notification& n);
// Writes one notification straight to a /dev/fuse descriptor; 0 or -errno (relay_wire.cpp).
int write_notification(int fd, const Notification& n);

struct Observer::Impl {
  explicit Impl(size_t capacity) : capacity(capacity ? capacity : 1) {}

  // ----- hooks for the dispatcher -----
  // Records the request's start and returns its seq; fills plan when a rule matches.
  uint64_t begin(const RequestArgs& args, FaultPlan* plan);
  void end(uint64_t seq, const RequestArgs& args, const ReplyFacts& reply);
  // Records a FORGET/BATCH_FORGET (and counts it in the balance at once: the kernel has let
  // go); fills plan when a rule matches, whose hold, delay or errno then applies to the
  // filesystem's handler (an errno: the handler never runs, as if the FORGET were lost).
  void forgotten(const RequestArgs& args, const std::vector<std::pair<uint64_t, uint64_t>>& list,
                 FaultPlan* plan = nullptr);
  // The binding undid what the kernel never received (an interrupted request's reply).
  void entry_undone(uint64_t node);
  // A reply end() recorded that the kernel then discarded (its caller was interrupted): the
  // record says so, and the references its entries granted are taken back. Entries are
  // granted before the reply is written, as the kernel may forget them at once.
  void reply_discarded(uint64_t seq, const ReplyFacts& reply);
  void open_undone(uint64_t fh, bool dir);
  void connection_ended();  // see Observer::connection_ended
  // Gates: enter returns the generation to wait past.
  uint64_t hold_enter(const std::string& gate);
  bool hold_released(const std::string& gate, uint64_t generation);
  void hold_interrupted(const std::string& gate);  // once per held request, when INTERRUPT came
  void hold_leave(const std::string& gate, bool interrupted);

  std::atomic<fuse_session*> session{nullptr};  // for notify actions

  // ----- state, under mutex -----
  struct Rule {
    unsigned id;
    FaultRule rule;
    unsigned matched = 0;
    unsigned hits = 0;
  };
  struct Gate {
    uint64_t generation = 0;
    size_t held = 0;
    size_t interrupted = 0;  // of those held, the ones the kernel sent INTERRUPT for
  };
  struct Counts {
    uint64_t lookups = 0, forgets = 0;
  };
  size_t capacity;
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::deque<TraceRecord> records;  // seq == records.front().seq + index
  uint64_t next_seq = 1;
  int64_t last_activity_ns = 0;
  std::vector<Rule> rules;
  unsigned next_rule = 1;
  std::map<std::string, Gate> gates;
  std::unordered_map<uint64_t, std::string> paths{{kRootNode, "/"}};
  std::map<uint64_t, Counts> counts;
  std::vector<std::string> problems;
  std::map<std::pair<bool, uint64_t>, uint64_t> open_handles;  // (dir, fh) -> opens not released
  std::function<std::optional<uint64_t>(uint64_t)> count_source;

  std::string path_of(uint64_t node) const;     // "" when unknown
  std::string node_label(uint64_t node) const;  // "node 5 (/a/b)"; under mutex
  // Problems of a FORGET the filesystem's own count cannot cover; takes the mutex itself.
  std::vector<std::string> short_counts(const std::vector<std::pair<uint64_t, uint64_t>>& list);
  std::string request_path(const RequestArgs& args) const;
  bool matches(const FaultRule& rule, const RequestArgs& args, const std::string& path) const;
  // The first rule that acts on this request (counting its occurrence), copied into plan;
  // returns its id, 0 for none. Under mutex.
  unsigned choose_rule(const RequestArgs& args, const std::string& path, FaultPlan* plan);
  TraceRecord* record(uint64_t seq);
  void rename_paths(const std::string& from, const std::string& to);
  void grant(uint64_t node, uint64_t n);
  void take_back(uint64_t node);  // one reference the kernel never got (mutex held)
  void release_handle(uint64_t fh, bool dir, const char* op);
};

}  // namespace fusepp
