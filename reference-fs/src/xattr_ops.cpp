// memfs extended attributes with tmpfs's rules: user.* only on regular files and
// directories (and not by strangers in sticky directories), trusted.* only for root,
// security.* writable by root only, everything charged to the inode space (ENOSPC).
#include <sys/xattr.h>

#include <ranges>

#include "state.hpp"

namespace memfs {

namespace {

// The inode's attribute map (see Inode::xattrs in state.hpp).
using XattrMap = std::map<std::string, std::string, std::less<>>;

enum class Namespace { user, trusted, security, unsupported, invalid };

Namespace namespace_of(std::string_view name) {
  for (auto [prefix, ns] : {std::pair{std::string_view("user."), Namespace::user},
                            std::pair{std::string_view("trusted."), Namespace::trusted},
                            std::pair{std::string_view("security."), Namespace::security}}) {
    if (name.starts_with(prefix)) return name.size() == prefix.size() ? Namespace::invalid : ns;
  }
  return Namespace::unsupported;
}

// xattr_permission() and the capability hooks, for the calls the kernel would make:
// returns 0 or the errno of the first refusal.
int check_xattr(const State& state, const Inode& inode, Namespace ns, bool write, const Caller& caller) {
  switch (ns) {
    case Namespace::invalid: return EINVAL;
    case Namespace::unsupported: return EOPNOTSUPP;
    case Namespace::trusted: return caller.is_root() ? 0 : (write ? EPERM : ENODATA);
    case Namespace::security: return (write && !caller.is_root()) ? EPERM : 0;
    case Namespace::user: break;
  }
  if (!inode.is_reg() && !inode.is_dir()) return write ? EPERM : ENODATA;
  if (write && inode.is_dir() && (inode.mode & S_ISVTX) && !caller.is_root() && caller.uid != inode.uid) {
    return EPERM;
  }
  return state.may(inode, write ? W_OK : R_OK, caller) ? 0 : EACCES;
}

uint64_t xattr_space(std::string_view name, std::string_view value) {
  return kXattrOverhead + name.size() + value.size();
}

// An attribute that exists, with the inode holding it.
struct FoundXattr {
  Inode* inode;
  XattrMap::iterator it;
};

// The lookup getxattr and removexattr share: the inode, a valid name, permission for
// reading (or writing), then the attribute itself.
fusepp::Result<FoundXattr> find_xattr(State& state, InodeT inode_id, std::string_view name, bool write,
                                      const Caller& caller) {
  Inode* inode = state.find(inode_id);
  if (!inode) return FUSEError(ENOENT);
  if (name.empty() || name.size() > kXattrNameMax) return FUSEError(ERANGE);
  if (int err = check_xattr(state, *inode, namespace_of(name), write, caller)) return FUSEError(err);
  if (!inode->xattrs) return FUSEError(ENODATA);
  auto it = inode->xattrs->find(name);
  if (it == inode->xattrs->end()) return FUSEError(ENODATA);
  return FoundXattr{inode, it};
}

}  // namespace

Reply<void> MemFs::setxattr(InodeT inode_id, std::string_view name, std::string_view value, fusepp::FlagT flags,
                            const RequestContext& ctx) {
  State& state = *state_;
  Caller caller(ctx);
  std::lock_guard lock(state.mutex);
  Inode* inode = state.find(inode_id);
  if (!inode) co_return FUSEError(ENOENT);
  if (name.empty() || name.size() > kXattrNameMax) co_return FUSEError(ERANGE);
  if (value.size() > kXattrSizeMax) co_return FUSEError(E2BIG);
  if (flags & ~(XATTR_CREATE | XATTR_REPLACE)) co_return FUSEError(EINVAL);
  if (int err = check_xattr(state, *inode, namespace_of(name), true, caller)) co_return FUSEError(err);
  if (!inode->xattrs) inode->xattrs = std::make_unique<std::map<std::string, std::string, std::less<>>>();
  auto existing = inode->xattrs->find(name);
  if ((flags & XATTR_CREATE) && existing != inode->xattrs->end()) co_return FUSEError(EEXIST);
  if ((flags & XATTR_REPLACE) && existing == inode->xattrs->end()) co_return FUSEError(ENODATA);
  if (!state.reserve_ispace(xattr_space(name, value))) co_return FUSEError(ENOSPC);
  if (existing != inode->xattrs->end()) {
    state.release_ispace(xattr_space(name, existing->second));
    existing->second = value;
  } else {
    inode->xattrs->emplace(name, value);
  }
  inode->ctime_ns = now_ns();
  co_return fusepp::ok;
}

Reply<std::string> MemFs::getxattr(InodeT inode_id, std::string_view name, const RequestContext& ctx) {
  State& state = *state_;
  std::lock_guard lock(state.mutex);
  auto found = find_xattr(state, inode_id, name, /*write=*/false, Caller(ctx));
  if (!found) co_return FUSEError(found.error());
  co_return found->it->second;
}

Reply<std::vector<std::string>> MemFs::listxattr(InodeT inode_id, const RequestContext& ctx) {
  State& state = *state_;
  Caller caller(ctx);
  std::lock_guard lock(state.mutex);
  Inode* inode = state.find(inode_id);
  if (!inode) co_return FUSEError(ENOENT);
  std::vector<std::string> names;
  if (inode->xattrs) {
    // tmpfs lists names in descending byte order; the map holds them ascending. (Reverse
    // iterators, not ranges::reverse_view, which clang 14 cannot use with libstdc++ 12.)
    for (auto it = inode->xattrs->rbegin(); it != inode->xattrs->rend(); ++it) {
      const std::string& name = it->first;
      // simple_xattr_list(): trusted.* names are only shown to CAP_SYS_ADMIN.
      if (namespace_of(name) == Namespace::trusted && !caller.is_root()) continue;
      names.push_back(name);
    }
  }
  co_return names;
}

Reply<void> MemFs::removexattr(InodeT inode_id, std::string_view name, const RequestContext& ctx) {
  State& state = *state_;
  std::lock_guard lock(state.mutex);
  auto found = find_xattr(state, inode_id, name, /*write=*/true, Caller(ctx));
  if (!found) co_return FUSEError(found.error());
  auto [inode, it] = *found;
  state.release_ispace(xattr_space(name, it->second));
  inode->xattrs->erase(it);
  inode->ctime_ns = now_ns();
  co_return fusepp::ok;
}

}  // namespace memfs
