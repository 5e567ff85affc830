// Unit tests of calling a filesystem's own handlers: fusepp::call() gives a Result whether the
// handler returned its FUSEError or threw it, and fusepp::no_context is pyfuse3's ctx=None
// (pyfuse3's readdir example `await self.getattr(inode, None)`, translated).
#include <gtest/gtest.h>

#include <stdexcept>

#include "fusepp/fusepp.hpp"
#include "fusepp/testing.hpp"
#include "hello_fs.hpp"

namespace fusepp::test {
namespace {

using testing::run_handler;

// getattr fails by returning ENOENT for unknown inodes, and by throwing EACCES for inode 7.
class MixedFailuresFs : public HelloFs {
 public:
  Reply<EntryAttributes> getattr(InodeT inode, const RequestContext& ctx) override {
    if (inode == InodeT{7}) throw FUSEError(EACCES);
    if (inode == InodeT{8}) throw std::runtime_error("not an errno");
    Result<EntryAttributes> attr = co_await HelloFs::getattr(inode, ctx);
    co_return attr;
  }

  // pyfuse3's readdir example: each entry's attributes come from the fs's own getattr,
  // called without a request.
  Reply<void> readdir(FileHandleT, off_t start_id, ReaddirToken& token) override {
    std::vector<std::pair<std::string, InodeT>> entries{{kFileName, kFileInode}, {kSlowName, kSlowInode}};
    for (size_t i = 0; i < entries.size(); ++i) {
      if (static_cast<off_t>(i) < start_id) continue;
      Result<EntryAttributes> attr = co_await call(getattr(entries[i].second, no_context));
      if (!attr) co_return FUSEError(attr.error());
      bool added = readdir_reply(token, entries[i].first, *attr, static_cast<off_t>(i + 1));
      if (!added) break;  // buffer full
    }
    co_return ok;
  }
};

TEST(Call, GivesTheErrnoWhetherTheHandlerReturnedOrThrewIt) {
  MixedFailuresFs fs;
  RequestContext ctx(0, 0, 1, 022);
  Result<EntryAttributes> found = run_handler(call(fs.getattr(HelloFs::kFileInode, ctx)));
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->st_ino, HelloFs::kFileInode);
  EXPECT_EQ(run_handler(call(fs.getattr(InodeT{99}, ctx))).error(), ENOENT);
  EXPECT_EQ(run_handler(call(fs.getattr(InodeT{7}, ctx))).error(), EACCES);
  // Without call(), the thrown form escapes instead of arriving as a Result.
  EXPECT_THROW(run_handler(fs.getattr(InodeT{7}, ctx)), FUSEError);
  // Anything but a FUSEError is not an errno: it still escapes (the dispatcher answers EIO).
  EXPECT_THROW(run_handler(call(fs.getattr(InodeT{8}, ctx))), std::runtime_error);
}

TEST(Call, WorksForHandlersWithNothingToReturn) {
  HelloFs fs;
  RequestContext ctx(0, 0, 1, 022);
  EXPECT_EQ(run_handler(call(fs.unlink(ROOT_INODE, "x", ctx))).error(), ENOSYS);
}

TEST(NoContext, IsTheOnlyContextThatSaysSo) {
  EXPECT_TRUE(no_context.is_none());
  RequestContext root(0, 0, 0, 0);  // same values, but a request's context
  EXPECT_FALSE(root.is_none());
  EXPECT_EQ(no_context.uid(), 0u);
  EXPECT_FALSE(no_context.interrupted());
}

TEST(NoContext, ReaddirExampleGetsAttributesFromItsOwnGetattr) {
  MixedFailuresFs fs;
  fs.slow_delay = std::chrono::milliseconds(0);
  auto entries = testing::readdir_directly(fs, FileHandleT{1}, 0, 4096, true);
  ASSERT_TRUE(entries.ok()) << entries.error();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].name, HelloFs::kFileName);
  EXPECT_EQ((*entries)[1].ino, HelloFs::kSlowInode.value);
}

}  // namespace
}  // namespace fusepp::test
