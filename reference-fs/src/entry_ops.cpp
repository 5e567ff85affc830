// memfs name operations: lookup/forget (the kernel's references), creation of every inode
// type, unlink/rmdir, rename with tmpfs's flags and loop rules, and hard links. Each handler
// takes the filesystem lock for its whole body and never suspends.
#include <fstream>

#include "state.hpp"

namespace memfs {

namespace {

// A name about to be removed (unlink, rmdir): its directory, which the caller may modify,
// and the inode it names.
struct NameToRemove {
  Inode* parent;
  Inode* victim;
};

fusepp::Result<NameToRemove> name_to_remove(State& state, uint64_t parent_ino, std::string_view name,
                                            const Caller& caller) {
  if (name.size() > kNameMax) return FUSEError(ENAMETOOLONG);
  Inode* parent = state.find_dir(parent_ino);
  if (!parent) return FUSEError(ENOTDIR);
  if (int err = state.check_modify(*parent, caller)) return FUSEError(err);
  const DirEntry* entry = parent->dir->find(name);
  if (!entry) return FUSEError(ENOENT);
  return NameToRemove{parent, state.find(entry->ino)};
}

// A plain function, not a coroutine: mknod, mkdir and symlink co_return its result without
// a second coroutine frame.
fusepp::Result<EntryAttributes> make_node(State& state, uint64_t parent_ino, std::string_view name, mode_t mode,
                                          dev_t rdev, std::string_view symlink_target, const Caller& caller) {
  std::lock_guard lock(state.mutex);
  auto parent = state.parent_for_new_name(parent_ino, name, caller);
  if (!parent) return FUSEError(parent.error());
  bool long_symlink = S_ISLNK(mode) && symlink_target.size() >= kShortSymlinkLen;
  if (long_symlink && state.pages_in_use() >= state.max_pages) return FUSEError(ENOSPC);
  auto created = state.create_inode(**parent, name, mode, caller);
  if (!created) return FUSEError(created.error());
  Inode& inode = **created;
  if (S_ISCHR(mode) || S_ISBLK(mode)) inode.rdev = rdev;
  if (S_ISLNK(mode)) {
    inode.symlink_target = symlink_target;
    inode.size = static_cast<int64_t>(symlink_target.size());
    if (long_symlink) state.used_pages++;
  }
  (*parent)->mtime_ns = (*parent)->ctime_ns = inode.ctime_ns;
  return state.reference(inode);
}

// fs.protected_hardlinks (on by default): only the owner may link a file they could not
// open for reading and writing, or a setuid / executable setgid file.
bool protected_hardlinks_enabled() {
  std::ifstream sysctl("/proc/sys/fs/protected_hardlinks");
  int value = 1;
  sysctl >> value;
  return value != 0;
}

bool may_link(const State& state, const Inode& source, const Caller& caller) {
  if (caller.is_root() || caller.uid == source.uid || !protected_hardlinks_enabled()) return true;
  if (!source.is_reg() || (source.mode & S_ISUID)) return false;
  if ((source.mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)) return false;
  return state.may(source, R_OK | W_OK, caller);
}

bool is_ancestor(State& state, uint64_t ancestor, uint64_t ino) {
  for (;;) {
    if (ino == ancestor) return true;
    if (ino == fusepp::ROOT_INODE) return false;
    Inode* dir = state.find(ino);
    if (!dir || !dir->dir) return false;
    ino = dir->dir->parent;
  }
}

// Removes a name whose inode is going away from this directory (unlink, rmdir, or the
// target of a rename), with tmpfs's timestamps and inode-space refund for extra links.
void drop_name(State& state, Inode& parent, std::string_view name, Inode& victim, int64_t now) {
  bool extra_link = !victim.is_dir() && victim.nlink > 1;
  state.remove_name(parent, name, victim);
  if (extra_link) state.release_ispace(kInodeSpaceUnit);
  if (victim.nlink == 0 && State::holds_space(victim)) state.pin_parent(victim, parent);
  victim.ctime_ns = now;
  parent.mtime_ns = parent.ctime_ns = now;
}

}  // namespace

Reply<EntryAttributes> MemFs::lookup(InodeT parent_inode, std::string_view name, const RequestContext& ctx) {
  State& state = *state_;
  Caller caller(ctx);
  std::lock_guard lock(state.mutex);
  if (name.size() > kNameMax) co_return FUSEError(ENAMETOOLONG);
  Inode* parent = state.find(parent_inode);
  if (!parent) co_return FUSEError(ENOENT);
  // open_by_handle_at of a node the kernel forgot asks for "." in that node, whatever its
  // type (fs/fuse/inode.c fuse_get_dentry()): a file or symlink is found, not ENOTDIR (ESTALE).
  // An unlinked one is closed everywhere, since the kernel holds no inode of it, so tmpfs has
  // freed it: not found (ESTALE), although its FORGET may still be on the way.
  if (name == "." && parent->nlink == 0) co_return FUSEError(ENOENT);
  if (name == ".") co_return state.reference(*parent);
  if (!parent->is_dir()) co_return FUSEError(ENOTDIR);
  if (int err = state.check_search(*parent, caller)) co_return FUSEError(err);
  uint64_t ino;
  if (name == "..") {
    ino = parent->dir->parent;
  } else {
    const DirEntry* entry = parent->dir->find(name);
    if (!entry) co_return FUSEError(ENOENT);
    ino = entry->ino;
  }
  co_return state.reference(*state.find(ino));
}

boost::asio::awaitable<void> MemFs::forget(std::vector<fusepp::ForgetRequest> inode_list) {
  State& state = *state_;
  std::lock_guard lock(state.mutex);
  for (const auto& [inode_id, nlookup] : inode_list) {
    Inode* inode = state.find(inode_id);
    if (!inode) {
      state.excess_forgets += nlookup;  // freed while the kernel still held it
      continue;
    }
    if (nlookup > inode->lookup_count) state.excess_forgets += nlookup - inode->lookup_count;
    inode->lookup_count -= std::min(inode->lookup_count, nlookup);
    state.release_if_unreferenced(*inode);
  }
  co_return;
}

void MemFs::forget_all_references() {
  std::lock_guard lock(state_->mutex);
  std::vector<Inode*> unlinked;
  for (auto& [ino, inode] : state_->inodes) {
    inode.lookup_count = ino == fusepp::ROOT_INODE ? 1 : 0;
    if (inode.nlink == 0) unlinked.push_back(&inode);
  }
  for (Inode* inode : unlinked) state_->release_if_unreferenced(*inode);
}

Reply<EntryAttributes> MemFs::mknod(InodeT parent_inode, std::string_view name, fusepp::ModeT mode, dev_t rdev,
                                    const RequestContext& ctx) {
  mode_t type = mode & S_IFMT;
  if (type == 0) type = S_IFREG;  // mknod(2): a zero file type means a regular file
  if (type != S_IFREG && type != S_IFCHR && type != S_IFBLK && type != S_IFIFO && type != S_IFSOCK) {
    co_return FUSEError(EINVAL);
  }
  co_return make_node(*state_, parent_inode, name, type | (mode & 07777), rdev, {}, Caller(ctx));
}

Reply<EntryAttributes> MemFs::mkdir(InodeT parent_inode, std::string_view name, fusepp::ModeT mode,
                                    const RequestContext& ctx) {
  co_return make_node(*state_, parent_inode, name, S_IFDIR | (mode & 07777), 0, {}, Caller(ctx));
}

Reply<EntryAttributes> MemFs::symlink(InodeT parent_inode, std::string_view name, std::string_view target,
                                      const RequestContext& ctx) {
  if (target.size() + 1 > kPageSize) co_return FUSEError(ENAMETOOLONG);  // tmpfs: one page
  co_return make_node(*state_, parent_inode, name, S_IFLNK | 0777, 0, target, Caller(ctx));
}

Reply<void> MemFs::unlink(InodeT parent_inode, std::string_view name, const RequestContext& ctx) {
  State& state = *state_;
  Caller caller(ctx);
  std::lock_guard lock(state.mutex);
  auto found = name_to_remove(state, parent_inode, name, caller);
  if (!found) co_return FUSEError(found.error());
  auto [parent, victim_ptr] = *found;
  Inode& victim = *victim_ptr;
  if (victim.is_dir()) co_return FUSEError(EISDIR);
  if (!state.may_delete_in(*parent, victim, caller)) co_return FUSEError(EPERM);
  drop_name(state, *parent, name, victim, now_ns());
  state.release_if_unreferenced(victim);
  co_return fusepp::ok;
}

Reply<void> MemFs::rmdir(InodeT parent_inode, std::string_view name, const RequestContext& ctx) {
  State& state = *state_;
  Caller caller(ctx);
  std::lock_guard lock(state.mutex);
  if (name == ".") co_return FUSEError(EINVAL);
  if (name == "..") co_return FUSEError(ENOTEMPTY);
  auto found = name_to_remove(state, parent_inode, name, caller);
  if (!found) co_return FUSEError(found.error());
  auto [parent, victim_ptr] = *found;
  Inode& victim = *victim_ptr;
  if (!victim.is_dir()) co_return FUSEError(ENOTDIR);
  if (!state.may_delete_in(*parent, victim, caller)) co_return FUSEError(EPERM);
  if (!victim.dir->empty()) co_return FUSEError(ENOTEMPTY);
  drop_name(state, *parent, name, victim, now_ns());
  state.release_if_unreferenced(victim);
  co_return fusepp::ok;
}

Reply<void> MemFs::rename(InodeT parent_inode_old, std::string_view name_old, InodeT parent_inode_new,
                          std::string_view name_new, fusepp::FlagT flags, const RequestContext& ctx) {
  State& state = *state_;
  Caller caller(ctx);
  std::lock_guard lock(state.mutex);
  const int known = RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT;
  if (flags & ~known) co_return FUSEError(EINVAL);
  if ((flags & RENAME_EXCHANGE) && (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT))) {
    co_return FUSEError(EINVAL);
  }
  if (name_old.size() > kNameMax || name_new.size() > kNameMax) co_return FUSEError(ENAMETOOLONG);
  Inode* old_parent = state.find_dir(parent_inode_old);
  Inode* new_parent = state.find_dir(parent_inode_new);
  if (!old_parent || !new_parent) co_return FUSEError(ENOTDIR);
  if (int err = state.check_modify(*old_parent, caller)) co_return FUSEError(err);
  if (int err = state.check_modify(*new_parent, caller)) co_return FUSEError(err);
  const DirEntry* old_entry = old_parent->dir->find(name_old);
  if (!old_entry) co_return FUSEError(ENOENT);
  Inode& source = *state.find(old_entry->ino);
  const DirEntry* new_entry = new_parent->dir->find(name_new);
  Inode* target = new_entry ? state.find(new_entry->ino) : nullptr;
  bool exchange = flags & RENAME_EXCHANGE;

  if (exchange && !target) co_return FUSEError(ENOENT);
  if ((flags & RENAME_NOREPLACE) && target) co_return FUSEError(EEXIST);
  if (new_parent->nlink == 0) co_return FUSEError(ENOENT);
  // Moving a directory under itself; for an exchange, either way round.
  if (source.is_dir() && is_ancestor(state, source.ino, new_parent->ino)) co_return FUSEError(EINVAL);
  if (exchange && target->is_dir() && is_ancestor(state, target->ino, old_parent->ino)) {
    co_return FUSEError(EINVAL);
  }
  if (target == &source) co_return fusepp::ok;  // two names of one inode: POSIX says do nothing
  if (target && !exchange) {
    if (source.is_dir() && !target->is_dir()) co_return FUSEError(ENOTDIR);
    if (!source.is_dir() && target->is_dir()) co_return FUSEError(EISDIR);
    // The target being an ancestor of the source means it is not empty.
    if (target->is_dir() && !target->dir->empty()) co_return FUSEError(ENOTEMPTY);
  }
  if (!state.may_delete_in(*old_parent, source, caller)) co_return FUSEError(EPERM);
  if (target && !state.may_delete_in(*new_parent, *target, caller)) co_return FUSEError(EPERM);
  // A directory changing parent rewrites its '..': that needs write access to it.
  if (old_parent != new_parent) {
    if (source.is_dir() && !state.may(source, W_OK, caller)) co_return FUSEError(EACCES);
    if (exchange && target->is_dir() && !state.may(*target, W_OK, caller)) {
      co_return FUSEError(EACCES);
    }
  }
  if ((flags & RENAME_WHITEOUT) && !caller.is_root()) co_return FUSEError(EPERM);  // CAP_MKNOD

  int64_t now = now_ns();
  if (exchange) {
    // Each name keeps its place in readdir order and now names the other inode.
    std::string old_name(name_old), new_name(name_new);
    old_parent->dir->retarget(old_name, target->ino);
    new_parent->dir->retarget(new_name, source.ino);
    if (old_parent != new_parent && source.is_dir() != target->is_dir()) {
      Inode& dir_moved_out = source.is_dir() ? *old_parent : *new_parent;
      Inode& dir_moved_in = source.is_dir() ? *new_parent : *old_parent;
      dir_moved_out.dir->subdirs--;
      dir_moved_out.nlink--;
      dir_moved_in.dir->subdirs++;
      dir_moved_in.nlink++;
    }
    if (source.is_dir()) source.dir->parent = new_parent->ino;
    if (target->is_dir()) target->dir->parent = old_parent->ino;
    source.ctime_ns = target->ctime_ns = now;
  } else {
    if ((flags & RENAME_WHITEOUT) && !state.reserve_ispace(kInodeSpaceUnit)) {
      co_return FUSEError(ENOSPC);
    }
    std::string old_name(name_old);  // the entry owning name_old's storage may be a victim
    if (target) {
      drop_name(state, *new_parent, name_new, *target, now);
      state.release_if_unreferenced(*target);
    }
    state.remove_name(*old_parent, old_name, source);
    state.add_name(*new_parent, name_new, source);
    source.ctime_ns = now;
    if (flags & RENAME_WHITEOUT) {
      // A whiteout is a 0:0 character device left at the old name (overlayfs's marker).
      state.release_ispace(kInodeSpaceUnit);
      auto whiteout = state.create_inode(*old_parent, old_name, S_IFCHR, caller);
      (*whiteout)->mode = S_IFCHR;
      (*whiteout)->ctime_ns = (*whiteout)->mtime_ns = (*whiteout)->atime_ns = now;
    }
  }
  old_parent->mtime_ns = old_parent->ctime_ns = now;
  new_parent->mtime_ns = new_parent->ctime_ns = now;
  co_return fusepp::ok;
}

Reply<EntryAttributes> MemFs::link(InodeT inode_id, InodeT new_parent_inode, std::string_view new_name,
                                   const RequestContext& ctx) {
  State& state = *state_;
  Caller caller(ctx);
  std::lock_guard lock(state.mutex);
  Inode* source = state.find(inode_id);
  if (!source) co_return FUSEError(ENOENT);
  if (source->is_dir()) co_return FUSEError(EPERM);
  auto parent = state.parent_for_new_name(new_parent_inode, new_name, caller);
  if (!parent) co_return FUSEError(parent.error());
  if (!may_link(state, *source, caller)) co_return FUSEError(EPERM);
  if (source->nlink == 0) co_return FUSEError(ENOENT);
  if (!state.reserve_ispace(kInodeSpaceUnit)) co_return FUSEError(ENOSPC);
  state.add_name(**parent, new_name, *source);
  int64_t now = now_ns();
  source->ctime_ns = now;
  (*parent)->mtime_ns = (*parent)->ctime_ns = now;
  co_return state.reference(*source);
}

}  // namespace memfs
