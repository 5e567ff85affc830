// The variant catalogue: every family's variants in one list, looked up by name.
#include "catalog.hpp"

namespace memfs::variants {

namespace {

const std::vector<CatalogEntry>& catalog() {
  static const std::vector<CatalogEntry> entries = [] {
    std::vector<CatalogEntry> all;
    for (auto family : {attribute_variants, namespace_variants, data_variants, directory_variants, io_variants,
                        lock_variants, fuzz_variants}) {
      auto some = family();
      all.insert(all.end(), some.begin(), some.end());
    }
    return all;
  }();
  return entries;
}

}  // namespace

const std::vector<Variant>& all() {
  static const std::vector<Variant> variants = [] {
    std::vector<Variant> out;
    for (const auto& entry : catalog()) out.push_back(entry.info);
    return out;
  }();
  return variants;
}

const Variant* find(std::string_view name) {
  for (const auto& variant : all()) {
    if (variant.name == name) return &variant;
  }
  return nullptr;
}

std::unique_ptr<MemFs> make(std::string_view name, Options options) {
  for (const auto& entry : catalog()) {
    if (entry.info.name == name) return entry.make(options);
  }
  return nullptr;
}

}  // namespace memfs::variants
