// Shared pieces of the dispatcher: the receive-buffer pool, exception-to-errno mapping with its
// one-line log, conversions between EntryAttributes and libfuse's structs, and the replies
// written directly.
#include "dispatcher.hpp"

#include "relay_wire.hpp"

#include <cxxabi.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <typeinfo>

namespace fusepp {

const size_t BufferPool::kBufferSize = 256 * static_cast<size_t>(sysconf(_SC_PAGESIZE)) + 4096;

BufferPool::~BufferPool() {
  for (RecvBuffer* b : all_) {
    std::free(b->buf.mem);
    delete b;
  }
}

RecvBuffer* BufferPool::acquire() {
  RecvBuffer* b = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
      b = free_.back();
      free_.pop_back();
    } else {
      b = new RecvBuffer;
      b->pool = this;
      b->buf.mem = std::malloc(kBufferSize);
      if (!b->buf.mem) {
        delete b;
        throw std::bad_alloc();
      }
      b->buf.fd = -1;
      all_.push_back(b);
    }
  }
  b->refs.store(1, std::memory_order_relaxed);
  return b;
}

void BufferPool::put_back(RecvBuffer* b) {
  std::lock_guard lock(mutex_);
  free_.push_back(b);
}

namespace {
std::string demangled(const std::type_info& t) {
  int status = 0;
  char* name = abi::__cxa_demangle(t.name(), nullptr, nullptr, &status);
  std::string out = (status == 0 && name) ? name : t.name();
  std::free(name);
  return out;
}
}  // namespace

int errno_from_current_exception(const char* op, uint64_t ino) noexcept {
  try {
    throw;
  } catch (const FUSEError& e) {
    return checked_errno(e.errno_(), op, ino);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fusepp: %s(inode %llu) threw %s: %s; answered EIO\n", op,
                 static_cast<unsigned long long>(ino), demangled(typeid(e)).c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "fusepp: %s(inode %llu) threw a non-std::exception; answered EIO\n", op,
                 static_cast<unsigned long long>(ino));
  }
  return EIO;
}

int checked_errno(int err, const char* op, uint64_t ino) noexcept {
  if (err > 0 && err < 1000) return err;
  std::fprintf(stderr, "fusepp: %s(inode %llu) failed with invalid errno %d; answered EIO\n", op,
               static_cast<unsigned long long>(ino), err);
  return EIO;
}

fuse_entry_param to_entry_param(const EntryAttributes& attr) {
  fuse_entry_param e{};
  e.ino = attr.st_ino;
  e.generation = attr.generation;
  e.attr = attr.to_stat();
  e.attr_timeout = attr.attr_timeout;
  e.entry_timeout = attr.entry_timeout;
  return e;
}

namespace {

// The request answered inline on this thread when it is req and may be answered directly.
const InlineAnswer* direct_answer(fuse_req_t req) {
  const InlineAnswer* a = tl_inline_answer;
  return a != nullptr && a->req == req && a->fd >= 0 ? a : nullptr;
}

// Writes the reply as libfuse's fuse_send_msg does (by a direct system call, as session.cpp
// explains) and frees libfuse's request as its replies do.
int send_direct(const InlineAnswer& a, int error, const void* payload, size_t size) {
  fuse_out_header header{static_cast<uint32_t>(sizeof header + size), -error, a.unique};
  iovec iov[2] = {{&header, sizeof header}, {const_cast<void*>(payload), size}};
  int rc = ::syscall(SYS_writev, a.fd, iov, size == 0 ? 1 : 2) < 0 ? -errno : 0;
  if (rc != 0 && rc != -ENOENT) std::fprintf(stderr, "fuse: writing device: %s\n", std::strerror(-rc));
  if (a.req != nullptr) fuse_reply_none(a.req);  // null: decoded by the binding, no libfuse request
  return rc;
}

// A time in nanoseconds as whole seconds and nanoseconds in [0, 1e9), as a timespec holds it
// (EntryAttributes::to_stat, which libfuse's path converts from).
void split_time(int64_t ns, uint64_t* sec, uint32_t* nsec) {
  int64_t whole = ns / 1'000'000'000;
  int64_t rest = ns % 1'000'000'000;
  if (rest < 0) {
    rest += 1'000'000'000;
    whole -= 1;
  }
  *sec = static_cast<uint64_t>(whole);
  *nsec = static_cast<uint32_t>(rest);
}

// The same fields and values as libfuse's conversion of to_stat()'s struct stat, without the
// struct stat between (it cost ~110 instructions per attribute reply).
fuse_attr to_fuse_attr(const EntryAttributes& a) {
  fuse_attr out{};
  out.ino = a.st_ino;
  out.mode = a.st_mode;
  out.nlink = static_cast<uint32_t>(a.st_nlink);
  out.uid = a.st_uid;
  out.gid = a.st_gid;
  out.rdev = static_cast<uint32_t>(a.st_rdev);
  out.size = static_cast<uint64_t>(a.st_size);
  out.blksize = static_cast<uint32_t>(a.st_blksize);
  out.blocks = static_cast<uint64_t>(a.st_blocks);
  split_time(a.st_atime_ns, &out.atime, &out.atimensec);
  split_time(a.st_mtime_ns, &out.mtime, &out.mtimensec);
  split_time(a.st_ctime_ns, &out.ctime, &out.ctimensec);
  return out;
}

}  // namespace

fuse_file_info to_file_info(const FileInfo& info) {
  fuse_file_info fi{};
  fi.fh = info.fh;
  fi.direct_io = info.direct_io;
  fi.keep_cache = info.keep_cache;
  fi.nonseekable = info.nonseekable;
  return fi;
}

fuse_attr_out attr_reply_payload(const EntryAttributes& a) {
  fuse_attr_out out{};
  wire::split_timeout(a.attr_timeout, &out.attr_valid, &out.attr_valid_nsec);
  out.attr = to_fuse_attr(a);
  return out;
}

fuse_entry_out entry_reply_payload(const EntryAttributes& a) {
  fuse_entry_out out{};
  out.nodeid = a.st_ino;
  out.generation = a.generation;
  wire::split_timeout(a.entry_timeout, &out.entry_valid, &out.entry_valid_nsec);
  wire::split_timeout(a.attr_timeout, &out.attr_valid, &out.attr_valid_nsec);
  out.attr = to_fuse_attr(a);
  return out;
}

fuse_open_out open_reply_payload(const FileInfo& info) {
  uint32_t flags = (info.direct_io ? FOPEN_DIRECT_IO : 0u) | (info.keep_cache ? FOPEN_KEEP_CACHE : 0u) |
                   (info.nonseekable ? FOPEN_NONSEEKABLE : 0u);
  return fuse_open_out{info.fh, flags};
}

int reply_error(fuse_req_t req, int err) {
  if (const InlineAnswer* a = direct_answer(req)) return send_direct(*a, err, nullptr, 0);
  return fuse_reply_err(req, err);
}

namespace {
// The reply written directly when req is answered inline on this thread (payload() builds its
// body), else through libfuse (through_libfuse()).
template <class Payload, class Libfuse>
int reply_either(fuse_req_t req, Payload payload, Libfuse through_libfuse) {
  if (const InlineAnswer* a = direct_answer(req)) {
    auto out = payload();
    return send_direct(*a, 0, &out, sizeof out);
  }
  return through_libfuse();
}
}  // namespace

int reply_attr(fuse_req_t req, const EntryAttributes& attr) {
  return reply_either(
      req, [&] { return attr_reply_payload(attr); },
      [&] {
        struct stat st = attr.to_stat();
        return fuse_reply_attr(req, &st, attr.attr_timeout);
      });
}

int reply_entry_attributes(fuse_req_t req, const EntryAttributes& attr) {
  return reply_either(
      req, [&] { return entry_reply_payload(attr); },
      [&] {
        fuse_entry_param e = to_entry_param(attr);
        return fuse_reply_entry(req, &e);
      });
}

int reply_create(fuse_req_t req, const EntryAttributes& attr, const FileInfo& info) {
  struct Payload {
    fuse_entry_out entry;
    fuse_open_out open;
  };
  static_assert(sizeof(Payload) == sizeof(fuse_entry_out) + sizeof(fuse_open_out));
  return reply_either(
      req,
      [&] {
        return Payload{entry_reply_payload(attr), open_reply_payload(info)};
      },
      [&] {
        fuse_entry_param e = to_entry_param(attr);
        fuse_file_info fi = to_file_info(info);
        return fuse_reply_create(req, &e, &fi);
      });
}

int reply_open(fuse_req_t req, const FileInfo& info) {
  return reply_either(
      req, [&] { return open_reply_payload(info); },
      [&] {
        fuse_file_info fi = to_file_info(info);
        return fuse_reply_open(req, &fi);
      });
}

void reply_entry(fuse_req_t req, Result<EntryAttributes>& r) {
  Dispatcher& d = dispatcher_of(req);  // req is freed by the reply, even a failed one
  uint64_t ino = r->st_ino;
  undo_entry_if_unanswered(d, reply_entry_attributes(req, *r), ino);
}

void undo_entry_if_unanswered(Dispatcher& d, int reply_rc, uint64_t ino) {
  if (reply_rc != -ENOENT || ino == 0) return;
  if (Observer::Impl* o = d.observing()) o->entry_undone(ino);
  ll::run_forget_handler(d, std::vector<ForgetRequest>{ForgetRequest{InodeT{ino}, 1}});
}

namespace {
asio::awaitable<void> run_release(Dispatcher& d, FileHandleT fh, bool dir) {
  RequestScope scope(d);
  try {
    Result<void> res = dir ? co_await d.ops.releasedir(fh) : co_await d.ops.release(fh);
    (void)res;  // the kernel is not waiting for this one
  } catch (...) {
    errno_from_current_exception(dir ? "releasedir" : "release", fh);
  }
}
}  // namespace

void undo_open_if_unanswered(Dispatcher& d, int reply_rc, FileHandleT fh, bool dir) {
  if (reply_rc != -ENOENT) return;
  if (Observer::Impl* o = d.observing()) o->open_undone(fh, dir);
  try {
    launch_coroutine(d, run_release(d, fh, dir));
  } catch (...) {
    std::fprintf(stderr, "fusepp: could not start a release handler\n");
  }
}

void reply_ok(fuse_req_t req, Result<void>&) { reply_error(req, 0); }

EntryAttributes from_stat(fuse_ino_t ino, const struct stat& st) {
  EntryAttributes a;
  a.st_ino = InodeT{ino};
  a.st_mode = ModeT{st.st_mode};
  a.st_nlink = st.st_nlink;
  a.st_uid = st.st_uid;
  a.st_gid = st.st_gid;
  a.st_rdev = st.st_rdev;
  a.st_size = st.st_size;
  a.st_blksize = st.st_blksize;
  a.st_blocks = st.st_blocks;
  a.st_atime_ns = int64_t{st.st_atim.tv_sec} * 1'000'000'000 + st.st_atim.tv_nsec;
  a.st_mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  a.st_ctime_ns = int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
  return a;
}

}  // namespace fusepp
