// memfs attribute operations: getattr, setattr (truncate, chmod, chown, utimens) with
// tmpfs's permission rules and timestamp updates, readlink and access.
#include "state.hpp"

namespace memfs {

namespace {

// Whether a mode change only removes setuid/setgid. Without FUSE_CAP_HANDLE_KILLPRIV the
// kernel clears them after a write or truncate by sending a SETATTR(mode) with the
// writer's credentials, owner or not (ATTR_FORCE skipped its own checks), and nothing
// marks it as such: a writer may therefore drop these bits, never set or keep others.
bool drops_privileges_only(const Inode& inode, const EntryAttributes& attr) {
  mode_t old_mode = inode.mode & 07777;
  mode_t new_mode = attr.st_mode & 07777;
  mode_t removed = old_mode & ~new_mode;
  return new_mode != old_mode && (new_mode & ~old_mode) == 0 && (removed & ~(S_ISUID | S_ISGID)) == 0;
}

// Whether tmpfs would kill setgid in this chown: chown_common() asks setattr_should_drop_sgid()
// and notify_change() makes it a mode change. FUSE's fuse_setattr() forwards that mode only
// for setgid with group execute, so a setgid file without it, whose caller is outside its
// group, reaches us as a SETATTR with no mode, size or time (chown(-1, -1) has no field at all).
bool chown_kills_setgid(const Inode& inode, const fusepp::SetattrFields& fields, const Caller& caller) {
  if (fields.update_mode() || fields.update_size() || fields.update_atime() || fields.update_mtime()) return false;
  return !inode.is_dir() && !caller.is_root() && (inode.mode & (S_ISGID | S_IXGRP)) == S_ISGID &&
         !caller.in_group(inode.gid);
}

// The checks setattr_prepare() makes in the kernel; without default_permissions the kernel
// skips them (ATTR_FORCE), so they are memfs's job.
int check_setattr(const State& state, const Inode& inode, const EntryAttributes& attr,
                  const fusepp::SetattrFields& fields, bool via_open_file, const Caller& caller) {
  bool owner = caller.is_root() || caller.uid == inode.uid;
  if (fields.update_size() && !via_open_file && !state.may(inode, W_OK, caller)) return EACCES;
  // chown_ok() / chgrp_ok(): only root gives a file away; the owner may pick one of
  // their own groups.
  if (fields.update_uid() && !caller.is_root() && !(owner && attr.st_uid == inode.uid)) {
    return EPERM;
  }
  if (fields.update_gid() && !caller.is_root() &&
      !(owner && (attr.st_gid == inode.gid || caller.in_group(attr.st_gid)))) {
    return EPERM;
  }
  // A non-owner's kill is a writer's (file_remove_privs(), with ATTR_FORCE on tmpfs) when the
  // file is open for writing or the request truncates (permission checked above); anything
  // else is a chown whose kill tmpfs refuses. The permission to write is no sign: a
  // descriptor opened earlier outlives it.
  // Asked only for a non-owner: finding an open write handle scans the open files.
  if (!owner) {
    const bool writer = fields.update_size() || state.open_for_writing(inode);
    if (fields.update_mode() && !(drops_privileges_only(inode, attr) && writer)) return EPERM;
    if (chown_kills_setgid(inode, fields, caller) && !writer) return EPERM;
  }
  bool explicit_time =
      (fields.update_atime() && !fields.update_atime_now()) || (fields.update_mtime() && !fields.update_mtime_now());
  bool time_now = fields.update_atime_now() || fields.update_mtime_now();
  if (explicit_time && !owner) return EPERM;
  if (time_now && !owner && !state.may(inode, W_OK, caller)) return EACCES;
  return 0;
}

}  // namespace

Reply<EntryAttributes> MemFs::getattr(InodeT inode_id, const RequestContext&) {
  State& state = *state_;
  std::lock_guard lock(state.mutex);
  Inode* inode = state.find(inode_id);
  if (!inode) co_return FUSEError(ENOENT);
  co_return state.attributes(*inode);
}

Reply<EntryAttributes> MemFs::setattr(InodeT inode_id, const EntryAttributes& attr, const fusepp::SetattrFields& fields,
                                      std::optional<fusepp::FileHandleT> fh, const RequestContext& ctx) {
  State& state = *state_;
  Caller caller(ctx);
  std::lock_guard lock(state.mutex);
  Inode* found = state.find(inode_id);
  if (!found) co_return FUSEError(ENOENT);
  Inode& inode = *found;
  if (int err = check_setattr(state, inode, attr, fields, fh.has_value(), caller)) {
    co_return FUSEError(err);
  }
  if (fields.update_size()) {
    if (inode.is_dir()) co_return FUSEError(EISDIR);
    if (!inode.is_reg()) co_return FUSEError(EINVAL);
    if (attr.st_size < 0) co_return FUSEError(EINVAL);
  }

  int64_t now = now_ns();
  // truncate(2) to the current size of a file that holds no pages changes nothing on tmpfs
  // (shmem_setattr() marks the times when the size changes, shmem_undo_range() when pages
  // are held); ftruncate(2) and O_TRUNC, which come with a file handle, always mark them.
  // The same holds when the kernel kills setuid in that request (truncate(2) by a non-root
  // owner): tmpfs clears the bit and marks no time at all.
  const bool size_changes = fields.update_size() && attr.st_size != inode.size;
  const bool same_size_only = fields.update_size() && !size_changes && inode.page_count() == 0 && !fh &&
                              !fields.update_atime() && !fields.update_mtime() && !fields.update_ctime();
  if (fields.update_size()) {
    state.resize(inode, attr.st_size);
    if (!same_size_only) inode.mtime_ns = now;
  }
  if (fields.update_mode()) {
    mode_t mode = attr.st_mode & 07777;
    gid_t group = fields.update_gid() ? attr.st_gid : inode.gid;
    // setattr_prepare(): without CAP_FSETID only members of the file's group keep setgid.
    if ((mode & S_ISGID) && !caller.is_root() && !caller.in_group(group)) mode &= ~S_ISGID;
    inode.mode = (inode.mode & S_IFMT) | mode;
  }
  // A truncate by a caller outside the file's group also loses setgid without group
  // execute (setattr_should_drop_sgid()); the kernel's FUSE path only kills setgid with
  // group execute, so that part is ours. With a mode in the request the chmod rule above
  // has already done it.
  if (fields.update_size() && !fields.update_mode() && !caller.is_root() && !caller.in_group(inode.gid)) {
    inode.mode &= ~S_ISGID;
  }
  if (chown_kills_setgid(inode, fields, caller)) inode.mode &= ~S_ISGID;
  if (fields.update_uid()) inode.uid = attr.st_uid;
  if (fields.update_gid()) inode.gid = attr.st_gid;
  if (fields.update_atime()) inode.atime_ns = fields.update_atime_now() ? now : attr.st_atime_ns;
  if (fields.update_mtime()) inode.mtime_ns = fields.update_mtime_now() ? now : attr.st_mtime_ns;
  // tmpfs changes ctime on every setattr, chown(-1, -1) included (it reaches us with no
  // fields set); an explicit ctime only comes from writeback-cache mounts.
  if (!same_size_only) inode.ctime_ns = fields.update_ctime() ? attr.st_ctime_ns : now;
  co_return state.attributes(inode);
}

Reply<std::string> MemFs::readlink(InodeT inode_id, const RequestContext&) {
  State& state = *state_;
  std::lock_guard lock(state.mutex);
  Inode* inode = state.find(inode_id);
  if (!inode) co_return FUSEError(ENOENT);
  if (!inode->is_symlink()) co_return FUSEError(EINVAL);
  state.touch_atime(*inode);
  co_return inode->symlink_target;
}

Reply<bool> MemFs::access(InodeT inode_id, int mode, const RequestContext& ctx) {
  State& state = *state_;
  Caller caller(ctx);
  std::lock_guard lock(state.mutex);
  Inode* inode = state.find(inode_id);
  if (!inode) co_return FUSEError(ENOENT);
  if (mode == F_OK) co_return true;
  co_return state.may(*inode, mode & (R_OK | W_OK | X_OK), caller);
}

}  // namespace memfs
