// Variants with one bug each in how file data moves: writes through a mapping after close
// lost, O_DIRECT reads served from a stale per-handle copy, O_APPEND writes placed at the
// handle's own position, SEEK_DATA counting preallocated pages as data, and large reads
// (sendfile, splice, readahead) repeating their first 64 KiB.
#include <fcntl.h>
#include <linux/falloc.h>

#include <algorithm>
#include <set>
#include <unordered_map>

#include "catalog.hpp"

namespace memfs::variants {

using fusepp::FileHandleT;
using fusepp::FileInfo;
using fusepp::FlagT;
using fusepp::InodeT;
using fusepp::Reply;
using fusepp::RequestContext;

namespace {

// The inode an open handle names, or nullptr.
Inode* handle_inode(State& state, FileHandleT fh) {
  auto file = state.open_files.find(fh.value);
  return file == state.open_files.end() ? nullptr : state.find(file->second.ino);
}

// A handle opened with O_DIRECT reads from a copy of the file taken when it was opened, as by
// a daemon that caches per handle because "the kernel does not cache O_DIRECT".
class DirectReadsStale : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<FileInfo> open(InodeT inode, FlagT flags, const RequestContext& ctx) override {
    auto result = co_await VariantFs::open(inode, flags, ctx);
    if (result && (flags & O_DIRECT)) {
      with_state([&](State& state) {
        Inode* found = handle_inode(state, result->fh);
        if (found) copies_[result->fh.value] = state.load(*found, 0, static_cast<size_t>(found->size));
      });
    }
    co_return result;
  }
  Reply<std::string> read(FileHandleT fh, off_t off, size_t size) override {
    auto copy = with_state([&](State&) -> std::optional<std::string> {
      auto found = copies_.find(fh.value);
      if (found == copies_.end() || off < 0) return std::nullopt;
      return found->second.substr(std::min(found->second.size(), static_cast<size_t>(off)), size);
    });
    if (copy) co_return *copy;
    co_return co_await VariantFs::read(fh, off, size);
  }
  Reply<void> release(FileHandleT fh) override {
    with_state([&](State&) { copies_.erase(fh.value); });
    co_return co_await VariantFs::release(fh);
  }

 private:
  std::unordered_map<uint64_t, std::string> copies_;  // under the state lock
};

// An O_APPEND handle writes where its own previous write ended (starting at the size at its
// first write), not at the file's end: appends through two handles overwrite each other.
class AppendAtHandlePosition : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<size_t> write(FileHandleT fh, off_t off, std::string_view buf, const RequestContext& ctx) override {
    auto cursor = with_state([&](State& state) -> std::optional<int64_t> {
      auto file = state.open_files.find(fh.value);
      if (file == state.open_files.end()) return std::nullopt;
      if (file->second.flags & O_APPEND) {  // first write: memfs's own append rule is taken out
        file->second.flags &= ~O_APPEND;
        cursors_[fh.value] = state.find(file->second.ino)->size;
      }
      auto found = cursors_.find(fh.value);
      return found == cursors_.end() ? std::nullopt : std::optional<int64_t>{found->second};
    });
    auto result = co_await VariantFs::write(fh, cursor ? *cursor : off, buf, ctx);
    if (result && cursor) with_state([&](State&) { cursors_[fh.value] = *cursor + static_cast<int64_t>(*result); });
    co_return result;
  }

 private:
  std::unordered_map<uint64_t, int64_t> cursors_;  // under the state lock
};

// A READ of more than 64 KiB returns its first 64 KiB again for the rest, as by a daemon that
// copies in fixed chunks without advancing. Reads the kernel makes for sendfile, splice and
// readahead are that large; a read(2) of a few KiB is not.
class LargeReadRepeats : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<std::string> read(FileHandleT fh, off_t off, size_t size) override {
    constexpr size_t kChunk = 64 << 10;
    auto result = co_await VariantFs::read(fh, off, size);
    if (result && result->size() > kChunk)
      for (size_t at = kChunk; at < result->size(); ++at) (*result)[at] = (*result)[at % kChunk];
    co_return result;
  }
};

// Pages reserved by fallocate count as data for SEEK_DATA/SEEK_HOLE (tmpfs reports them as
// holes until written).
class SeekDataCountsPreallocated : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<void> fallocate(FileHandleT fh, int mode, off_t offset, off_t length) override {
    auto result = co_await VariantFs::fallocate(fh, mode, offset, length);
    if (result && !(mode & FALLOC_FL_PUNCH_HOLE)) {
      with_state([&](State& state) {
        Inode* inode = handle_inode(state, fh);
        if (!inode || !inode->pages) return;
        auto first = static_cast<uint64_t>(offset) / kPageSize;
        auto last = static_cast<uint64_t>(offset + length - 1) / kPageSize;
        for (auto it = inode->pages->lower_bound(first); it != inode->pages->end() && it->first <= last; ++it)
          it->second.written = true;
      });
    }
    co_return result;
  }
};

// WRITEs on a handle that has already seen FLUSH are acknowledged and dropped, as by a daemon
// that commits a file when it is closed. Only writes through a shared mapping made after
// close(fd) arrive then (the kernel writes them back at msync or munmap).
class WriteAfterFlushLost : public VariantFs {
 public:
  using VariantFs::VariantFs;
  Reply<void> flush(FileHandleT fh) override {
    with_state([&](State&) { flushed_.insert(fh.value); });
    co_return co_await VariantFs::flush(fh);
  }
  Reply<size_t> write(FileHandleT fh, off_t off, std::string_view buf, const RequestContext& ctx) override {
    bool lost = with_state([&](State&) { return flushed_.count(fh.value) > 0; });
    if (lost) co_return buf.size();
    co_return co_await VariantFs::write(fh, off, buf, ctx);
  }

 private:
  std::set<uint64_t> flushed_;  // under the state lock
};

}  // namespace

// Each with the scenario that catches it (reference-fs/variants/tests/variant_scenarios_test.cpp).
std::vector<CatalogEntry> io_variants() {
  return {
      // mmap/write-through-a-shared-mapping-is-read-by-another-process, data/fsx-mix-*
      entry<WriteAfterFlushLost>("write-after-flush-lost", "shared mmap writeback",
                                 "writes after the handle's FLUSH (through a mapping after close) are dropped"),
      // data/o-direct-aligned-io-is-coherent-with-buffered-io-of-other-processes
      entry<DirectReadsStale>("direct-reads-stale", "O_DIRECT",
                              "an O_DIRECT handle reads a copy of the file taken at open"),
      // data/o-append-writes-from-two-processes-in-parallel-never-overlap
      entry<AppendAtHandlePosition>("append-at-handle-position", "O_APPEND",
                                    "an O_APPEND write lands where the handle's last write ended, not at the end"),
      // data/seek-data-and-seek-hole-across-data-preallocated-and-hole-pages
      entry<SeekDataCountsPreallocated>("seek-data-counts-preallocated", "SEEK_DATA/SEEK_HOLE",
                                        "pages reserved by fallocate count as data for SEEK_DATA/SEEK_HOLE"),
      // data/sendfile-*, data/splice-*
      entry<LargeReadRepeats>("large-read-repeats", "large reads (sendfile, splice)",
                              "a READ of more than 64 KiB repeats its first 64 KiB"),
  };
}

}  // namespace memfs::variants
