// Mounted tests of pyfuse3's module-level functions (invalidate_entry, invalidate_inode...)
// without init(): under a ScopedMount they act on its session, the only one mounted; with
// none or several mounted they say why instead of guessing.
#include <sys/stat.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "fusepp/fusepp.hpp"
#include "fusepp/testing.hpp"
#include "hello_fs.hpp"

namespace fusepp::test {
namespace {

using testing::run_in_child;
using testing::ScopedMount;

// HelloFs whose entries the kernel may cache for a minute, counting lookups of "message".
class CachedHelloFs : public HelloFs {
 public:
  std::atomic<int> lookups{0};
  Reply<EntryAttributes> lookup(InodeT parent, std::string_view name, const RequestContext& ctx) override {
    if (name == kFileName) ++lookups;
    Result<EntryAttributes> attr = co_await HelloFs::lookup(parent, name, ctx);
    if (attr.ok()) attr->entry_timeout = attr->attr_timeout = 60;
    co_return attr;
  }
};

std::string stat_twice(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 || ::stat(file.c_str(), &st) != 0) return "stat: " + testing::errno_name(-1);
  return "ok";
}

TEST(ModuleFunctions, InvalidateEntryActsOnTheScopedMountsSession) {
  CachedHelloFs fs;
  ScopedMount mnt(fs);
  auto file = mnt.path() / HelloFs::kFileName;
  ASSERT_EQ(run_in_child([&] { return stat_twice(file); }).output, "ok");
  EXPECT_EQ(fs.lookups.load(), 1);  // the second stat used the cached entry
  EXPECT_EQ(&current_session(), &mnt.session());
  invalidate_inode(HelloFs::kFileInode);  // first: without its dentry the inode may be gone
  invalidate_entry(ROOT_INODE, HelloFs::kFileName);
  ASSERT_EQ(run_in_child([&] { return stat_twice(file); }).output, "ok");
  EXPECT_EQ(fs.lookups.load(), 2);  // the kernel forgot the name and looked it up again
}

TEST(ModuleFunctions, SayWhyWithNoSessionOrSeveral) {
  try {
    invalidate_inode(ROOT_INODE);
    ADD_FAILURE() << "no exception without a session";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(), "fusepp: no session is mounted (init() was not called)");
  }
  HelloFs one, two;
  ScopedMount first(one);
  {
    ScopedMount second(two);
    EXPECT_THROW(invalidate_inode(ROOT_INODE), std::logic_error);
  }
  EXPECT_EQ(&current_session(), &first.session());  // the other one's unmount unregistered it
}

}  // namespace
}  // namespace fusepp::test
