// Kernel notifications beyond session.cpp's pyfuse3 set: any Notification by kind (for the
// Observer's fault rules and the control channel), expire_entry, which libfuse 3.14 cannot
// send (relay_wire.cpp writes the message to /dev/fuse), and notify_retrieve with its reply.
#include <cstring>
#include <system_error>

#include "session_impl.hpp"

namespace fusepp {

namespace {

void throw_if_failed(int rc, const char* what) {
  if (rc < 0) throw std::system_error(-rc, std::generic_category(), std::string("fusepp: ") + what);
}

}  // namespace

int send_notification(fuse_session* se, const Notification& n) {
  switch (n.kind) {
    case Notification::Kind::inval_entry:
      return fuse_lowlevel_notify_inval_entry(se, n.node, n.name.data(), n.name.size());
    case Notification::Kind::expire_entry: return write_notification(fuse_session_fd(se), n);
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
  Notification n{.kind = Notification::Kind::expire_entry, .node = inode_p, .name = std::string(name)};
  throw_if_failed(write_notification(fuse_session_fd(impl_->se), n), "notify_expire_entry");
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
