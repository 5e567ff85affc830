// The variants library's internal glue: each family file (attr_, entry_, data_, dir_, io_variants)
// contributes its variants with a factory, and small helpers for reaching memfs's state
// from outside its handlers.
#pragma once

#include <functional>
#include <mutex>
#include <vector>

#include "memfs/variants.hpp"
#include "state.hpp"

namespace memfs::variants {

struct CatalogEntry {
  Variant info;
  std::function<std::unique_ptr<MemFs>(const Options&)> make;
};

template <class Fs>
CatalogEntry entry(std::string_view name, std::string_view bug_class, std::string_view bug) {
  return {{name, bug_class, bug}, [](const Options& options) { return std::make_unique<Fs>(options); }};
}

std::vector<CatalogEntry> attribute_variants();
std::vector<CatalogEntry> namespace_variants();
std::vector<CatalogEntry> data_variants();
std::vector<CatalogEntry> directory_variants();
std::vector<CatalogEntry> io_variants();
std::vector<CatalogEntry> lock_variants();
std::vector<CatalogEntry> fuzz_variants();  // fuzz_variants.cpp: written for the fuzzer's catch-rate suite

// The base of every variant: memfs plus locked access to its state, for the fix-ups a bug
// makes before or after calling memfs's own handler.
class VariantFs : public MemFs {
 public:
  using MemFs::MemFs;
  // Through read(), which variants change, not memfs's views into its pages.
  fusepp::Reply<fusepp::ReadData> read_data(fusepp::FileHandleT fh, off_t off, size_t size,
                                            const fusepp::RequestContext& ctx) override {
    return fusepp::Operations::read_data(fh, off, size, ctx);
  }

 protected:
  // Runs f(state) under the filesystem lock; never across a co_await.
  template <class F>
  auto with_state(F&& f) {
    std::lock_guard lock(state().mutex);
    return f(state());
  }
  // The inode a directory entry names, or nullptr.
  static Inode* child(State& state, uint64_t parent, std::string_view name) {
    Inode* dir = state.find_dir(parent);
    const DirEntry* found = dir ? dir->dir->find(name) : nullptr;
    return found ? state.find(found->ino) : nullptr;
  }
};

}  // namespace memfs::variants
