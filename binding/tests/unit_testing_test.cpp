// Unit tests of fusepp::testing's direct handler calls: run_handler() and readdir_directly(),
// which let a filesystem author test handlers without mounting. HelloFs lists two entries.
#include <dirent.h>
#include <gtest/gtest.h>

#include "fusepp/fusepp.hpp"
#include "fusepp/testing.hpp"
#include "hello_fs.hpp"

namespace fusepp::test {
namespace {

using testing::readdir_directly;
using testing::ReaddirEntry;
using testing::run_handler;

TEST(DirectCalls, RunHandlerReturnsValueOrErrno) {
  HelloFs fs;
  RequestContext root{0, 0, 1, 022};
  auto attr = run_handler(fs.getattr(HelloFs::kFileInode, root));
  ASSERT_TRUE(attr.ok());
  EXPECT_EQ(attr->st_size, static_cast<int64_t>(HelloFs::kData.size()));
  EXPECT_EQ(run_handler(fs.getattr(InodeT{99}, root)).error(), ENOENT);
}

TEST(DirectCalls, ReaddirDecodesEveryEntryWithItsCookie) {
  HelloFs fs;
  std::vector<ReaddirEntry> expected{{HelloFs::kFileName, HelloFs::kFileInode.value, DT_REG, 1},
                                     {HelloFs::kSlowName, HelloFs::kSlowInode.value, DT_REG, 2}};
  for (bool plus : {false, true}) {
    auto entries = readdir_directly(fs, FileHandleT{1}, 0, 4096, plus);
    ASSERT_TRUE(entries.ok()) << plus;
    EXPECT_EQ(*entries, expected) << plus;
    auto rest = readdir_directly(fs, FileHandleT{1}, 1, 4096, plus);
    ASSERT_TRUE(rest.ok());
    EXPECT_EQ(*rest, std::vector<ReaddirEntry>{expected[1]}) << plus;
  }
}

TEST(DirectCalls, ReaddirStopsAtTheBufferSizeLikeTheKernel) {
  HelloFs fs;
  // A plain dirent for "message" takes 24 + 7 bytes, aligned to 32: a 40-byte buffer holds
  // it but not the next one, so readdir_reply() refuses "slow" and the handler returns.
  auto one = readdir_directly(fs, FileHandleT{1}, 0, 40, false);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].name, HelloFs::kFileName);
  auto none = readdir_directly(fs, FileHandleT{1}, 0, 16, false);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// A handler's errno comes back as the Result's error.
class FailingReaddirFs : public HelloFs {
 public:
  Reply<void> readdir(FileHandleT, off_t, ReaddirToken&) override { co_return FUSEError(EIO); }
};

TEST(DirectCalls, ReaddirErrnoIsReturned) {
  FailingReaddirFs fs;
  EXPECT_EQ(readdir_directly(fs, FileHandleT{1}, 0).error(), EIO);
}

}  // namespace
}  // namespace fusepp::test
