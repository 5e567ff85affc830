// Shared pieces of the dispatcher: the receive-buffer pool, the malloc setting for libfuse's
// per-request allocation, exception-to-errno mapping with its one-line log, and conversions
// between EntryAttributes and libfuse's structs.
#include "dispatcher.hpp"

#include <cxxabi.h>
#include <malloc.h>
#include <unistd.h>

#include <cstring>
#include <typeinfo>

namespace fusepp {

void make_request_allocation_cheap() { mallopt(M_MXFAST, 160); }

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

void reply_entry(fuse_req_t req, Result<EntryAttributes>& r) {
  Dispatcher& d = dispatcher_of(req);  // req is freed by the reply, even a failed one
  fuse_entry_param e = to_entry_param(*r);
  undo_entry_if_unanswered(d, fuse_reply_entry(req, &e), e.ino);
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

void reply_ok(fuse_req_t req, Result<void>&) { fuse_reply_err(req, 0); }

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
