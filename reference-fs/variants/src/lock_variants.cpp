// Variants with one bug each in what the lock, copy and file-handle scenarios check: locks
// taken over from the kernel and then granted blindly, copy_file_range reading from the
// start of the source whatever its offset, and a stale file handle answered with the root.
#include <fcntl.h>

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

// A lookup of "." in an inode memfs no longer has (what the kernel sends for a file handle of
// an evicted inode) answers with the root instead of ENOENT.
class StaleHandleAnswersRoot : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<EntryAttributes> lookup(InodeT parent, std::string_view name, const RequestContext& ctx) override {
    bool gone = name == "." && with_state([&](State& state) { return state.find(parent) == nullptr; });
    co_return co_await VariantFs::lookup(gone ? fusepp::ROOT_INODE : parent, name, ctx);
  }
};

}  // namespace

std::vector<CatalogEntry> lock_variants() {
  return {
      entry<LocksNeverConflict>("locks-never-conflict", "locks",
                                "fcntl and flock locks are passed to the filesystem, which grants them all"),
      entry<CopyRangeIgnoresOffIn>("copy-range-ignores-off-in", "copy_file_range",
                                   "copy_file_range copies from the start of the source, ignoring off_in"),
      entry<StaleHandleAnswersRoot>("stale-handle-answers-root", "file handles",
                                    "a lookup of '.' in a removed inode answers with the root, not ENOENT"),
  };
}

}  // namespace memfs::variants
