// Variants with one file-data, statfs or xattr bug each: unlink dropping an open file's data,
// short reads, frozen statfs counters, truncate not zeroing, O_TRUNC ignored or keeping
// setuid, a write past EOF leaving garbage in the gap, direct_io on every file,
// copy_file_range without the mtime update, and three xattr slips.
#include <fcntl.h>

#include <algorithm>

#include "catalog.hpp"

namespace memfs::variants {

using fusepp::EntryAttributes;
using fusepp::FileHandleT;
using fusepp::FileInfo;
using fusepp::FlagT;
using fusepp::FUSEError;
using fusepp::InodeT;
using fusepp::Reply;
using fusepp::RequestContext;

namespace {

// Unlinking the last name of a file that is still open throws its data away.
class OpenUnlinkedLosesData : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<void> unlink(InodeT parent, std::string_view name, const RequestContext& ctx) override {
    uint64_t victim = with_state([&](State& state) {
      Inode* inode = child(state, parent, name);
      return inode ? inode->ino : 0;
    });
    auto result = co_await VariantFs::unlink(parent, name, ctx);
    if (result) {
      with_state([&](State& state) {
        Inode* inode = state.find(victim);
        if (inode && inode->nlink == 0 && inode->is_reg()) state.resize(*inode, 0);
      });
    }
    co_return result;
  }
};

// A read returns at most 1000 bytes, whatever was asked and however much is there.
class ShortRead : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<std::string> read(FileHandleT fh, off_t off, size_t size) override {
    co_return co_await VariantFs::read(fh, off, std::min<size_t>(size, 1000));
  }
};

// statfs reports the inode counters of an empty filesystem forever.
class StatfsFfreeConstant : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<fusepp::StatvfsData> statfs(const RequestContext& ctx) override {
    auto result = co_await VariantFs::statfs(ctx);
    if (result) result->f_ffree = result->f_favail = result->f_files - 1;
    co_return result;
  }
};

// statfs counts a removed directory's inode as free at once, even while something removed from
// it and still open keeps the directory alive, as it does on tmpfs.
class RemovedDirFreedAtOnce : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<fusepp::StatvfsData> statfs(const RequestContext& ctx) override {
    auto result = co_await VariantFs::statfs(ctx);
    uint64_t kept_dirs = with_state([](State& state) {
      uint64_t units = 0;
      for (uint64_t ino : state.unlinked_kept) {
        const Inode& inode = state.inodes.at(ino);
        if (inode.is_dir() && inode.open_count == 0 && inode.pinned_by != 0)
          units += state.ispace_of(inode) / kInodeSpaceUnit;
      }
      return units;
    });
    if (result) result->f_ffree = result->f_favail = result->f_ffree + kept_dirs;
    co_return result;
  }
};

// Truncating down keeps the bytes past the new end in the last page, so growing the file
// again shows the old data instead of zeros.
class TruncateNoZero : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<EntryAttributes> setattr(InodeT inode, const EntryAttributes& attr, const fusepp::SetattrFields& fields,
                                 std::optional<FileHandleT> fh, const RequestContext& ctx) override {
    std::optional<std::pair<uint64_t, std::string>> tail;  // page index and its bytes
    if (fields.update_size()) {
      tail = with_state([&](State& state) -> std::optional<std::pair<uint64_t, std::string>> {
        Inode* found = state.find(inode);
        if (!found || !found->pages || attr.st_size < 0) return std::nullopt;
        uint64_t index = static_cast<uint64_t>(attr.st_size) / kPageSize;
        auto page = found->pages->find(index);
        if (page == found->pages->end()) return std::nullopt;
        return std::pair{index, std::string(page->second.bytes(), kPageSize)};
      });
    }
    auto result = co_await VariantFs::setattr(inode, attr, fields, fh, ctx);
    if (result && tail) {
      with_state([&](State& state) {
        Inode* found = state.find(inode);
        if (!found || !found->pages) return;
        auto page = found->pages->find(tail->first);
        if (page != found->pages->end()) std::copy(tail->second.begin(), tail->second.end(), page->second.bytes());
      });
    }
    co_return result;
  }
};

// open(O_TRUNC) does not truncate.
class OtruncIgnored : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<FileInfo> open(InodeT inode, FlagT flags, const RequestContext& ctx) override {
    co_return co_await VariantFs::open(inode, FlagT{flags.value & ~O_TRUNC}, ctx);
  }
};

// open(O_TRUNC) keeps setuid/setgid, also for a caller without CAP_FSETID.
class OtruncKeepsSetuid : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<FileInfo> open(InodeT inode, FlagT flags, const RequestContext& ctx) override {
    mode_t setid = with_state([&](State& state) {
      Inode* found = state.find(inode);
      return found ? found->mode & (S_ISUID | S_ISGID) : 0;
    });
    auto result = co_await VariantFs::open(inode, flags, ctx);
    if (result && (flags & O_TRUNC)) {
      with_state([&](State& state) {
        if (Inode* found = state.find(inode)) found->mode |= setid;
      });
    }
    co_return result;
  }
};

// A write starting past end of file fills the gap with 'G' bytes instead of zeros.
class WriteGapGarbage : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<size_t> write(FileHandleT fh, off_t off, std::string_view buf, const RequestContext& ctx) override {
    with_state([&](State& state) {
      auto file = state.open_files.find(fh);
      Inode* inode = file == state.open_files.end() ? nullptr : state.find(file->second.ino);
      if (!inode || (file->second.flags & O_APPEND) || off <= inode->size || off - inode->size > 65536) return;
      std::string garbage(static_cast<size_t>(off - inode->size), 'G');
      (void)state.store(*inode, static_cast<uint64_t>(inode->size), garbage);
    });
    co_return co_await VariantFs::write(fh, off, buf, ctx);
  }
};

// Every file is opened with direct_io, so the page cache is bypassed and a shared mmap
// of any file fails with ENODEV.
class DirectIoEverywhere : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<FileInfo> open(InodeT inode, FlagT flags, const RequestContext& ctx) override {
    auto result = co_await VariantFs::open(inode, flags, ctx);
    if (result) result->direct_io = true;
    co_return result;
  }
  Reply<std::pair<FileInfo, EntryAttributes>> create(InodeT parent, std::string_view name, fusepp::ModeT mode,
                                                     FlagT flags, const RequestContext& ctx) override {
    auto result = co_await VariantFs::create(parent, name, mode, flags, ctx);
    if (result) result->first.direct_io = true;
    co_return result;
  }
};

// copy_file_range leaves the destination's mtime and ctime alone.
class CopyRangeKeepsMtime : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<size_t> copy_file_range(FileHandleT fh_in, off_t off_in, FileHandleT fh_out, off_t off_out, size_t length,
                                FlagT flags) override {
    auto before = with_state([&](State& state) {
      auto file = state.open_files.find(fh_out);
      Inode* dest = file == state.open_files.end() ? nullptr : state.find(file->second.ino);
      return dest ? std::tuple{dest->ino, dest->mtime_ns, dest->ctime_ns}
                  : std::tuple{uint64_t{0}, int64_t{0}, int64_t{0}};
    });
    auto result = co_await VariantFs::copy_file_range(fh_in, off_in, fh_out, off_out, length, flags);
    with_state([&](State& state) {
      if (Inode* dest = state.find(std::get<0>(before))) {
        dest->mtime_ns = std::get<1>(before);
        dest->ctime_ns = std::get<2>(before);
      }
    });
    co_return result;
  }
};

// listxattr leaves out the last name.
class ListxattrMissesLast : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<std::vector<std::string>> listxattr(InodeT inode, const RequestContext& ctx) override {
    auto result = co_await VariantFs::listxattr(inode, ctx);
    if (result && !result->empty()) result->pop_back();
    co_return result;
  }
};

// setxattr with an empty value stores nothing (and succeeds).
class XattrEmptyValueLost : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<void> setxattr(InodeT inode, std::string_view name, std::string_view value, FlagT flags,
                       const RequestContext& ctx) override {
    if (value.empty()) co_return fusepp::ok;
    co_return co_await VariantFs::setxattr(inode, name, value, flags, ctx);
  }
};

// removexattr of a name that is not there succeeds instead of ENODATA.
class RemovexattrMissingOk : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<void> removexattr(InodeT inode, std::string_view name, const RequestContext& ctx) override {
    auto result = co_await VariantFs::removexattr(inode, name, ctx);
    if (result.error() == ENODATA) co_return fusepp::ok;
    co_return result;
  }
};

}  // namespace

std::vector<CatalogEntry> data_variants() {
  return {
      entry<OpenUnlinkedLosesData>("open-unlinked-loses-data", "open-unlinked files",
                                   "unlinking an open file's last name drops its data"),
      entry<ShortRead>("short-read", "short reads", "read returns at most 1000 bytes per request"),
      entry<StatfsFfreeConstant>("statfs-ffree-constant", "statfs counters", "statfs f_ffree never changes"),
      entry<RemovedDirFreedAtOnce>(
          "removed-dir-freed-at-once", "statfs counters",
          "a removed directory's inode is free at once, while an open file inside still pins it"),
      entry<TruncateNoZero>("truncate-no-zero", "crude", "truncate down keeps the old bytes for a later grow"),
      entry<OtruncIgnored>("otrunc-ignored", "crude", "open(O_TRUNC) does not truncate"),
      entry<WriteGapGarbage>("write-gap-garbage", "crude", "a write past EOF fills the gap with 'G', not zeros"),
      entry<DirectIoEverywhere>("direct-io-everywhere", "shared mmap",
                                "every open uses direct_io, so shared mmap fails with ENODEV"),
      entry<OtruncKeepsSetuid>("otrunc-keeps-setuid", "setuid clearing on O_TRUNC",
                               "open(O_TRUNC) by a caller without CAP_FSETID keeps setuid/setgid"),
      entry<CopyRangeKeepsMtime>("copy-range-keeps-mtime", "copy_file_range",
                                 "copy_file_range does not update the destination's mtime/ctime"),
      entry<ListxattrMissesLast>("listxattr-misses-last", "listxattr", "listxattr leaves out the last name"),
      entry<XattrEmptyValueLost>("xattr-empty-value-lost", "crude", "setxattr with an empty value stores nothing"),
      entry<RemovexattrMissingOk>("removexattr-missing-ok", "crude", "removexattr of a missing name succeeds"),
  };
}

}  // namespace memfs::variants
