// The hot requests the binding decodes from the receive buffer itself, skipping libfuse's
// per-request object (a calloc, a mutex initialised and destroyed, the session's request list
// under its lock). They reach the same callbacks as through libfuse, with a null fuse_req_t
// (DecodedRequest says what libfuse's request would have) and their replies written directly.
#include "dispatcher.hpp"

namespace fusepp {

namespace {

// A request's arguments: the fixed part, then a NUL-terminated name for some.
class Arguments {
 public:
  Arguments(const char* begin, const char* end) : at_(begin), end_(end) {}
  // Copies the next fixed-size struct out; false when the message is too short.
  template <class In>
  bool take(In& in) {
    if (static_cast<size_t>(end_ - at_) < sizeof in) return false;
    std::memcpy(&in, at_, sizeof in);
    at_ += sizeof in;
    return true;
  }
  // The name that follows, or null when it is not NUL-terminated inside the message.
  const char* name() const { return at_ < end_ && std::memchr(at_, '\0', end_ - at_) ? at_ : nullptr; }
  const char* rest() const { return at_; }
  size_t left() const { return static_cast<size_t>(end_ - at_); }

 private:
  const char* at_;
  const char* end_;
};

// Each serves one opcode as libfuse 3.14's do_* would call the callback (protocol 7.12 or
// later), or returns false to leave a malformed message to libfuse.
bool serve_getattr(const fuse_in_header& in, Arguments args) {
  fuse_getattr_in a;
  if (!args.take(a)) return false;
  fuse_file_info fi{};
  fi.fh = a.fh;
  ll::getattr(nullptr, in.nodeid, (a.getattr_flags & FUSE_GETATTR_FH) ? &fi : nullptr);
  return true;
}

bool serve_create(const fuse_in_header& in, Arguments args, uint32_t& umask) {
  fuse_create_in a;
  const char* name = args.take(a) ? args.name() : nullptr;  // one scan for the NUL
  if (!name) return false;
  umask = a.umask;
  fuse_file_info fi{};
  fi.flags = static_cast<int>(a.flags);
  ll::create(nullptr, in.nodeid, name, a.mode, &fi);
  return true;
}

bool serve_mkdir(const fuse_in_header& in, Arguments args, uint32_t& umask) {
  fuse_mkdir_in a;
  const char* name = args.take(a) ? args.name() : nullptr;
  if (!name) return false;
  umask = a.umask;
  ll::mkdir(nullptr, in.nodeid, name, a.mode);
  return true;
}

// The fuse_file_info libfuse 3.14's do_open, do_flush and do_release fill in.
fuse_file_info file_info(const fuse_open_in& a) {
  fuse_file_info fi{};
  fi.flags = static_cast<int>(a.flags);
  return fi;
}

fuse_file_info file_info(const fuse_flush_in& a) {
  fuse_file_info fi{};
  fi.fh = a.fh;
  fi.flush = 1;
  fi.lock_owner = a.lock_owner;
  return fi;
}

fuse_file_info file_info(const fuse_release_in& a) {
  fuse_file_info fi{};
  fi.flags = static_cast<int>(a.flags);
  fi.fh = a.fh;
  fi.flush = (a.release_flags & FUSE_RELEASE_FLUSH) != 0;
  fi.flock_release = (a.release_flags & FUSE_RELEASE_FLOCK_UNLOCK) != 0;
  fi.lock_owner = a.lock_owner;
  return fi;
}

// Serves OPEN, FLUSH or RELEASE: arguments In, and the file information made of them.
template <class In, void (*Callback)(fuse_req_t, fuse_ino_t, fuse_file_info*)>
bool serve_file(const fuse_in_header& in, Arguments args) {
  In a;
  if (!args.take(a)) return false;
  fuse_file_info fi = file_info(a);
  Callback(nullptr, in.nodeid, &fi);
  return true;
}

bool serve_forget(const fuse_in_header& in, Arguments args) {
  fuse_forget_in a;
  if (!args.take(a)) return false;
  ll::forget(nullptr, in.nodeid, a.nlookup);
  return true;
}

bool serve_batch_forget(Arguments args) {
  fuse_batch_forget_in a;
  if (!args.take(a) || args.left() / sizeof(fuse_forget_one) < a.count) return false;
  std::vector<ForgetRequest> list;
  list.reserve(a.count);
  for (uint32_t i = 0; i < a.count; ++i) {
    fuse_forget_one one;  // copied out: the message gives no alignment guarantee we rely on
    std::memcpy(&one, args.rest() + i * sizeof one, sizeof one);
    list.push_back({InodeT{one.nodeid}, one.nlookup});
  }
  ll::forget_list(nullptr, std::move(list));
  return true;
}

// Serves a request that carries a name and nothing before it.
template <void (*Callback)(fuse_req_t, fuse_ino_t, const char*)>
bool serve_named(const fuse_in_header& in, Arguments args) {
  const char* name = args.name();  // one scan for the NUL
  if (!name) return false;
  Callback(nullptr, in.nodeid, name);
  return true;
}

bool dispatch(const fuse_in_header& in, Arguments args, uint32_t& umask) {
  switch (in.opcode) {
    case FUSE_LOOKUP: return serve_named<ll::lookup>(in, args);
    case FUSE_GETATTR: return serve_getattr(in, args);
    case FUSE_CREATE: return serve_create(in, args, umask);
    case FUSE_MKDIR: return serve_mkdir(in, args, umask);
    case FUSE_UNLINK: return serve_named<ll::unlink>(in, args);
    case FUSE_RMDIR: return serve_named<ll::rmdir>(in, args);
    case FUSE_OPEN: return serve_file<fuse_open_in, ll::open>(in, args);
    case FUSE_FLUSH: return serve_file<fuse_flush_in, ll::flush>(in, args);
    case FUSE_RELEASE: return serve_file<fuse_release_in, ll::release>(in, args);
    case FUSE_FORGET: return serve_forget(in, args);
    case FUSE_BATCH_FORGET: return serve_batch_forget(args);
    default: return false;
  }
}

}  // namespace

// Only where every request runs inline and is answered before the next is read (one serving
// thread, no max_tasks: Dispatcher::decodes_hot_requests): no INTERRUPT can arrive for a
// request meanwhile, and one for a request already answered finds nothing in libfuse, as
// before. A handler that suspends gets libfuse's request first (InlineRun::adopt_request).
bool serve_decoded(Dispatcher& d, RecvBuffer* buf, size_t n) {
  if (!d.protocol_7_12_or_later.load(std::memory_order_relaxed) || d.observing() != nullptr) return false;
  fuse_in_header in;
  std::memcpy(&in, buf->buf.mem, sizeof in);
  if (in.len != n) return false;  // libfuse answers it
  const char* message = static_cast<const char*>(buf->buf.mem);
  DecodedRequest request{d, in.uid, in.gid, in.pid, 0};
  tl_decoded = &request;
  tl_current_buffer = buf;
  bool served;
  {
    InlineAnswerScope answering(d, buf, nullptr);
    served = dispatch(in, Arguments(message + sizeof in, message + n), request.umask);
  }
  tl_current_buffer = nullptr;
  tl_decoded = nullptr;
  return served;
}

fuse_req_t libfuse_request_for(Dispatcher& d, RecvBuffer* buf) {
  fuse_req_t req = nullptr;
  fuse_req_t* outer = std::exchange(tl_adopting, &req);
  RecvBuffer* outer_buffer = std::exchange(tl_current_buffer, buf);
  fuse_session_process_buf(d.session, &buf->buf);
  tl_current_buffer = outer_buffer;
  tl_adopting = outer;
  return req;
}

}  // namespace fusepp
