// Kernel notifications beyond session.cpp's pyfuse3 set: any Notification by kind (for the
// Observer's fault rules and the control channel), expire_entry, which libfuse 3.14 cannot
// send (the message is written to /dev/fuse here), and notify_retrieve with its reply.
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <system_error>

#include "session_impl.hpp"

namespace fusepp {

namespace {

// The kernel ABI of a notification (linux/fuse.h: fuse_out_header, whose error field carries
// the notify code, then fuse_notify_inval_entry_out and the NUL-terminated name).
struct OutHeader {
  uint32_t len;
  int32_t error;
  uint64_t unique;
};
struct InvalEntryOut {
  uint64_t parent;
  uint32_t namelen;
  uint32_t flags;
};
constexpr int32_t kNotifyInvalEntry = 3;  // FUSE_NOTIFY_INVAL_ENTRY
constexpr uint32_t kExpireOnly = 1;       // FUSE_EXPIRE_ONLY (protocol 7.38)

int write_expire_entry(fuse_session* se, uint64_t parent, std::string_view name) {
  InvalEntryOut arg{parent, static_cast<uint32_t>(name.size()), kExpireOnly};
  OutHeader out{static_cast<uint32_t>(sizeof(OutHeader) + sizeof(arg) + name.size() + 1), kNotifyInvalEntry, 0};
  char nul = '\0';
  iovec iov[4] = {{&out, sizeof out}, {&arg, sizeof arg}, {const_cast<char*>(name.data()), name.size()}, {&nul, 1}};
  ssize_t n = ::writev(fuse_session_fd(se), iov, 4);
  if (n < 0) return -errno;
  return n == static_cast<ssize_t>(out.len) ? 0 : -EIO;
}

void throw_if_failed(int rc, const char* what) {
  if (rc < 0) throw std::system_error(-rc, std::generic_category(), std::string("fusepp: ") + what);
}

}  // namespace

int send_notification(fuse_session* se, const Notification& n) {
  switch (n.kind) {
    case Notification::Kind::inval_entry:
      return fuse_lowlevel_notify_inval_entry(se, n.node, n.name.data(), n.name.size());
    case Notification::Kind::expire_entry: return write_expire_entry(se, n.node, n.name);
    case Notification::Kind::delete_entry:
      return fuse_lowlevel_notify_delete(se, n.node, n.child, n.name.data(), n.name.size());
    case Notification::Kind::inval_inode: return fuse_lowlevel_notify_inval_inode(se, n.node, n.offset, n.length);
    case Notification::Kind::store: {
      fuse_bufvec bufv = FUSE_BUFVEC_INIT(n.data.size());
      bufv.buf[0].mem = const_cast<char*>(n.data.data());
      return fuse_lowlevel_notify_store(se, n.node, n.offset, &bufv, static_cast<fuse_buf_copy_flags>(0));
    }
  }
  return -EINVAL;
}

void Session::notify_expire_entry(InodeT inode_p, std::string_view name) {
  impl_->check_open();
  throw_if_failed(write_expire_entry(impl_->se, inode_p, name), "notify_expire_entry");
}

void Session::notify(const Notification& notification) {
  impl_->check_open();
  throw_if_failed(send_notification(impl_->se, notification), to_string(notification.kind));
}

void Session::notify_async(Notification notification, std::function<void(int)> done) {
  impl_->check_open();
  fuse_session* se = impl_->se;
  impl_->notifier.push([se, n = std::move(notification), done = std::move(done)] {
    int rc = send_notification(se, n);
    if (done) done(rc);
  });
}

void Session::notify_retrieve(InodeT inode, off_t offset, size_t size, std::function<void(std::string)> done) {
  impl_->check_open();
  PendingRetrievals& p = impl_->dispatcher.retrievals;
  uint64_t cookie = 0;
  {
    std::lock_guard lock(p.mutex);
    cookie = p.next++;
    p.waiting.emplace(cookie, std::move(done));
  }
  int rc = fuse_lowlevel_notify_retrieve(impl_->se, inode, static_cast<size_t>(size), offset,
                                         reinterpret_cast<void*>(cookie));
  if (rc < 0) {
    std::lock_guard lock(p.mutex);
    p.waiting.erase(cookie);
  }
  throw_if_failed(rc, "notify_retrieve");
}

void Session::observe(Observer* observer) {
  if (observer) observer->impl().session.store(impl_->se);
  impl_->dispatcher.observer.store(observer ? &observer->impl() : nullptr, std::memory_order_release);
}

namespace ll {

void retrieve_reply(fuse_req_t req, void* cookie, fuse_ino_t, off_t, fuse_bufvec* bufv) {
  PendingRetrievals& p = dispatcher_of(req).retrievals;
  std::function<void(std::string)> done;
  {
    std::lock_guard lock(p.mutex);
    auto it = p.waiting.find(reinterpret_cast<uint64_t>(cookie));
    if (it != p.waiting.end()) {
      done = std::move(it->second);
      p.waiting.erase(it);
    }
  }
  std::string data;
  for (size_t i = bufv->idx; i < bufv->count; ++i) {
    const fuse_buf& b = bufv->buf[i];
    size_t skip = i == bufv->idx ? bufv->off : 0;
    if (b.mem && b.size > skip) data.append(static_cast<const char*>(b.mem) + skip, b.size - skip);
  }
  fuse_reply_none(req);
  if (done) {
    try {
      done(std::move(data));
    } catch (...) {
      errno_from_current_exception("retrieve_reply", 0);
    }
  }
}

}  // namespace ll
}  // namespace fusepp
