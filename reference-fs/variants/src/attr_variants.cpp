// Variants with one attribute bug each: timestamps a setattr forgets or misplaces, ownership
// changes that keep setuid or clobber the other id, st_blocks and st_nlink computed wrongly,
// chmod losing the file type, mknod losing the device number.
#include "catalog.hpp"

namespace memfs::variants {

using fusepp::EntryAttributes;
using fusepp::FileHandleT;
using fusepp::InodeT;
using fusepp::Reply;
using fusepp::RequestContext;
using fusepp::SetattrFields;

namespace {

// A variant whose bug is only in the attributes it reports: every reply carrying
// attributes goes through patch() (READDIRPLUS entries excepted).
class AttrPatchingFs : public VariantFs {
 public:
  using VariantFs::VariantFs;

  Reply<EntryAttributes> lookup(InodeT parent, std::string_view name, const RequestContext& ctx) override {
    co_return patched(co_await VariantFs::lookup(parent, name, ctx));
  }
  Reply<EntryAttributes> getattr(InodeT inode, const RequestContext& ctx) override {
    co_return patched(co_await VariantFs::getattr(inode, ctx));
  }
  Reply<EntryAttributes> setattr(InodeT inode, const EntryAttributes& attr, const SetattrFields& fields,
                                 std::optional<FileHandleT> fh, const RequestContext& ctx) override {
    co_return patched(co_await VariantFs::setattr(inode, attr, fields, fh, ctx));
  }
  Reply<EntryAttributes> mknod(InodeT parent, std::string_view name, fusepp::ModeT mode, dev_t rdev,
                               const RequestContext& ctx) override {
    co_return patched(co_await VariantFs::mknod(parent, name, mode, rdev, ctx));
  }
  Reply<EntryAttributes> link(InodeT inode, InodeT parent, std::string_view name, const RequestContext& ctx) override {
    co_return patched(co_await VariantFs::link(inode, parent, name, ctx));
  }
  Reply<std::pair<fusepp::FileInfo, EntryAttributes>> create(InodeT parent, std::string_view name, fusepp::ModeT mode,
                                                             fusepp::FlagT flags, const RequestContext& ctx) override {
    auto result = co_await VariantFs::create(parent, name, mode, flags, ctx);
    if (result) patch(result->second);
    co_return result;
  }

 protected:
  virtual void patch(EntryAttributes& attr) const = 0;

 private:
  fusepp::Result<EntryAttributes> patched(fusepp::Result<EntryAttributes> result) const {
    if (result) patch(*result);
    return result;
  }
};

// st_blocks from the byte size (512-byte units) instead of the pages really held.
class BlocksCountBytes : public AttrPatchingFs {
  using AttrPatchingFs::AttrPatchingFs;
  void patch(EntryAttributes& attr) const override {
    if (S_ISREG(attr.st_mode)) attr.st_blocks = (attr.st_size + 511) / 512;
  }
};

// Regular files always report one link, hard links or not.
class NlinkAlwaysOne : public AttrPatchingFs {
  using AttrPatchingFs::AttrPatchingFs;
  void patch(EntryAttributes& attr) const override {
    if (S_ISREG(attr.st_mode)) attr.st_nlink = 1;
  }
};

// Remembers something about an inode before memfs's setattr runs and puts it back after.
class SetattrRestoringFs : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<EntryAttributes> setattr(InodeT inode, const EntryAttributes& attr, const SetattrFields& fields,
                                 std::optional<FileHandleT> fh, const RequestContext& ctx) override {
    auto saved = with_state([&](State& state) {
      Inode* found = state.find(inode);
      return found ? std::optional(state.attributes(*found)) : std::nullopt;
    });
    auto result = co_await VariantFs::setattr(inode, attr, fields, fh, ctx);
    if (result && saved) {
      with_state([&](State& state) {
        Inode* found = state.find(inode);
        if (found) after(*found, *saved, attr, fields);
        if (found) *result = state.attributes(*found);
      });
    }
    co_return result;
  }

 protected:
  virtual void after(Inode& inode, const EntryAttributes& before, const EntryAttributes& attr,
                     const SetattrFields& fields) = 0;
};

// chmod leaves ctime alone.
class ChmodKeepsCtime : public SetattrRestoringFs {
  using SetattrRestoringFs::SetattrRestoringFs;
  void after(Inode& inode, const EntryAttributes& before, const EntryAttributes&,
             const SetattrFields& fields) override {
    bool chmod_only = fields.update_mode() && !fields.update_size() && !fields.update_uid() && !fields.update_gid();
    if (chmod_only) inode.ctime_ns = before.st_ctime_ns;
  }
};

// utimensat with atime omitted stores the new mtime in atime and leaves mtime alone.
class UtimensMtimeIntoAtime : public SetattrRestoringFs {
  using SetattrRestoringFs::SetattrRestoringFs;
  void after(Inode& inode, const EntryAttributes& before, const EntryAttributes&,
             const SetattrFields& fields) override {
    if (!fields.update_mtime() || fields.update_atime() || fields.update_size()) return;
    inode.atime_ns = inode.mtime_ns;
    inode.mtime_ns = before.st_mtime_ns;
  }
};

// A chown keeps setuid/setgid: the kernel's request to drop them along with the owner
// change is ignored.
class ChownKeepsSetuid : public SetattrRestoringFs {
  using SetattrRestoringFs::SetattrRestoringFs;
  void after(Inode& inode, const EntryAttributes& before, const EntryAttributes&,
             const SetattrFields& fields) override {
    if (fields.update_uid() || fields.update_gid()) inode.mode |= before.st_mode & (S_ISUID | S_ISGID);
  }
};

// chown(uid, -1) also writes the group, with whatever the request carried for it (0).
class ChownClobbersGid : public SetattrRestoringFs {
  using SetattrRestoringFs::SetattrRestoringFs;
  void after(Inode& inode, const EntryAttributes&, const EntryAttributes& attr, const SetattrFields& fields) override {
    if (fields.update_uid() && !fields.update_gid()) inode.gid = attr.st_gid;
  }
};

// chmod of a regular file stores the permission bits alone, losing S_IFREG.
class ChmodClobbersType : public SetattrRestoringFs {
  using SetattrRestoringFs::SetattrRestoringFs;
  void after(Inode& inode, const EntryAttributes& before, const EntryAttributes& attr,
             const SetattrFields& fields) override {
    if (fields.update_mode() && S_ISREG(before.st_mode)) inode.mode = attr.st_mode & 07777;
  }
};

// mknod of a device node drops the device number.
class MknodDropsRdev : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<EntryAttributes> mknod(InodeT parent, std::string_view name, fusepp::ModeT mode, dev_t,
                               const RequestContext& ctx) override {
    co_return co_await VariantFs::mknod(parent, name, mode, 0, ctx);
  }
};

}  // namespace

std::vector<CatalogEntry> attribute_variants() {
  return {
      entry<ChmodKeepsCtime>("chmod-keeps-ctime", "timestamps", "chmod does not update ctime"),
      entry<UtimensMtimeIntoAtime>("utimens-mtime-into-atime", "timestamps",
                                   "utimensat setting only mtime changes atime instead"),
      entry<ChownKeepsSetuid>("chown-keeps-setuid", "ownership", "chown keeps setuid/setgid"),
      entry<ChownClobbersGid>("chown-clobbers-gid", "ownership", "chown(uid, -1) sets the group to 0"),
      entry<BlocksCountBytes>("blocks-count-bytes", "st_blocks",
                              "st_blocks counts 512-byte units of st_size, not pages held"),
      entry<NlinkAlwaysOne>("nlink-always-one", "crude", "regular files always report st_nlink 1 (after link too)"),
      entry<ChmodClobbersType>("chmod-clobbers-type", "crude", "chmod of a regular file loses its type bits"),
      entry<MknodDropsRdev>("mknod-drops-rdev", "mknod rdev", "mknod of a device node stores rdev 0"),
  };
}

}  // namespace memfs::variants
