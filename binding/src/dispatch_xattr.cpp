// Dispatch of extended-attribute requests. getxattr/listxattr handlers return the whole value;
// the binding answers the kernel's size queries (size 0) and ERANGE from it, as pyfuse3 does.
#include "dispatcher.hpp"

namespace fusepp::ll {

namespace {

void reply_sized(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0)
    fuse_reply_xattr(req, value.size());
  else if (value.size() > size)
    fuse_reply_err(req, ERANGE);
  else
    fuse_reply_buf(req, value.data(), value.size());
}

}  // namespace

void setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
  start<void>(
      req, "setxattr", ino,
      [&ops = dispatcher_of(req).ops, ino, n = std::string_view(name), v = std::string_view(value, size),
       flags](const RequestContext& ctx) { return ops.setxattr(InodeT{ino}, n, v, FlagT{flags}, ctx); },
      reply_ok);
}

void getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  start_named<std::string>(req, "getxattr", ino, name, &Operations::getxattr,
                           [size](fuse_req_t r, Result<std::string>& res) { reply_sized(r, *res, size); });
}

void listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  start<std::vector<std::string>>(
      req, "listxattr", ino,
      [&ops = dispatcher_of(req).ops, ino](const RequestContext& ctx) { return ops.listxattr(InodeT{ino}, ctx); },
      [size](fuse_req_t r, Result<std::vector<std::string>>& res) {
        std::string joined;
        for (const std::string& name : *res) {
          joined += name;
          joined += '\0';
        }
        reply_sized(r, joined, size);
      });
}

void removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  start_named<void>(req, "removexattr", ino, name, &Operations::removexattr, reply_ok);
}

}  // namespace fusepp::ll
