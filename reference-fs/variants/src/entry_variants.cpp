// Variants with one name-operation bug each: timestamps rename, link and unlink forget,
// directory link counts after a move, name and symlink length limits, a rename that leaves
// the old name, rmdir of a non-empty directory, RENAME_EXCHANGE done as a move, mkdir
// ignoring its mode.
#include "catalog.hpp"

namespace memfs::variants {

using fusepp::EntryAttributes;
using fusepp::FlagT;
using fusepp::FUSEError;
using fusepp::InodeT;
using fusepp::Reply;
using fusepp::RequestContext;

namespace {

// Lets memfs's rename run, then, if it succeeded, puts back what remember() saved before it.
class RenameRestoringFs : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<void> rename(InodeT parent_old, std::string_view name_old, InodeT parent_new, std::string_view name_new,
                     FlagT flags, const RequestContext& ctx) override {
    auto restore = with_state([&](State& state) { return remember(state, parent_old, name_old, parent_new); });
    auto result = co_await VariantFs::rename(parent_old, name_old, parent_new, name_new, flags, ctx);
    if (result && restore) with_state(restore);
    co_return result;
  }

 protected:
  using Restore = std::function<void(State&)>;  // empty: nothing to put back
  virtual Restore remember(State& state, InodeT parent_old, std::string_view name_old, InodeT parent_new) = 0;
};

// rename leaves the moved inode's ctime alone.
class RenameKeepsCtime : public RenameRestoringFs {
  using RenameRestoringFs::RenameRestoringFs;
  Restore remember(State& state, InodeT parent_old, std::string_view name_old, InodeT) override {
    Inode* source = child(state, parent_old, name_old);
    if (!source) return {};
    return [ino = source->ino, ctime = source->ctime_ns](State& state) {
      if (Inode* moved = state.find(ino)) moved->ctime_ns = ctime;
    };
  }
};

// link leaves the linked inode's ctime alone.
class LinkKeepsCtime : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<EntryAttributes> link(InodeT inode, InodeT parent, std::string_view name, const RequestContext& ctx) override {
    auto ctime = with_state([&](State& state) {
      Inode* source = state.find(inode);
      return source ? source->ctime_ns : 0;
    });
    auto result = co_await VariantFs::link(inode, parent, name, ctx);
    if (result) {
      with_state([&](State& state) {
        if (Inode* source = state.find(inode)) source->ctime_ns = ctime;
      });
      result->st_ctime_ns = ctime;
    }
    co_return result;
  }
};

// unlink leaves the directory's mtime and ctime alone.
class UnlinkKeepsParentMtime : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<void> unlink(InodeT parent, std::string_view name, const RequestContext& ctx) override {
    auto times = with_state([&](State& state) {
      Inode* dir = state.find(parent);
      return dir ? std::pair{dir->mtime_ns, dir->ctime_ns} : std::pair{int64_t{0}, int64_t{0}};
    });
    auto result = co_await VariantFs::unlink(parent, name, ctx);
    if (result) {
      with_state([&](State& state) {
        if (Inode* dir = state.find(parent)) std::tie(dir->mtime_ns, dir->ctime_ns) = times;
      });
    }
    co_return result;
  }
};

// Moving a subdirectory to another directory leaves both parents' st_nlink as they were.
class DirNlinkAfterMove : public RenameRestoringFs {
  using RenameRestoringFs::RenameRestoringFs;
  Restore remember(State& state, InodeT parent_old, std::string_view, InodeT parent_new) override {
    if (parent_old == parent_new) return {};
    Inode* old_dir = state.find(parent_old);
    Inode* new_dir = state.find(parent_new);
    return [=, old_nlink = old_dir ? old_dir->nlink : 0, new_nlink = new_dir ? new_dir->nlink : 0](State& state) {
      if (Inode* dir = state.find(parent_old)) dir->nlink = old_nlink;
      if (Inode* dir = state.find(parent_new)) dir->nlink = new_nlink;
    };
  }
};

// Names of 255 bytes, which NAME_MAX allows, are refused with ENAMETOOLONG.
class NameMax254 : public VariantFs {
 public:
  using VariantFs::VariantFs;
  static constexpr size_t kLimit = 254;
  Reply<EntryAttributes> mknod(InodeT parent, std::string_view name, fusepp::ModeT mode, dev_t rdev,
                               const RequestContext& ctx) override {
    if (name.size() > kLimit) co_return FUSEError(ENAMETOOLONG);
    co_return co_await VariantFs::mknod(parent, name, mode, rdev, ctx);
  }
  Reply<EntryAttributes> mkdir(InodeT parent, std::string_view name, fusepp::ModeT mode,
                               const RequestContext& ctx) override {
    if (name.size() > kLimit) co_return FUSEError(ENAMETOOLONG);
    co_return co_await VariantFs::mkdir(parent, name, mode, ctx);
  }
  Reply<EntryAttributes> symlink(InodeT parent, std::string_view name, std::string_view target,
                                 const RequestContext& ctx) override {
    if (name.size() > kLimit) co_return FUSEError(ENAMETOOLONG);
    co_return co_await VariantFs::symlink(parent, name, target, ctx);
  }
  Reply<std::pair<fusepp::FileInfo, EntryAttributes>> create(InodeT parent, std::string_view name, fusepp::ModeT mode,
                                                             FlagT flags, const RequestContext& ctx) override {
    if (name.size() > kLimit) co_return FUSEError(ENAMETOOLONG);
    co_return co_await VariantFs::create(parent, name, mode, flags, ctx);
  }
  Reply<EntryAttributes> link(InodeT inode, InodeT parent, std::string_view name, const RequestContext& ctx) override {
    if (name.size() > kLimit) co_return FUSEError(ENAMETOOLONG);
    co_return co_await VariantFs::link(inode, parent, name, ctx);
  }
  Reply<void> rename(InodeT parent_old, std::string_view name_old, InodeT parent_new, std::string_view name_new,
                     FlagT flags, const RequestContext& ctx) override {
    if (name_new.size() > kLimit) co_return FUSEError(ENAMETOOLONG);
    co_return co_await VariantFs::rename(parent_old, name_old, parent_new, name_new, flags, ctx);
  }
};

// Renaming a file (not over anything, no flags) adds the new name but keeps the old one.
class RenameKeepsOldName : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<void> rename(InodeT parent_old, std::string_view name_old, InodeT parent_new, std::string_view name_new,
                     FlagT flags, const RequestContext& ctx) override {
    std::string old_name(name_old);
    auto moved = with_state([&](State& state) {
      Inode* source = child(state, parent_old, name_old);
      bool plain = flags == 0 && source && !source->is_dir() && !child(state, parent_new, name_new);
      return plain ? source->ino : uint64_t{0};
    });
    auto result = co_await VariantFs::rename(parent_old, name_old, parent_new, name_new, flags, ctx);
    if (result && moved) {
      with_state([&](State& state) {
        Inode* dir = state.find_dir(parent_old);
        Inode* inode = state.find(moved);
        if (dir && inode && !dir->dir->find(old_name) && state.reserve_ispace(kInodeSpaceUnit)) {
          state.add_name(*dir, old_name, *inode);
        }
      });
    }
    co_return result;
  }
};

// rmdir of a non-empty directory succeeds; what it held becomes unreachable.
class RmdirNonEmpty : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<void> rmdir(InodeT parent, std::string_view name, const RequestContext& ctx) override {
    auto result = co_await VariantFs::rmdir(parent, name, ctx);
    if (result.error() != ENOTEMPTY || name == "..") co_return result;
    co_return with_state([&](State& state) -> fusepp::Result<void> {
      Inode* dir = state.find_dir(parent);
      Inode* victim = child(state, parent, name);
      if (!dir || !victim) return FUSEError(ENOENT);
      state.remove_name(*dir, name, *victim);
      victim->ctime_ns = dir->mtime_ns = dir->ctime_ns = now_ns();
      return fusepp::ok;
    });
  }
};

// Symlink targets longer than 1023 bytes are refused (tmpfs takes up to 4095).
class SymlinkMax1023 : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<EntryAttributes> symlink(InodeT parent, std::string_view name, std::string_view target,
                                 const RequestContext& ctx) override {
    if (target.size() > 1023) co_return FUSEError(ENAMETOOLONG);
    co_return co_await VariantFs::symlink(parent, name, target, ctx);
  }
};

// RENAME_EXCHANGE is done as a plain rename: the destination is replaced, not swapped.
class ExchangeAsMove : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<void> rename(InodeT parent_old, std::string_view name_old, InodeT parent_new, std::string_view name_new,
                     FlagT flags, const RequestContext& ctx) override {
    FlagT without_exchange{flags.value & ~static_cast<int32_t>(RENAME_EXCHANGE)};
    co_return co_await VariantFs::rename(parent_old, name_old, parent_new, name_new, without_exchange, ctx);
  }
};

// mkdir ignores the mode asked for and makes every directory 0755.
class MkdirIgnoresMode : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<EntryAttributes> mkdir(InodeT parent, std::string_view name, fusepp::ModeT,
                               const RequestContext& ctx) override {
    co_return co_await VariantFs::mkdir(parent, name, fusepp::ModeT{0755}, ctx);
  }
};

}  // namespace

std::vector<CatalogEntry> namespace_variants() {
  return {
      entry<RenameKeepsCtime>("rename-keeps-ctime", "timestamps", "rename does not update the moved inode's ctime"),
      entry<LinkKeepsCtime>("link-keeps-ctime", "timestamps", "link does not update the inode's ctime"),
      entry<UnlinkKeepsParentMtime>("unlink-keeps-parent-mtime", "timestamps",
                                    "unlink does not update the directory's mtime and ctime"),
      entry<DirNlinkAfterMove>("dir-nlink-after-move", "directory nlink",
                               "moving a subdirectory leaves both parents' st_nlink unchanged"),
      entry<NameMax254>("name-max-254", "name-length limits", "names of 255 bytes get ENAMETOOLONG"),
      entry<RenameKeepsOldName>("rename-keeps-old-name", "rename", "renaming a file keeps the old name too"),
      entry<RmdirNonEmpty>("rmdir-nonempty", "rmdir", "rmdir of a non-empty directory succeeds"),
      entry<SymlinkMax1023>("symlink-max-1023", "long symlink targets",
                            "symlink targets over 1023 bytes get ENAMETOOLONG"),
      entry<ExchangeAsMove>("exchange-as-move", "crude", "RENAME_EXCHANGE replaces the destination"),
      entry<MkdirIgnoresMode>("mkdir-ignores-mode", "crude", "mkdir makes every directory 0755"),
  };
}

}  // namespace memfs::variants
