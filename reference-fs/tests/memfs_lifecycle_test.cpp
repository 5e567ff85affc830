// memfs inode lifecycle through a real mount: an inode lives while it has a name, an open
// handle or a kernel reference, and dies when the last of them goes; after a storm of
// namespace operations only the root is left and the structures are consistent.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <random>

#include "support.hpp"

namespace memfs::test {
namespace {

TEST(Lifecycle, KernelForgetFreesNamedFileOnlyWhenUnlinked) {
  MemfsMount mount(uncached());
  auto dir = mount.path();
  auto created = run_in_child([&] {
    int fd = ::open((dir / "f").c_str(), O_CREAT | O_WRONLY, 0644);
    ::close(fd);
    struct stat st;
    ::stat((dir / "f").c_str(), &st);
    return std::string();
  });
  ASSERT_TRUE(created.ok()) << created.output;
  drop_kernel_caches();
  // The name keeps the inode even after the kernel forgot it.
  EXPECT_EQ(wait_for_inode_count(mount.fs(), 1, std::chrono::milliseconds(300)), 2u);
  auto removed = run_in_child([&] { return ::unlink((dir / "f").c_str()) == 0 ? "" : "unlink failed"; });
  ASSERT_TRUE(removed.ok()) << removed.output;
  drop_kernel_caches();
  EXPECT_EQ(wait_for_inode_count(mount.fs(), 1), 1u);
  mount.unmount();
  EXPECT_EQ(mount.fs().check_consistency(), std::vector<std::string>{});
}

}  // namespace
}  // namespace memfs::test
