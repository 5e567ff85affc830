// The Observer: request decoding from the raw kernel message, the bounded trace, fault-rule
// matching, hold gates, and the wire-level balance of lookups/forgets and opens/releases.
// Every method takes one mutex; the dispatcher only calls in while an Observer is attached.
#include <linux/fuse.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "observe_impl.hpp"

namespace fusepp {

namespace {

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Reads a struct T at the start of the payload and returns what follows it.
template <class T>
const char* take(const char* p, const char* end, T* out, size_t size = sizeof(T)) {
  if (p == nullptr || static_cast<size_t>(end - p) < size) return nullptr;
  std::memcpy(out, p, std::min(size, sizeof(T)));
  return p + size;
}

std::string take_string(const char*& p, const char* end) {
  if (p == nullptr || p >= end) return {};
  const char* nul = static_cast<const char*>(std::memchr(p, '\0', static_cast<size_t>(end - p)));
  const char* stop = nul ? nul : end;
  std::string s(p, stop);
  p = nul ? nul + 1 : end;
  return s;
}

bool is_name_op(uint32_t op) {
  switch (op) {
    case FUSE_LOOKUP:
    case FUSE_MKNOD:
    case FUSE_MKDIR:
    case FUSE_UNLINK:
    case FUSE_RMDIR:
    case FUSE_SYMLINK:
    case FUSE_RENAME:
    case FUSE_RENAME2:
    case FUSE_LINK:
    case FUSE_CREATE: return true;
    default: return false;
  }
}

bool is_entry_op(uint32_t op) {
  return op == FUSE_LOOKUP || op == FUSE_MKNOD || op == FUSE_MKDIR || op == FUSE_SYMLINK || op == FUSE_LINK ||
         op == FUSE_CREATE;
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return {};
  return dir == "/" ? "/" + name : dir + "/" + name;
}

}  // namespace

const char* opcode_name(uint32_t opcode) {
  switch (opcode) {
    case FUSE_LOOKUP: return "LOOKUP";
    case FUSE_FORGET: return "FORGET";
    case FUSE_GETATTR: return "GETATTR";
    case FUSE_SETATTR: return "SETATTR";
    case FUSE_READLINK: return "READLINK";
    case FUSE_SYMLINK: return "SYMLINK";
    case FUSE_MKNOD: return "MKNOD";
    case FUSE_MKDIR: return "MKDIR";
    case FUSE_UNLINK: return "UNLINK";
    case FUSE_RMDIR: return "RMDIR";
    case FUSE_RENAME: return "RENAME";
    case FUSE_LINK: return "LINK";
    case FUSE_OPEN: return "OPEN";
    case FUSE_READ: return "READ";
    case FUSE_WRITE: return "WRITE";
    case FUSE_STATFS: return "STATFS";
    case FUSE_RELEASE: return "RELEASE";
    case FUSE_FSYNC: return "FSYNC";
    case FUSE_SETXATTR: return "SETXATTR";
    case FUSE_GETXATTR: return "GETXATTR";
    case FUSE_LISTXATTR: return "LISTXATTR";
    case FUSE_REMOVEXATTR: return "REMOVEXATTR";
    case FUSE_FLUSH: return "FLUSH";
    case FUSE_INIT: return "INIT";
    case FUSE_OPENDIR: return "OPENDIR";
    case FUSE_READDIR: return "READDIR";
    case FUSE_RELEASEDIR: return "RELEASEDIR";
    case FUSE_FSYNCDIR: return "FSYNCDIR";
    case FUSE_GETLK: return "GETLK";
    case FUSE_SETLK: return "SETLK";
    case FUSE_SETLKW: return "SETLKW";
    case FUSE_ACCESS: return "ACCESS";
    case FUSE_CREATE: return "CREATE";
    case FUSE_INTERRUPT: return "INTERRUPT";
    case FUSE_IOCTL: return "IOCTL";
    case FUSE_POLL: return "POLL";
    case FUSE_BATCH_FORGET: return "BATCH_FORGET";
    case FUSE_FALLOCATE: return "FALLOCATE";
    case FUSE_READDIRPLUS: return "READDIRPLUS";
    case FUSE_RENAME2: return "RENAME2";
    case FUSE_LSEEK: return "LSEEK";
    case FUSE_COPY_FILE_RANGE: return "COPY_FILE_RANGE";
    case kFuseStatx: return "STATX";
    default: return "UNKNOWN";
  }
}

RequestArgs decode_request(const void* message, size_t length) {
  RequestArgs a;
  fuse_in_header h{};
  const char* p = static_cast<const char*>(message);
  const char* end = p + length;
  p = take(p, end, &h);
  if (!p) return a;
  a.opcode = h.opcode;
  a.node = h.nodeid;
  a.uid = h.uid;
  a.gid = h.gid;
  a.pid = h.pid;
  switch (h.opcode) {
    case FUSE_LOOKUP:
    case FUSE_UNLINK:
    case FUSE_RMDIR:
    case FUSE_REMOVEXATTR: a.name = take_string(p, end); break;
    case FUSE_SYMLINK:
      a.name = take_string(p, end);
      a.name2 = take_string(p, end);
      break;
    case FUSE_MKNOD: {
      fuse_mknod_in in{};
      p = take(p, end, &in);
      a.name = take_string(p, end);
      break;
    }
    case FUSE_MKDIR: {
      fuse_mkdir_in in{};
      p = take(p, end, &in);
      a.name = take_string(p, end);
      break;
    }
    case FUSE_RENAME:
    case FUSE_RENAME2: {
      fuse_rename2_in in{};
      p = take(p, end, &in, h.opcode == FUSE_RENAME ? sizeof(fuse_rename_in) : sizeof(fuse_rename2_in));
      a.link_target = in.newdir;
      a.name = take_string(p, end);
      a.name2 = take_string(p, end);
      break;
    }
    case FUSE_LINK: {
      fuse_link_in in{};
      p = take(p, end, &in);
      a.link_target = in.oldnodeid;
      a.name = take_string(p, end);
      break;
    }
    case FUSE_CREATE: {
      fuse_create_in in{};
      p = take(p, end, &in);
      a.name = take_string(p, end);
      break;
    }
    case FUSE_SETXATTR: {
      // libfuse 3.14 never asks for FUSE_SETXATTR_EXT, so the short form arrives.
      fuse_setxattr_in in{};
      p = take(p, end, &in, FUSE_COMPAT_SETXATTR_IN_SIZE);
      a.size = in.size;
      a.name = take_string(p, end);
      break;
    }
    case FUSE_GETXATTR: {
      fuse_getxattr_in in{};
      p = take(p, end, &in);
      a.size = in.size;
      a.name = take_string(p, end);
      break;
    }
    case FUSE_GETATTR:
    case kFuseStatx: {
      // struct fuse_statx_in begins like fuse_getattr_in (flags, padding, fh); its sx_flags
      // and sx_mask follow, which the trace does not keep.
      fuse_getattr_in in{};
      take(p, end, &in);
      if (in.getattr_flags & FUSE_GETATTR_FH) a.fh = in.fh;
      break;
    }
    case FUSE_SETATTR: {
      fuse_setattr_in in{};
      take(p, end, &in);
      if (in.valid & FATTR_FH) a.fh = in.fh;
      if (in.valid & FATTR_SIZE) a.size = in.size;
      break;
    }
    case FUSE_READ:
    case FUSE_READDIR:
    case FUSE_READDIRPLUS: {
      fuse_read_in in{};
      take(p, end, &in);
      a.fh = in.fh;
      a.offset = static_cast<int64_t>(in.offset);
      a.size = in.size;
      break;
    }
    case FUSE_WRITE: {
      fuse_write_in in{};
      take(p, end, &in);
      a.fh = in.fh;
      a.offset = static_cast<int64_t>(in.offset);
      a.size = in.size;
      break;
    }
    case FUSE_RELEASE:
    case FUSE_RELEASEDIR: {
      fuse_release_in in{};
      take(p, end, &in);
      a.fh = in.fh;
      break;
    }
    case FUSE_FLUSH: {
      fuse_flush_in in{};
      take(p, end, &in);
      a.fh = in.fh;
      break;
    }
    case FUSE_FSYNC:
    case FUSE_FSYNCDIR: {
      fuse_fsync_in in{};
      take(p, end, &in);
      a.fh = in.fh;
      break;
    }
    case FUSE_FALLOCATE: {
      fuse_fallocate_in in{};
      take(p, end, &in);
      a.fh = in.fh;
      a.offset = static_cast<int64_t>(in.offset);
      a.size = in.length;
      break;
    }
    case FUSE_LSEEK: {
      fuse_lseek_in in{};
      take(p, end, &in);
      a.fh = in.fh;
      a.offset = static_cast<int64_t>(in.offset);
      break;
    }
    case FUSE_FORGET: {
      fuse_forget_in in{};
      take(p, end, &in);
      a.size = in.nlookup;
      break;
    }
    default: break;
  }
  return a;
}

const char* to_string(Notification::Kind kind) {
  switch (kind) {
    case Notification::Kind::inval_entry: return "inval_entry";
    case Notification::Kind::inval_inode: return "inval_inode";
    case Notification::Kind::expire_entry: return "expire_entry";
    case Notification::Kind::delete_entry: return "delete";
    case Notification::Kind::store: return "store";
  }
  return "?";
}

std::optional<Notification::Kind> notification_kind(std::string_view name) {
  for (auto k : {Notification::Kind::inval_entry, Notification::Kind::inval_inode, Notification::Kind::expire_entry,
                 Notification::Kind::delete_entry, Notification::Kind::store})
    if (name == to_string(k)) return k;
  return std::nullopt;
}

bool ReplyOverride::empty() const {
  return !mode && !size && !ino && !generation && !mtime_ns && !entry_timeout && !attr_timeout && !keep_cache &&
         !direct_io && !negative_timeout;
}

std::string BalanceReport::describe() const {
  std::string out;
  for (const auto& p : problems) out += p + "\n";
  for (const auto& o : outstanding) out += o + "\n";
  return out;
}

// ----- Observer::Impl -----

std::string Observer::Impl::path_of(uint64_t node) const {
  auto it = paths.find(node);
  return it == paths.end() ? std::string() : it->second;
}

std::string Observer::Impl::request_path(const RequestArgs& args) const {
  return is_name_op(args.opcode) ? join_path(path_of(args.node), args.name) : path_of(args.node);
}

bool Observer::Impl::matches(const FaultRule& rule, const RequestArgs& args, const std::string& path) const {
  if (!rule.op.empty() && rule.op != opcode_name(args.opcode)) return false;
  if (rule.node && *rule.node != args.node) return false;
  if (rule.name && *rule.name != args.name) return false;
  if (rule.path && *rule.path != path) return false;
  return true;
}

unsigned Observer::Impl::choose_rule(const RequestArgs& args, const std::string& path, FaultPlan* plan) {
  for (Rule& rule : rules) {
    if (!matches(rule.rule, args, path)) continue;
    ++rule.matched;
    if (rule.rule.nth != 0 && rule.matched < rule.rule.nth) continue;
    if (rule.rule.times != 0 && rule.hits >= rule.rule.times) continue;
    ++rule.hits;
    const FaultRule& f = rule.rule;
    *plan = FaultPlan{rule.id, f.notify, f.delay, f.hold, f.ignore_interrupts, f.error, f.negative_entry, f.reply};
    return rule.id;  // the first rule that acts wins; later ones do not count this request
  }
  return 0;
}

TraceRecord* Observer::Impl::record(uint64_t seq) {
  if (records.empty() || seq < records.front().seq) return nullptr;
  size_t index = seq - records.front().seq;
  return index < records.size() ? &records[index] : nullptr;
}

uint64_t Observer::Impl::begin(const RequestArgs& args, FaultPlan* plan) {
  std::lock_guard lock(mutex);
  TraceRecord r;
  r.seq = next_seq++;
  r.op = opcode_name(args.opcode);
  r.node = args.node;
  r.path = request_path(args);
  r.name = args.name;
  r.name2 = args.name2;
  r.fh = args.fh;
  r.offset = args.offset;
  r.size = args.size;
  r.pid = static_cast<pid_t>(args.pid);
  r.uid = args.uid;
  r.gid = args.gid;
  r.start_ns = last_activity_ns = monotonic_ns();
  if (plan) r.rule = choose_rule(args, r.path, plan);
  records.push_back(std::move(r));
  if (records.size() > capacity) records.pop_front();
  changed.notify_all();
  return next_seq - 1;
}

void Observer::Impl::grant(uint64_t node, uint64_t n) {
  if (node != 0 && node != kRootNode) counts[node].lookups += n;
}

void Observer::Impl::release_handle(uint64_t fh, bool dir, const char* op) {
  auto it = open_handles.find({dir, fh});
  if (it == open_handles.end() || it->second == 0) {
    problems.push_back(std::string(op) + " of handle " + std::to_string(fh) + " that is not open");
    return;
  }
  if (--it->second == 0) open_handles.erase(it);
}

void Observer::Impl::rename_paths(const std::string& from, const std::string& to) {
  if (from.empty() || to.empty()) return;
  for (auto& [node, path] : paths) {
    if (path == from)
      path = to;
    else if (path.size() > from.size() && path.compare(0, from.size(), from) == 0 && path[from.size()] == '/')
      path = to + path.substr(from.size());
  }
}

void Observer::Impl::end(uint64_t seq, const RequestArgs& args, const ReplyFacts& reply) {
  std::lock_guard lock(mutex);
  if (TraceRecord* r = record(seq)) {
    r->answered = reply.answered;
    r->error = reply.error;
    r->reply_node = reply.node;
    r->entries = static_cast<unsigned>(reply.entries.size());
    r->interrupted = reply.interrupted;
    r->end_ns = monotonic_ns();
  }
  last_activity_ns = monotonic_ns();
  changed.notify_all();
  if (!reply.answered) return;
  uint32_t op = args.opcode;
  if (op == FUSE_RELEASE || op == FUSE_RELEASEDIR) release_handle(args.fh, op == FUSE_RELEASEDIR, opcode_name(op));
  if (reply.error != 0) return;
  if (is_entry_op(op) && reply.node != 0) {
    grant(reply.node, 1);
    std::string path = join_path(path_of(args.node), args.name);  // LINK's node is the new parent
    if (!path.empty()) paths[reply.node] = path;
  }
  if (reply.has_fh) ++open_handles[{op == FUSE_OPENDIR, reply.fh}];
  for (const auto& [node, name] : reply.entries) {
    grant(node, 1);
    std::string path = join_path(path_of(args.node), name);
    if (!path.empty()) paths[node] = path;
  }
  if (op == FUSE_RENAME || op == FUSE_RENAME2)
    rename_paths(join_path(path_of(args.node), args.name), join_path(path_of(args.link_target), args.name2));
}

// A filesystem that reports its counts must hold at least what the kernel forgets: the
// references it never counted show here, at the FORGET, whenever the kernel lets go of them.
// Asked before the handler runs and outside the lock (the callback takes the filesystem's).
std::vector<std::string> Observer::Impl::short_counts(const std::vector<std::pair<uint64_t, uint64_t>>& list) {
  std::function<std::optional<uint64_t>(uint64_t)> source;
  {
    std::lock_guard lock(mutex);
    source = count_source;
  }
  std::vector<std::string> found;
  if (!source) return found;
  for (const auto& [node, n] : list) {
    std::optional<uint64_t> counted = source(node);
    if (!counted || *counted >= n) continue;
    std::lock_guard lock(mutex);
    found.push_back(node_label(node) + ": the kernel forgot " + std::to_string(n) +
                    " reference(s), the filesystem counted " + std::to_string(*counted));
  }
  return found;
}

std::string Observer::Impl::node_label(uint64_t node) const {
  std::string path = path_of(node);
  return "node " + std::to_string(node) + " (" + (path.empty() ? "?" : path) + ")";
}

void Observer::Impl::forgotten(const RequestArgs& args, const std::vector<std::pair<uint64_t, uint64_t>>& list,
                               FaultPlan* plan) {
  std::vector<std::string> short_of_forgets = short_counts(list);
  std::lock_guard lock(mutex);
  problems.insert(problems.end(), short_of_forgets.begin(), short_of_forgets.end());
  TraceRecord r;
  r.seq = next_seq++;
  r.op = opcode_name(args.opcode);
  r.node = list.empty() ? 0 : list.front().first;
  r.path = path_of(r.node);
  r.forgets = list;
  for (const auto& [node, n] : list) {
    r.nlookup += n;
    Counts& c = counts[node];
    c.forgets += n;
    if (c.forgets > c.lookups)
      problems.push_back("node " + std::to_string(node) + " (" + path_of(node) + "): forgotten " +
                         std::to_string(c.forgets) + " times but looked up " + std::to_string(c.lookups));
  }
  r.pid = static_cast<pid_t>(args.pid);
  r.start_ns = r.end_ns = last_activity_ns = monotonic_ns();
  if (plan) {
    RequestArgs first = args;  // a BATCH_FORGET's header names no node: match its first
    first.node = r.node;
    r.rule = choose_rule(first, r.path, plan);
  }
  records.push_back(std::move(r));
  if (records.size() > capacity) records.pop_front();
  changed.notify_all();
}

void Observer::Impl::entry_undone(uint64_t node) {
  std::lock_guard lock(mutex);
  take_back(node);
}

void Observer::Impl::take_back(uint64_t node) {
  auto it = counts.find(node);
  if (it != counts.end() && it->second.lookups > 0) --it->second.lookups;
}

void Observer::Impl::reply_discarded(uint64_t seq, const ReplyFacts& reply) {
  std::lock_guard lock(mutex);
  if (TraceRecord* r = record(seq)) r->interrupted = true;
  if (reply.node != 0) take_back(reply.node);
  for (const auto& entry : reply.entries) take_back(entry.first);
}

void Observer::Impl::open_undone(uint64_t fh, bool dir) {
  std::lock_guard lock(mutex);
  auto it = open_handles.find({dir, fh});
  if (it != open_handles.end() && --it->second == 0) open_handles.erase(it);
}

uint64_t Observer::Impl::hold_enter(const std::string& gate) {
  std::lock_guard lock(mutex);
  Gate& g = gates[gate];
  ++g.held;
  changed.notify_all();
  return g.generation;
}

bool Observer::Impl::hold_released(const std::string& gate, uint64_t generation) {
  std::lock_guard lock(mutex);
  return gates[gate].generation != generation;
}

void Observer::Impl::hold_interrupted(const std::string& gate) {
  std::lock_guard lock(mutex);
  ++gates[gate].interrupted;
  changed.notify_all();
}

void Observer::Impl::hold_leave(const std::string& gate, bool interrupted) {
  std::lock_guard lock(mutex);
  Gate& g = gates[gate];
  if (g.held > 0) --g.held;
  if (interrupted && g.interrupted > 0) --g.interrupted;
  changed.notify_all();
}

// ----- Observer -----

Observer::Observer(size_t trace_capacity) : impl_(std::make_unique<Impl>(trace_capacity)) {}
Observer::~Observer() = default;

uint64_t Observer::mark() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->next_seq;
}

std::vector<TraceRecord> Observer::trace(uint64_t since) const {
  std::lock_guard lock(impl_->mutex);
  std::vector<TraceRecord> out;
  for (const TraceRecord& r : impl_->records)
    if (r.seq >= since) out.push_back(r);
  return out;
}

bool Observer::wait_quiet(std::chrono::milliseconds quiet, std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int64_t called_ns = monotonic_ns();  // quiet counts from now at the earliest
  std::unique_lock lock(impl_->mutex);
  for (;;) {
    int64_t idle_ns = monotonic_ns() - std::max(impl_->last_activity_ns, called_ns);
    auto left = quiet - std::chrono::nanoseconds(idle_ns);
    if (left <= std::chrono::nanoseconds(0)) return true;
    if (std::chrono::steady_clock::now() + left > deadline) return false;
    impl_->changed.wait_for(lock, left);
  }
}

unsigned Observer::add_rule(FaultRule rule) {
  std::lock_guard lock(impl_->mutex);
  unsigned id = impl_->next_rule++;
  impl_->rules.push_back(Impl::Rule{id, std::move(rule)});
  return id;
}

bool Observer::remove_rule(unsigned id) {
  std::lock_guard lock(impl_->mutex);
  return std::erase_if(impl_->rules, [id](const Impl::Rule& r) { return r.id == id; }) != 0;
}

void Observer::clear_rules() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->rules.clear();
  }
  release_all();
}

unsigned Observer::rule_hits(unsigned id) const {
  std::lock_guard lock(impl_->mutex);
  for (const auto& r : impl_->rules)
    if (r.id == id) return r.hits;
  return 0;
}

void Observer::release(const std::string& gate) {
  std::lock_guard lock(impl_->mutex);
  ++impl_->gates[gate].generation;
  impl_->changed.notify_all();
}

void Observer::release_all() {
  std::lock_guard lock(impl_->mutex);
  for (auto& [name, g] : impl_->gates) ++g.generation;
  impl_->changed.notify_all();
}

namespace {
size_t held_at(const std::map<std::string, Observer::Impl::Gate>& gates, const std::string& gate, bool interrupted) {
  auto it = gates.find(gate);
  if (it == gates.end()) return 0;
  return interrupted ? it->second.interrupted : it->second.held;
}
}  // namespace

size_t Observer::held(const std::string& gate, bool interrupted) const {
  std::lock_guard lock(impl_->mutex);
  return held_at(impl_->gates, gate, interrupted);
}

bool Observer::wait_held(const std::string& gate, size_t count, std::chrono::milliseconds timeout,
                         bool interrupted) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] { return held_at(impl_->gates, gate, interrupted) >= count; });
}

std::optional<uint64_t> Observer::node_of(const std::string& path) const {
  std::lock_guard lock(impl_->mutex);
  for (const auto& [node, p] : impl_->paths)
    if (p == path) return node;
  return std::nullopt;
}

void Observer::set_lookup_count_source(std::function<std::optional<uint64_t>(uint64_t)> source) {
  std::lock_guard lock(impl_->mutex);
  impl_->count_source = std::move(source);
}

void Observer::Impl::connection_ended() {
  std::function<std::optional<uint64_t>(uint64_t)> source;
  std::vector<std::pair<uint64_t, uint64_t>> held;  // node, references the kernel held
  {
    std::lock_guard lock(mutex);
    source = count_source;
    for (const auto& [node, c] : counts) held.emplace_back(node, c.lookups > c.forgets ? c.lookups - c.forgets : 0);
  }
  std::vector<std::pair<uint64_t, std::string>> differing;
  if (source)
    for (const auto& [node, n] : held)
      if (std::optional<uint64_t> counted = source(node); counted && *counted != n)
        differing.emplace_back(node, "the filesystem counts " + std::to_string(*counted) +
                                         " reference(s), the kernel held " + std::to_string(n));
  std::lock_guard lock(mutex);
  for (const auto& [node, what] : differing)
    problems.push_back("at the end of the connection: " + node_label(node) + ": " + what);
  for (auto& [node, c] : counts) c.forgets = std::max(c.forgets, c.lookups);
  last_activity_ns = monotonic_ns();
  changed.notify_all();
}

void Observer::connection_ended() { impl_->connection_ended(); }

BalanceReport Observer::lookup_balance() const {
  std::function<std::optional<uint64_t>(uint64_t)> source;
  BalanceReport report;
  {
    std::lock_guard lock(impl_->mutex);
    source = impl_->count_source;
    report.problems = impl_->problems;
    for (const auto& [node, c] : impl_->counts)
      report.nodes.push_back(NodeBalance{node, impl_->path_of(node), c.lookups, c.forgets, std::nullopt});
    for (const auto& [key, n] : impl_->open_handles)
      report.outstanding.push_back(std::string(key.first ? "directory" : "file") + " handle " +
                                   std::to_string(key.second) + " opened " + std::to_string(n) +
                                   " time(s) more than released");
  }
  // The filesystem's count is asked outside the lock: its callback may take its own.
  for (NodeBalance& n : report.nodes) {
    std::string what = "node " + std::to_string(n.node) + " (" + (n.path.empty() ? "?" : n.path) + ")";
    uint64_t held = n.lookups > n.forgets ? n.lookups - n.forgets : 0;
    if (held != 0)
      report.outstanding.push_back(what + ": " + std::to_string(held) + " reference(s) never forgotten (" +
                                   std::to_string(n.lookups) + " lookups, " + std::to_string(n.forgets) + " forgets)");
    if (source) n.fs_count = source(n.node);
    if (n.fs_count && *n.fs_count != held)
      report.problems.push_back(what + ": the filesystem counts " + std::to_string(*n.fs_count) +
                                " reference(s), the kernel holds " + std::to_string(held));
  }
  return report;
}

}  // namespace fusepp
