// The FUSE wire format as the relay needs it (see relay_wire.hpp), and kernel notifications
// written straight to a /dev/fuse descriptor (write_notification), which needs no libfuse
// session: the relay's notifications and fusepp's expire_entry (libfuse 3.14 has none) use it.
#include "relay_wire.hpp"

#include <linux/fuse.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace fusepp::wire {

namespace {

template <class T>
bool read_at(const char* message, size_t length, size_t offset, T* out) {
  if (length < offset + sizeof(T)) return false;
  std::memcpy(out, message + offset, sizeof(T));
  return true;
}

template <class T>
void write_at(char* message, size_t offset, const T& value) {
  std::memcpy(message + offset, &value, sizeof(T));
}

constexpr size_t kIn = sizeof(fuse_in_header);
constexpr size_t kOut = sizeof(fuse_out_header);

void change_attr(fuse_attr& attr, const ReplyOverride& o) {
  if (o.mode) attr.mode = *o.mode;
  if (o.size) attr.size = static_cast<uint64_t>(*o.size);
  if (o.ino) attr.ino = *o.ino;
  if (o.mtime_ns) {
    attr.mtime = static_cast<uint64_t>(*o.mtime_ns / 1000000000);
    attr.mtimensec = static_cast<uint32_t>(*o.mtime_ns % 1000000000);
  }
}

void change_entry(fuse_entry_out& e, const ReplyOverride& o) {
  change_attr(e.attr, o);
  if (o.ino) e.nodeid = *o.ino;
  if (o.generation) e.generation = *o.generation;
  if (o.entry_timeout) split_timeout(*o.entry_timeout, &e.entry_valid, &e.entry_valid_nsec);
  if (o.attr_timeout) split_timeout(*o.attr_timeout, &e.attr_valid, &e.attr_valid_nsec);
}

void change_open(fuse_open_out& open, const ReplyOverride& o) {
  auto set = [&](uint32_t flag, bool on) { open.open_flags = on ? open.open_flags | flag : open.open_flags & ~flag; };
  if (o.keep_cache) set(FOPEN_KEEP_CACHE, *o.keep_cache);
  if (o.direct_io) set(FOPEN_DIRECT_IO, *o.direct_io);
}

bool is_entry_reply(uint32_t opcode) {
  return opcode == FUSE_LOOKUP || opcode == FUSE_MKNOD || opcode == FUSE_MKDIR || opcode == FUSE_SYMLINK ||
         opcode == FUSE_LINK || opcode == FUSE_CREATE;
}

// The READDIRPLUS entries that took a lookup reference: a node id, and not "." or "..". A
// rule's {ino: 0} first takes every entry's node id away (the dirent keeps its inode number),
// so the kernel instantiates none.
void describe_direntplus(char* payload, size_t length, const ReplyOverride& o, ReplyFacts& facts) {
  bool zero_node_ids = o.ino && *o.ino == 0;
  size_t at = 0;
  fuse_direntplus d{};
  while (read_at(payload, length, at, &d)) {
    size_t name_at = at + FUSE_NAME_OFFSET_DIRENTPLUS;
    if (d.dirent.namelen == 0 || name_at + d.dirent.namelen > length) break;
    std::string_view name(payload + name_at, d.dirent.namelen);
    if (d.entry_out.nodeid != 0 && name != "." && name != "..") {
      if (zero_node_ids) {
        facts.zeroed.push_back(d.entry_out.nodeid);
        d.entry_out.nodeid = 0;
        write_at(payload, at, d);
      } else {
        facts.entries.emplace_back(d.entry_out.nodeid, name);
      }
    }
    at += FUSE_DIRENTPLUS_SIZE(&d);
  }
}

void describe_success(uint32_t opcode, char* payload, size_t length, const ReplyOverride& o, ReplyFacts& facts) {
  if (is_entry_reply(opcode)) {
    fuse_entry_out e{};
    if (!read_at(payload, length, 0, &e)) return;
    change_entry(e, o);
    write_at(payload, 0, e);
    facts.node = e.nodeid;
  }
  if (opcode == FUSE_OPEN || opcode == FUSE_OPENDIR || opcode == FUSE_CREATE) {
    size_t at = opcode == FUSE_CREATE ? sizeof(fuse_entry_out) : 0;
    fuse_open_out open{};
    if (!read_at(payload, length, at, &open)) return;
    change_open(open, o);
    write_at(payload, at, open);
    facts.fh = open.fh;
    facts.has_fh = true;
  }
  if (opcode == FUSE_GETATTR || opcode == FUSE_SETATTR) {
    fuse_attr_out attr{};
    if (!read_at(payload, length, 0, &attr)) return;
    change_attr(attr.attr, o);
    if (o.attr_timeout) split_timeout(*o.attr_timeout, &attr.attr_valid, &attr.attr_valid_nsec);
    write_at(payload, 0, attr);
  }
  if (opcode == FUSE_READDIRPLUS) describe_direntplus(payload, length, o, facts);
}

}  // namespace

void split_timeout(double seconds, uint64_t* whole, uint32_t* nsec) {
  constexpr double kMost = 18446744073709551615.0;  // 2^64 - 1, as a double (2^64)
  if (!(seconds > 0)) seconds = 0;                  // NaN and negatives: no caching
  *whole = seconds >= kMost ? UINT64_MAX : static_cast<uint64_t>(seconds);
  double fraction = seconds >= kMost ? 0 : seconds - static_cast<double>(*whole);
  *nsec = fraction >= 0.999999999 ? 999999999u : static_cast<uint32_t>(fraction * 1e9);
}

bool read_request_header(const char* message, size_t length, RequestHeader* out) {
  fuse_in_header h{};
  if (!read_at(message, length, 0, &h)) return false;
  *out = RequestHeader{h.opcode, h.unique};
  return true;
}

RequestKind classify(uint32_t opcode) {
  if (opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET) return RequestKind::forget;
  if (opcode == FUSE_INTERRUPT) return RequestKind::interrupt;
  if (opcode == FUSE_INIT) return RequestKind::passed;
  return std::string_view(opcode_name(opcode)) == "UNKNOWN" ? RequestKind::passed : RequestKind::recorded;
}

uint64_t interrupt_target(const char* message, size_t length) {
  fuse_interrupt_in in{};
  return read_at(message, length, kIn, &in) ? in.unique : 0;
}

std::vector<std::pair<uint64_t, uint64_t>> forget_list(const char* message, size_t length) {
  fuse_in_header h{};
  std::vector<std::pair<uint64_t, uint64_t>> list;
  if (!read_at(message, length, 0, &h)) return list;
  if (h.opcode == FUSE_FORGET) {
    fuse_forget_in in{};
    if (read_at(message, length, kIn, &in)) list.emplace_back(h.nodeid, in.nlookup);
    return list;
  }
  fuse_batch_forget_in batch{};
  if (!read_at(message, length, kIn, &batch)) return list;
  size_t at = kIn + sizeof batch;
  fuse_forget_one one{};
  for (uint32_t i = 0; i < batch.count && read_at(message, length, at, &one); ++i, at += sizeof one)
    list.emplace_back(one.nodeid, one.nlookup);
  return list;
}

size_t reply_length(const char* message, size_t length) {
  fuse_out_header h{};
  return read_at(message, length, 0, &h) ? h.len : 0;
}

uint64_t reply_unique(const char* message, size_t length) {
  fuse_out_header h{};
  return read_at(message, length, 0, &h) ? h.unique : 0;
}

ReplyFacts describe_reply(uint32_t opcode, char* message, size_t length, const ReplyOverride& change) {
  ReplyFacts facts;
  fuse_out_header h{};
  if (!read_at(message, length, 0, &h)) return facts;
  facts.error = h.error < 0 ? -h.error : 0;
  if (facts.error == 0) describe_success(opcode, message + kOut, length - kOut, change, facts);
  return facts;
}

bool is_lookup_enoent(uint32_t opcode, const char* message, size_t length) {
  fuse_out_header h{};
  return opcode == FUSE_LOOKUP && read_at(message, length, 0, &h) && h.error == -ENOENT;
}

bool is_opendir(uint32_t opcode) { return opcode == FUSE_OPENDIR; }

template <class Arg>
std::vector<char> request(uint32_t opcode, uint64_t unique, uint64_t node, const Arg& arg) {
  fuse_in_header h{};
  h.len = static_cast<uint32_t>(kIn + sizeof arg);
  h.opcode = opcode;
  h.unique = unique;
  h.nodeid = node;
  std::vector<char> out(h.len);
  write_at(out.data(), 0, h);
  write_at(out.data(), kIn, arg);
  return out;
}

std::vector<char> forget_request(uint64_t unique, uint64_t node, uint64_t nlookup) {
  return request(FUSE_FORGET, unique, node, fuse_forget_in{nlookup});
}

std::vector<char> release_request(uint64_t unique, bool dir, uint64_t node, uint64_t fh) {
  fuse_release_in in{};
  in.fh = fh;
  return request(dir ? FUSE_RELEASEDIR : FUSE_RELEASE, unique, node, in);
}

std::vector<char> error_reply(uint64_t unique, int err) {
  fuse_out_header h{static_cast<uint32_t>(kOut), -err, unique};
  std::vector<char> out(kOut);
  write_at(out.data(), 0, h);
  return out;
}

std::vector<char> negative_entry_reply(uint64_t unique, double timeout) {
  fuse_out_header h{static_cast<uint32_t>(kOut + sizeof(fuse_entry_out)), 0, unique};
  fuse_entry_out e{};
  split_timeout(timeout, &e.entry_valid, &e.entry_valid_nsec);
  std::vector<char> out(h.len);
  write_at(out.data(), 0, h);
  write_at(out.data(), kOut, e);
  return out;
}

}  // namespace fusepp::wire

namespace fusepp {

namespace {

// header, the kind's fixed part, then an optional NUL-terminated name or raw data.
template <class Arg>
int write_message(int fd, int code, const Arg& arg, std::string_view tail, bool nul_terminated) {
  char nul = '\0';
  fuse_out_header h{static_cast<uint32_t>(sizeof h + sizeof arg + tail.size() + (nul_terminated ? 1 : 0)), code, 0};
  iovec iov[4] = {{&h, sizeof h},
                  {const_cast<Arg*>(&arg), sizeof arg},
                  {const_cast<char*>(tail.data()), tail.size()},
                  {&nul, nul_terminated ? 1u : 0u}};
  ssize_t n = ::writev(fd, iov, 4);
  if (n < 0) return -errno;
  return n == static_cast<ssize_t>(h.len) ? 0 : -EIO;
}

}  // namespace

int write_notification(int fd, const Notification& n) {
  auto namelen = static_cast<uint32_t>(n.name.size());
  switch (n.kind) {
    case Notification::Kind::inval_entry:
    case Notification::Kind::expire_entry: {
      uint32_t flags = n.kind == Notification::Kind::expire_entry ? FUSE_EXPIRE_ONLY : 0;
      return write_message(fd, FUSE_NOTIFY_INVAL_ENTRY, fuse_notify_inval_entry_out{n.node, namelen, flags}, n.name,
                           true);
    }
    case Notification::Kind::delete_entry:
      return write_message(fd, FUSE_NOTIFY_DELETE, fuse_notify_delete_out{n.node, n.child, namelen, 0}, n.name, true);
    case Notification::Kind::inval_inode:
      return write_message(fd, FUSE_NOTIFY_INVAL_INODE, fuse_notify_inval_inode_out{n.node, n.offset, n.length}, "",
                           false);
    case Notification::Kind::store: {
      fuse_notify_store_out store{n.node, static_cast<uint64_t>(n.offset), static_cast<uint32_t>(n.data.size()), 0};
      return write_message(fd, FUSE_NOTIFY_STORE, store, n.data, false);
    }
  }
  return -EINVAL;
}

}  // namespace fusepp
