// The variant catalogue, and variant bugs checked without a mount: every name makes a
// distinct filesystem, and readdir-ignores-buffer-full really loses entries where names of
// varied length fill the buffer at different places (memfs lists them all).
#include <gtest/gtest.h>
#include <fcntl.h>

#include <set>
#include <string>

#include "fusepp/testing.hpp"
#include "memfs/variants.hpp"

namespace memfs::variants {
namespace {

using fusepp::InodeT;
using fusepp::ModeT;
using fusepp::ROOT_INODE;
using fusepp::testing::readdir_directly;
using fusepp::testing::run_handler;

const fusepp::RequestContext kRoot{0, 0, 1, 022};

TEST(VariantCatalog, AtLeast25NamedVariantsEachMakeable) {
  std::set<std::string_view> names;
  for (const auto& variant : all()) {
    EXPECT_TRUE(names.insert(variant.name).second) << "duplicate " << variant.name;
    EXPECT_FALSE(variant.bug.empty()) << variant.name;
    EXPECT_FALSE(variant.bug_class.empty()) << variant.name;
    EXPECT_NE(make(variant.name), nullptr) << variant.name;
    EXPECT_EQ(find(variant.name), &variant);
  }
  EXPECT_GE(names.size(), 25u);
  EXPECT_EQ(make("no-such-bug"), nullptr);
  EXPECT_EQ(find("no-such-bug"), nullptr);
}

// Lists a directory the way the kernel does: requests of buffer_size bytes, each resuming
// at the last cookie handed back, until one comes back empty.
std::multiset<std::string> list_all(MemFs& fs, InodeT dir, size_t buffer_size) {
  auto fh = run_handler(fs.opendir(dir, fusepp::FlagT{O_RDONLY}, kRoot)).value();
  std::multiset<std::string> names;
  off_t next = 0;
  for (int request = 0; request < 1000; ++request) {
    auto entries = readdir_directly(fs, fh, next, buffer_size).value();
    if (entries.empty()) break;
    for (const auto& entry : entries) names.insert(entry.name);
    next = entries.back().next_id;
  }
  run_handler(fs.releasedir(fh)).value();
  return names;
}

std::multiset<std::string> fill_with_varied_names(MemFs& fs) {
  std::multiset<std::string> names{".", ".."};
  for (int i = 0; i < 200; ++i) {
    std::string name = "n" + std::to_string(i) + std::string(static_cast<size_t>(i * 7 % 40), 'x');
    EXPECT_TRUE(run_handler(fs.mknod(ROOT_INODE, name, ModeT{S_IFREG | 0644}, 0, kRoot)).ok());
    names.insert(name);
  }
  return names;
}

TEST(VariantReaddir, MemfsListsEveryEntryWithASmallBuffer) {
  MemFs fs;
  auto names = fill_with_varied_names(fs);
  EXPECT_EQ(list_all(fs, ROOT_INODE, 512), names);
}

TEST(VariantReaddir, IgnoringBufferFullLosesEntries) {
  auto fs = make("readdir-ignores-buffer-full");
  auto names = fill_with_varied_names(*fs);
  auto listed = list_all(*fs, ROOT_INODE, 512);
  EXPECT_LT(listed.size(), names.size());
  for (const auto& name : listed) EXPECT_EQ(names.count(name), 1u) << name;
}

TEST(VariantReaddir, OffByOneCookiesSkipEntries) {
  auto fs = make("readdir-cookie-skips");
  auto names = fill_with_varied_names(*fs);
  EXPECT_LT(list_all(*fs, ROOT_INODE, 512).size(), names.size());
}

}  // namespace
}  // namespace memfs::variants
