// Dispatch of filesystem-wide requests: INIT (capabilities from Operations' flags, and the
// settings the dispatcher relies on: no splice; readdirplus as Operations::readdirplus says)
// and statfs.
#include <sys/statvfs.h>

#include "dispatcher.hpp"

namespace fusepp::ll {

void init(void* userdata, fuse_conn_info* conn) {
  Dispatcher& d = *static_cast<Dispatcher*>(userdata);
  d.protocol_7_9_or_later.store(conn->proto_major > 7 || (conn->proto_major == 7 && conn->proto_minor >= 9),
                                std::memory_order_relaxed);
  d.protocol_7_12_or_later.store(conn->proto_major > 7 || (conn->proto_major == 7 && conn->proto_minor >= 12),
                                 std::memory_order_relaxed);
  // Name and data views handed to handlers point into our receive buffer, so the payload
  // must really be there: no splice in either direction.
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  auto request = [conn](bool on, unsigned cap) {
    if (on && (conn->capable & cap))
      conn->want |= cap;
    else
      conn->want &= ~cap;
  };
  // One readdir handler serves both kinds (ReaddirToken::plus() tells which).
  using Readdirplus = Operations::Readdirplus;
  request(d.ops.readdirplus != Readdirplus::off, FUSE_CAP_READDIRPLUS);
  request(d.ops.readdirplus == Readdirplus::automatic, FUSE_CAP_READDIRPLUS_AUTO);
  request(d.ops.auto_inval_data, FUSE_CAP_AUTO_INVAL_DATA);
  request(d.ops.supports_dot_lookup, FUSE_CAP_EXPORT_SUPPORT);
  request(d.ops.enable_writeback_cache, FUSE_CAP_WRITEBACK_CACHE);
  request(d.ops.enable_acl, FUSE_CAP_POSIX_ACL);
  request(d.ops.enable_locks, FUSE_CAP_POSIX_LOCKS);
  request(d.ops.enable_locks, FUSE_CAP_FLOCK_LOCKS);
  // The kernel keeps the smaller of the mount's read-ahead and this (Session raised the
  // former already when max_readahead asks for more than the default).
  if (d.ops.max_readahead != 0) conn->max_readahead = static_cast<unsigned>(d.ops.max_readahead);
  try {
    d.ops.init();
  } catch (...) {
    errno_from_current_exception("init", 0);
  }
}

void statfs(fuse_req_t req, fuse_ino_t ino) {
  start<StatvfsData>(
      req, "statfs", ino, [&ops = dispatcher_of(req).ops](const RequestContext& ctx) { return ops.statfs(ctx); },
      [](fuse_req_t r, Result<StatvfsData>& res) {
        struct statvfs st {};
        st.f_bsize = res->f_bsize;
        st.f_frsize = res->f_frsize;
        st.f_blocks = res->f_blocks;
        st.f_bfree = res->f_bfree;
        st.f_bavail = res->f_bavail;
        st.f_files = res->f_files;
        st.f_ffree = res->f_ffree;
        st.f_favail = res->f_favail;
        st.f_namemax = res->f_namemax;
        fuse_reply_statfs(r, &st);
      });
}

}  // namespace fusepp::ll
