// Variants written for the fuzzer's catch-rate suite (docs/fuzzing.md), one bug each, in the
// classes that need several actors or a descriptor kept open: setgid directory inheritance,
// the owner of a symlink, the link count of an open unlinked file, truncate's timestamps,
// XATTR_REPLACE of a missing name, and data kept only while the kernel holds a node.
#include <sys/xattr.h>

#include <algorithm>

#include "catalog.hpp"

namespace memfs::variants {

using fusepp::EntryAttributes;
using fusepp::FileHandleT;
using fusepp::FlagT;
using fusepp::InodeT;
using fusepp::Reply;
using fusepp::RequestContext;
using fusepp::SetattrFields;

namespace {

// A new node's group is the creator's, even in a setgid directory (which should hand down
// its own group, and to subdirectories its setgid bit).
class SetgidDirNotInherited : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<EntryAttributes> mkdir(InodeT parent, std::string_view name, fusepp::ModeT mode,
                               const RequestContext& ctx) override {
    co_return regrouped(co_await VariantFs::mkdir(parent, name, mode, ctx), ctx);
  }
  Reply<std::pair<fusepp::FileInfo, EntryAttributes>> create(InodeT parent, std::string_view name, fusepp::ModeT mode,
                                                             FlagT flags, const RequestContext& ctx) override {
    auto result = co_await VariantFs::create(parent, name, mode, flags, ctx);
    if (result) result->second = *regrouped(result->second, ctx);
    co_return result;
  }

 private:
  fusepp::Result<EntryAttributes> regrouped(fusepp::Result<EntryAttributes> result, const RequestContext& ctx) {
    if (!result) return result;
    with_state([&](State& state) {
      Inode* made = state.find(result->st_ino);
      if (!made) return;
      made->gid = ctx.gid();
      made->mode &= ~static_cast<mode_t>(S_ISGID);
      const auto kept_timeouts = *result;
      *result = state.attributes(*made);
      result->entry_timeout = kept_timeouts.entry_timeout;
      result->attr_timeout = kept_timeouts.attr_timeout;
      result->generation = kept_timeouts.generation;
    });
    return result;
  }
};

// Symlinks are owned by root, whoever made them.
class SymlinkOwnedByRoot : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<EntryAttributes> symlink(InodeT parent, std::string_view name, std::string_view target,
                                 const RequestContext& ctx) override {
    auto result = co_await VariantFs::symlink(parent, name, target, ctx);
    if (result) {
      with_state([&](State& state) {
        Inode* made = state.find(result->st_ino);
        if (made) made->uid = made->gid = 0;
      });
      result->st_uid = result->st_gid = 0;
    }
    co_return result;
  }
};

// A regular file whose last name is gone still reports one link through its descriptor.
class UnlinkedNlinkOne : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<EntryAttributes> getattr(InodeT inode, const RequestContext& ctx) override {
    auto result = co_await VariantFs::getattr(inode, ctx);
    if (result && S_ISREG(result->st_mode) && result->st_nlink == 0) result->st_nlink = 1;
    co_return result;
  }
};

// truncate(2) changes the size but leaves mtime and ctime alone.
class TruncateKeepsMtime : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<EntryAttributes> setattr(InodeT inode, const EntryAttributes& attr, const SetattrFields& fields,
                                 std::optional<FileHandleT> fh, const RequestContext& ctx) override {
    auto before = with_state([&](State& state) {
      Inode* found = state.find(inode);
      return found ? std::optional(std::pair{found->mtime_ns, found->ctime_ns}) : std::nullopt;
    });
    auto result = co_await VariantFs::setattr(inode, attr, fields, fh, ctx);
    if (result && before && fields.update_size() && !fields.update_mtime()) {
      with_state([&](State& state) {
        Inode* found = state.find(inode);
        if (!found) return;
        found->mtime_ns = before->first;
        found->ctime_ns = before->second;
        *result = state.attributes(*found);
      });
    }
    co_return result;
  }
};

// setxattr with XATTR_REPLACE creates a missing name instead of failing with ENODATA.
class XattrReplaceCreates : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<void> setxattr(InodeT inode, std::string_view name, std::string_view value, FlagT flags,
                       const RequestContext& ctx) override {
    FlagT without_replace{flags.value & ~static_cast<int32_t>(XATTR_REPLACE)};
    co_return co_await VariantFs::setxattr(inode, name, value, without_replace, ctx);
  }
};

// A file's bytes live in a per-node cache that is dropped, unwritten, when the kernel forgets
// the node (its lookup count reaches 0): after the kernel's caches are dropped, a closed file
// reads as zeros. Only a step that makes the kernel forget (drop_caches, a remount) shows it.
class ForgetDropsData : public VariantFs {
 public:
  using VariantFs::VariantFs;
  boost::asio::awaitable<void> forget(std::vector<fusepp::ForgetRequest> inode_list) override {
    co_await VariantFs::forget(inode_list);
    with_state([&](State& state) {
      for (const auto& request : inode_list) {
        Inode* inode = state.find(request.inode);
        if (!inode || !inode->is_reg() || !inode->pages || inode->lookup_count != 0 || inode->open_count != 0) continue;
        for (auto& [index, page] : *inode->pages) std::fill_n(page.bytes(), kPageSize, '\0');
      }
    });
  }
};

}  // namespace

std::vector<CatalogEntry> fuzz_variants() {
  return {
      entry<SetgidDirNotInherited>("setgid-dir-not-inherited", "ownership",
                                   "files and directories made in a setgid directory get the creator's group"),
      entry<SymlinkOwnedByRoot>("symlink-owned-by-root", "ownership", "symlinks are owned by root, whoever made them"),
      entry<UnlinkedNlinkOne>("unlinked-nlink-one", "open-unlinked files",
                              "an open file whose last name was unlinked reports st_nlink 1, not 0"),
      entry<TruncateKeepsMtime>("truncate-keeps-mtime", "timestamps", "truncate(2) does not update mtime and ctime"),
      entry<XattrReplaceCreates>("xattr-replace-creates", "xattr flags",
                                 "setxattr with XATTR_REPLACE of a missing name creates it"),
      entry<ForgetDropsData>("forget-drops-data", "lookup counting",
                             "a file's bytes are dropped when the kernel forgets its node (lookup count 0)"),
  };
}

}  // namespace memfs::variants
