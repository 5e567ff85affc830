// Variants with one bug each in what the lock, copy and file-handle scenarios check: locks
// taken over from the kernel and then granted blindly, copy_file_range reading from the
// start of the source whatever its offset, inode numbers reused without a new generation, and
// FS_IOC_SETFLAGS ignored.
#include <fcntl.h>

#include <algorithm>

#include "catalog.hpp"

namespace memfs::variants {

using fusepp::EntryAttributes;
using fusepp::FileHandleT;
using fusepp::FlagT;
using fusepp::InodeT;
using fusepp::LockRequest;
using fusepp::Reply;
using fusepp::RequestContext;

namespace {

// Asks the kernel to pass fcntl and flock locks to the filesystem (memfs leaves them to the
// kernel), then grants every request and reports every range free: what a filesystem that
// keeps its locks per client shows a second client.
class LocksNeverConflict : public VariantFs {
 public:
  explicit LocksNeverConflict(const Options& options) : VariantFs(options) { enable_locks = true; }
  Reply<LockRequest> getlk(FileHandleT, LockRequest lock) override {
    lock.lock.l_type = F_UNLCK;
    co_return lock;
  }
  Reply<void> setlk(FileHandleT, LockRequest, bool) override { co_return fusepp::ok; }
  Reply<void> flock(FileHandleT, uint64_t, int) override { co_return fusepp::ok; }
};

// copy_file_range copies from offset 0 of the source, whatever off_in says.
class CopyRangeIgnoresOffIn : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<size_t> copy_file_range(FileHandleT fh_in, off_t, FileHandleT fh_out, off_t off_out, size_t length,
                                FlagT flags) override {
    co_return co_await VariantFs::copy_file_range(fh_in, 0, fh_out, off_out, length, flags);
  }
};

// A new file takes the lowest inode number no inode holds any more, with the same generation
// (0), so the kernel takes a stale file handle of a removed file for the new one.
class InodeReusedSameGeneration : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<std::pair<fusepp::FileInfo, EntryAttributes>> create(InodeT parent, std::string_view name, fusepp::ModeT mode,
                                                             FlagT flags, const RequestContext& ctx) override {
    uint64_t next = with_state([](State& state) {
      uint64_t saved = state.next_ino;
      for (uint64_t ino = uint64_t{fusepp::ROOT_INODE} + 1; ino < saved; ++ino)
        if (state.find(ino) == nullptr) {
          state.next_ino = ino;
          break;
        }
      return saved;
    });
    auto result = co_await VariantFs::create(parent, name, mode, flags, ctx);
    with_state([&](State& state) { state.next_ino = std::max(state.next_ino, next); });
    co_return result;
  }
};

// FS_IOC_SETFLAGS succeeds and stores nothing.
class SetflagsIgnored : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<fusepp::IoctlReply> ioctl(FileHandleT fh, unsigned cmd, uint64_t arg, FlagT flags, std::string_view in_buf,
                                  size_t out_size) override {
    if (cmd == FS_IOC_SETFLAGS) co_return fusepp::IoctlReply{};
    co_return co_await VariantFs::ioctl(fh, cmd, arg, flags, in_buf, out_size);
  }
};

}  // namespace

std::vector<CatalogEntry> lock_variants() {
  std::vector<CatalogEntry> variants;
  variants.push_back(entry<LocksNeverConflict>(
      "locks-never-conflict", "locks", "fcntl and flock locks are passed to the filesystem, which grants them all"));
  variants.push_back(
      entry<CopyRangeIgnoresOffIn>("copy-range-ignores-off-in", "copy_file_range",
                                   "copy_file_range copies from the start of the source, ignoring off_in"));
  variants.push_back(
      entry<InodeReusedSameGeneration>("inode-reused-same-generation", "file handles",
                                       "a new file reuses a freed inode number with the same generation"));
  variants.push_back(
      entry<SetflagsIgnored>("setflags-ignored", "inode flags", "FS_IOC_SETFLAGS succeeds and stores nothing"));
  return variants;
}

}  // namespace memfs::variants
