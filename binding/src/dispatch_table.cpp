// The single fixed fuse_lowlevel_ops table. Every request the binding offers is registered here;
// what is deliberately left out, and why, is listed below and in docs/binding-ops.md.
#include "dispatcher.hpp"

namespace fusepp {

namespace {

fuse_lowlevel_ops make_table() {
  fuse_lowlevel_ops t{};
  t.init = ll::init;
  // destroy: nothing to release; the Session owns all binding state.
  t.lookup = ll::lookup;
  t.forget = ll::forget;
  t.getattr = ll::getattr;
  t.setattr = ll::setattr;
  t.readlink = ll::readlink;
  t.mknod = ll::mknod;
  t.mkdir = ll::mkdir;
  t.unlink = ll::unlink;
  t.rmdir = ll::rmdir;
  t.symlink = ll::symlink;
  t.rename = ll::rename;
  t.link = ll::link;
  t.open = ll::open;
  t.read = ll::read;
  t.write = ll::write;
  t.flush = ll::flush;
  t.release = ll::release;
  t.fsync = ll::fsync;
  t.opendir = ll::opendir;
  t.readdir = ll::readdir;
  t.releasedir = ll::releasedir;
  t.fsyncdir = ll::fsyncdir;
  t.statfs = ll::statfs;
  t.setxattr = ll::setxattr;
  t.getxattr = ll::getxattr;
  t.listxattr = ll::listxattr;
  t.removexattr = ll::removexattr;
  t.access = ll::access;
  t.create = ll::create;
  t.getlk = ll::getlk;
  t.setlk = ll::setlk;
  // bmap: only meaningful for block-device-backed (fuseblk) filesystems, which need a
  //   device and the blkdev mount option; not offered.
  t.ioctl = ll::ioctl;
  t.poll = ll::poll;
  // write_buf: not registered, so libfuse calls write with the payload in our (pinned,
  //   splice-free) receive buffer.
  t.retrieve_reply = ll::retrieve_reply;  // the kernel's answer to Session::notify_retrieve
  t.forget_multi = ll::forget_multi;
  t.flock = ll::flock;
  t.fallocate = ll::fallocate;
  t.readdirplus = ll::readdirplus;
  t.copy_file_range = ll::copy_file_range;
  t.lseek = ll::lseek;
  return t;
}

}  // namespace

const fuse_lowlevel_ops& Dispatcher::table() {
  static const fuse_lowlevel_ops table = make_table();
  return table;
}

}  // namespace fusepp
