// fusepp::Observer: the one observation and fault point of the dispatcher. Attached to a
// Session it records every request and its reply into a bounded trace, applies fault rules
// before a handler runs, and keeps the kernel's lookup and open-handle balance as seen on
// the wire. Detached (the default), the dispatcher pays one pointer test per request.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace fusepp {

// One request and its reply. Op names are the kernel's opcode names (LOOKUP, GETATTR,
// READDIRPLUS, BATCH_FORGET...); ids are the kernel's node ids.
struct TraceRecord {
  uint64_t seq = 0;  // 1, 2, ... in arrival order
  std::string op;
  uint64_t node = 0;  // the request's node id (a name op's parent)
  std::string path;   // path of the node or, for a name op, of the name ("" unknown)
  std::string name;   // name argument (RENAME: old name; LINK: new name)
  std::string name2;  // RENAME's new name, SYMLINK's target
  uint64_t fh = 0;
  int64_t offset = 0;
  uint64_t size = 0;                                   // READ/WRITE/READDIR size, SETATTR's new size
  uint64_t nlookup = 0;                                // FORGET/BATCH_FORGET: references dropped (all pairs summed)
  std::vector<std::pair<uint64_t, uint64_t>> forgets;  // BATCH_FORGET's (node, nlookup) pairs
  pid_t pid = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool answered = false;     // a reply was sent (FORGET never gets one)
  int error = 0;             // 0: success; else the errno answered
  uint64_t reply_node = 0;   // an entry reply's node id (0: negative entry)
  unsigned entries = 0;      // READDIRPLUS entries that took a lookup
  unsigned rule = 0;         // the fault rule applied, 0 for none
  bool interrupted = false;  // the kernel sent INTERRUPT for it before it was answered
  int64_t start_ns = 0;      // CLOCK_MONOTONIC
  int64_t end_ns = 0;
};

// A kernel notification, sent from a test, the control channel or a fault rule.
struct Notification {
  enum class Kind { inval_entry, inval_inode, expire_entry, delete_entry, store };
  Kind kind = Kind::inval_entry;
  uint64_t node = 0;   // parent for entry kinds; the inode for inval_inode and store
  std::string name;    // entry kinds
  uint64_t child = 0;  // delete_entry: the deleted node
  int64_t offset = 0;  // inval_inode (with length; length -1 = attributes only), store
  int64_t length = 0;
  std::string data;  // store
};
// "inval_entry", "inval_inode", "expire_entry", "delete", "store" (one home for the names).
const char* to_string(Notification::Kind kind);
std::optional<Notification::Kind> notification_kind(std::string_view name);

// Changes a fault rule makes to the handler's successful reply (every field optional).
struct ReplyOverride {
  std::optional<uint32_t> mode;  // whole st_mode, file type included
  std::optional<int64_t> size;
  // st_ino and, for entry replies, the node id. READDIRPLUS takes only 0: every entry but . and
  // .. goes out with node id 0 (the kernel instantiates none of them; d_ino stays).
  std::optional<uint64_t> ino;
  std::optional<uint64_t> generation;
  std::optional<int64_t> mtime_ns;  // st_mtime, nanoseconds since the epoch
  std::optional<double> entry_timeout;
  std::optional<double> attr_timeout;
  std::optional<bool> keep_cache;  // OPEN/CREATE
  std::optional<bool> direct_io;
  // A LOOKUP the handler answered ENOENT gets a negative entry (node id 0) cached this long.
  std::optional<double> negative_timeout;
  bool empty() const;
};

// What a rule matches and what it does. The matching requests are counted; the rule acts on
// the nth of them (nth = 0: from the first on) and then on the following ones until it has
// acted `times` times (0: on every one). "The 2nd GETATTR of /f": {op GETATTR, path "/f",
// nth 2, times 1}. "Every LOOKUP of g": {op LOOKUP, name "g"}. "The next 3": times 3.
struct FaultRule {
  std::string op;                   // kernel opcode name; empty: any
  std::optional<uint64_t> node;     // the request's node id
  std::optional<std::string> path;  // the request's path (a name op: the name's path)
  std::optional<std::string> name;  // the name argument
  unsigned nth = 0;
  unsigned times = 0;
  // Actions, applied in this order before the handler runs:
  std::optional<Notification> notify;  // sent synchronously from the serving thread
  std::chrono::milliseconds delay{0};
  std::string hold;                      // a gate name: wait until Observer::release(gate)
  bool ignore_interrupts = false;        // delay/hold do not end early with EINTR
  int error = 0;                         // answer this errno; the handler never runs
  std::optional<double> negative_entry;  // LOOKUP: answer a negative entry (this timeout)
  ReplyOverride reply;                   // applied to the handler's reply
};

// The kernel's references as seen on the wire, per node, and the open handles.
struct NodeBalance {
  uint64_t node = 0;
  std::string path;
  uint64_t lookups = 0;              // entry replies and READDIRPLUS entries that took a reference
  uint64_t forgets = 0;              // nlookup of FORGET/BATCH_FORGET
  std::optional<uint64_t> fs_count;  // what the filesystem says it holds, when it tells
};
struct BalanceReport {
  std::vector<NodeBalance> nodes;
  // Always wrong: a forget beyond the references given (underflow), a filesystem count that
  // differs from the wire's, a RELEASE of a handle never opened or released twice.
  std::vector<std::string> problems;
  // Wrong once settled (caches dropped, unmounted): references and handles still held.
  std::vector<std::string> outstanding;
  bool ok(bool settled = true) const { return problems.empty() && (!settled || outstanding.empty()); }
  std::string describe() const;  // one line per problem and outstanding item
};

class Observer {
 public:
  explicit Observer(size_t trace_capacity = 65536);
  ~Observer();
  Observer(const Observer&) = delete;
  Observer& operator=(const Observer&) = delete;

  // Sequence number the next request will get: trace(mark()) later returns what came after.
  uint64_t mark() const;
  // Records with seq >= since (those still in the bounded buffer), in order.
  std::vector<TraceRecord> trace(uint64_t since = 0) const;
  // Waits until no request started or ended for `quiet`, counted from the call at the
  // earliest (e.g. for the FORGETs after drop_caches). False at the timeout.
  bool wait_quiet(std::chrono::milliseconds quiet, std::chrono::milliseconds timeout) const;

  unsigned add_rule(FaultRule rule);  // returns the rule's id (never 0)
  bool remove_rule(unsigned id);
  void clear_rules();
  // How often the rule acted so far.
  unsigned rule_hits(unsigned id) const;

  // Lets every request held at gate now go on; later ones hold again while a rule says so.
  void release(const std::string& gate);
  void release_all();  // every gate (also done by clear_rules)
  // Requests waiting at gate now; `interrupted`: only those whose caller the kernel has sent
  // an INTERRUPT for (a rule that ignores interrupts keeps them held).
  size_t held(const std::string& gate, bool interrupted = false) const;
  bool wait_held(const std::string& gate, size_t count, std::chrono::milliseconds timeout,
                 bool interrupted = false) const;

  // The node id last seen on the wire for path ("/" is the root), if any.
  std::optional<uint64_t> node_of(const std::string& path) const;

  // A filesystem that counts its lookups itself may tell: lookup_balance() then compares,
  // and so does every FORGET (the filesystem must hold at least what the kernel forgets) and
  // the end of the connection (it must hold exactly what the kernel held).
  void set_lookup_count_source(std::function<std::optional<uint64_t>(uint64_t node)> source);
  BalanceReport lookup_balance() const;
  // The kernel's connection ended (unmounted or aborted). The kernel sends no FORGET for the
  // references it still holds then (6.18: 0 FORGETs with 20 references held), so the
  // filesystem must treat the end as forgetting all of them, and so does the balance: the
  // filesystem's counts are compared one last time, then every reference counts as
  // forgotten. Handles still open stay outstanding. A Session calls it when reading
  // /dev/fuse gives ENODEV; the trace and the rules go on into a next mount.
  void connection_ended();

  struct Impl;  // the binding's side (binding/src/observe_impl.hpp)
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace fusepp
