// Single-bug variants of memfs: each is memfs with exactly one named bug, a test fixture
// that proves scenarios, the fuzzer and kernel-interaction checks can fail. Test-only: the
// production fusecheck-memfs never links it (fusecheck-memfs-variant and gtests do).
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "memfs/memfs.hpp"

namespace memfs::variants {

struct Variant {
  std::string_view name;       // what --bug takes, e.g. "chmod-keeps-ctime"
  std::string_view bug_class;  // the family of bugs it stands for, e.g. "timestamps"
  std::string_view bug;        // what it does wrong, one sentence
};

// Every variant, in the order of docs/variants.md.
const std::vector<Variant>& all();
const Variant* find(std::string_view name);  // nullptr when unknown

// A fresh filesystem with the named bug (an fusepp::Operations); nullptr when unknown.
std::unique_ptr<MemFs> make(std::string_view name, Options options = {});

}  // namespace memfs::variants
