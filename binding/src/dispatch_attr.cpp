// Dispatch of attribute requests: getattr, setattr (UTIME_NOW turned into the current time,
// flagged by SetattrFields::update_*_now), readlink, access.
#include <time.h>

#include "dispatcher.hpp"

namespace fusepp::ll {

namespace {
// SetattrFields cannot be copied, so it is built inside a coroutine frame of its own, which
// also keeps the attributes the handler sees by reference (start()'s lambda is gone once the
// handler suspends).
Reply<EntryAttributes> setattr_with_fields(Operations& ops, InodeT ino, EntryAttributes requested, int to_set,
                                           std::optional<FileHandleT> fh, const RequestContext& ctx) {
  SetattrFields fields(to_set);
  co_return co_await ops.setattr(ino, requested, fields, fh, ctx);
}
}  // namespace

void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  start<EntryAttributes>(
      req, "getattr", ino,
      [&ops = dispatcher_of(req).ops, ino](const RequestContext& ctx) { return ops.getattr(InodeT{ino}, ctx); },
      [](fuse_req_t r, Result<EntryAttributes>& res) { reply_attr(r, *res); });
}

void setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  EntryAttributes requested = from_stat(ino, *attr);
  if (to_set & (FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) requested.st_atime_ns = now_ns;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) requested.st_mtime_ns = now_ns;
  }
  std::optional<FileHandleT> fh;
  if (fi) fh = FileHandleT{fi->fh};
  start<EntryAttributes>(
      req, "setattr", ino,
      [&ops = dispatcher_of(req).ops, ino, requested, to_set, fh](const RequestContext& ctx) {
        return setattr_with_fields(ops, InodeT{ino}, requested, to_set, fh, ctx);
      },
      [](fuse_req_t r, Result<EntryAttributes>& res) { reply_attr(r, *res); });
}

void readlink(fuse_req_t req, fuse_ino_t ino) {
  start<std::string>(
      req, "readlink", ino,
      [&ops = dispatcher_of(req).ops, ino](const RequestContext& ctx) { return ops.readlink(InodeT{ino}, ctx); },
      [](fuse_req_t r, Result<std::string>& res) { fuse_reply_readlink(r, res->c_str()); });
}

void access(fuse_req_t req, fuse_ino_t ino, int mask) {
  start<bool>(
      req, "access", ino,
      [&ops = dispatcher_of(req).ops, ino, mask](const RequestContext& ctx) {
        return ops.access(InodeT{ino}, mask, ctx);
      },
      [](fuse_req_t r, Result<bool>& res) { fuse_reply_err(r, *res ? 0 : EACCES); });
}

}  // namespace fusepp::ll
