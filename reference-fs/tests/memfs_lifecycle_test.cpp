// memfs inode lifecycle through a real mount: an inode lives while it has a name, an open
// handle or a kernel reference, and dies when the last of them goes; after a storm of
// namespace operations only the root is left and the structures are consistent.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <dirent.h>
#include <sys/syscall.h>

#include <map>
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

// An O_PATH descriptor holds the kernel's reference without opening the file in memfs, so
// the kernel cannot FORGET the unlinked inode: statfs must count it free all the same
// (tmpfs frees an unlinked closed file at once), and the FORGET that comes once the
// descriptor is closed must not free it twice.
TEST(Lifecycle, UnlinkedClosedFileIsFreeWhileTheKernelStillHoldsIt) {
  MemfsMount mount(uncached());
  auto file = mount.path() / "f";
  // The syscalls run on this thread: memfs serves on the mount's own thread.
  struct statvfs before, unlinked, forgotten;
  ASSERT_EQ(::statvfs(mount.path().c_str(), &before), 0);
  int fd = ::open(file.c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "data", 4), 4);
  ASSERT_EQ(::close(fd), 0);
  int path_fd = ::open(file.c_str(), O_PATH);
  ASSERT_GE(path_fd, 0);
  ASSERT_EQ(::unlink(file.c_str()), 0);
  EXPECT_EQ(::statvfs(mount.path().c_str(), &unlinked), 0);
  size_t held = mount.fs().inode_count();
  ::close(path_fd);
  EXPECT_EQ(held, 2u) << "the kernel must still hold the unlinked inode for this test to mean anything";
  EXPECT_EQ(unlinked.f_ffree, before.f_ffree) << "an unlinked closed file still counts as used";
  EXPECT_EQ(unlinked.f_bfree, before.f_bfree);
  drop_kernel_caches();
  EXPECT_EQ(wait_for_inode_count(mount.fs(), 1), 1u);
  ASSERT_EQ(::statvfs(mount.path().c_str(), &forgotten), 0);
  EXPECT_EQ(forgotten.f_ffree, before.f_ffree) << "FORGET freed it twice";
  EXPECT_EQ(forgotten.f_bfree, before.f_bfree);
  mount.unmount();
  EXPECT_EQ(mount.fs().check_consistency(), std::vector<std::string>{});
}

// A file kept open after its name and both directories above it were removed keeps all three
// charged, as tmpfs does (the open dentry keeps its parent's, which keeps its own parent's),
// and its close frees all three; the pins are consistent at every point.
TEST(Lifecycle, AnOpenRemovedFileKeepsTheRemovedDirectoriesAboveItCharged) {
  MemfsMount mount(uncached());
  auto a = mount.path() / "a";
  auto b = a / "b";
  struct statvfs before, removed, closed;
  ASSERT_EQ(::statvfs(mount.path().c_str(), &before), 0);
  ASSERT_EQ(::mkdir(a.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(b.c_str(), 0755), 0);
  int fd = ::open((b / "f").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::unlink((b / "f").c_str()), 0);
  ASSERT_EQ(::rmdir(b.c_str()), 0);
  ASSERT_EQ(::rmdir(a.c_str()), 0);
  EXPECT_EQ(::statvfs(mount.path().c_str(), &removed), 0);
  EXPECT_EQ(mount.fs().check_consistency(), std::vector<std::string>{});
  ASSERT_EQ(::close(fd), 0);
  EXPECT_EQ(::statvfs(mount.path().c_str(), &closed), 0);
  EXPECT_EQ(removed.f_ffree, before.f_ffree - 3) << "a, a/b and the open file are all still charged";
  EXPECT_EQ(closed.f_ffree, before.f_ffree) << "the close frees all three";
  drop_kernel_caches();
  EXPECT_EQ(wait_for_inode_count(mount.fs(), 1), 1u);
  mount.unmount();
  EXPECT_EQ(mount.fs().check_consistency(), std::vector<std::string>{});
}

// Four processes create, link, rename and unlink in a small name space; once everything
// is removed and the kernel forgot its inodes, memfs's table must hold the root alone,
// before and after unmount.
TEST(Lifecycle, NamespaceStormLeavesOnlyTheRoot) {
  MemfsMount mount(uncached(), true, 2);
  auto root = mount.path();
  std::vector<RunningChild> actors;
  for (unsigned i = 0; i < 4; ++i) {
    actors.push_back(start_child([&, i] {
      std::mt19937 rng(i);
      int successes = 0;
      auto name = [&] { return (root / ("n" + std::to_string(rng() % 12))).string(); };
      // A count, not a duration: under sanitizers and a loaded machine two seconds once
      // gave too few operations to mean anything. The deadline only stops a runaway.
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(50);
      while (successes < 300 && std::chrono::steady_clock::now() < until) {
        std::string a = name(), b = name();
        int rc = 0;
        switch (rng() % 6) {
          case 0: rc = ::close(::open(a.c_str(), O_CREAT | O_WRONLY, 0644)); break;
          case 1: rc = ::link(a.c_str(), b.c_str()); break;
          case 2: rc = ::rename(a.c_str(), b.c_str()); break;
          case 3: rc = ::unlink(a.c_str()); break;
          case 4: rc = ::mkdir(a.c_str(), 0755); break;
          case 5: rc = ::rmdir(a.c_str()); break;
        }
        successes += rc == 0;
      }
      return std::to_string(successes);
    }));
  }
  int successes = 0;
  for (auto actor : actors) {
    auto result = finish_child(actor, std::chrono::seconds(60));
    ASSERT_TRUE(result.ok()) << result.output;
    successes += std::stoi(result.output);
  }
  EXPECT_GT(successes, 1000) << "the storm hardly did anything";
  EXPECT_EQ(mount.fs().check_consistency(), std::vector<std::string>{});
  auto emptied = run_in_child([&] { return remove_contents(root); });
  ASSERT_TRUE(emptied.ok()) << emptied.output;
  drop_kernel_caches();
  EXPECT_EQ(wait_for_inode_count(mount.fs(), 1), 1u);
  mount.unmount();
  EXPECT_EQ(mount.fs().inode_count(), 1u);
  EXPECT_EQ(mount.fs().check_consistency(), std::vector<std::string>{});
}

// readdir resumes from memfs's cookies between getdents calls; names that exist for the
// whole listing must each appear exactly once however the directory changes meanwhile.
TEST(Lifecycle, ReaddirCookiesSurviveConcurrentChanges) {
  MemfsMount mount(uncached());
  auto dir = mount.path();
  auto result = run_in_child([&] {
    for (int i = 0; i < 300; ++i) {
      ::close(::creat((dir / ("keep" + std::to_string(i))).c_str(), 0644));
      ::close(::creat((dir / ("gone" + std::to_string(i))).c_str(), 0644));
    }
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    std::map<std::string, int> seen;
    char buf[1024];  // a few entries per call, so the listing resumes many times
    int calls = 0;
    for (long n; (n = ::syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0; ++calls) {
      for (long pos = 0; pos < n;) {
        auto* entry = reinterpret_cast<struct dirent64*>(buf + pos);
        seen[entry->d_name]++;
        pos += entry->d_reclen;
      }
      // Between calls: remove names, add new ones, and re-add a removed one.
      ::unlink((dir / ("gone" + std::to_string(calls))).c_str());
      ::close(::creat((dir / ("new" + std::to_string(calls))).c_str(), 0644));
    }
    ::close(fd);
    std::string problems;
    for (int i = 0; i < 300; ++i) {
      int count = seen["keep" + std::to_string(i)];
      if (count != 1) problems += "keep" + std::to_string(i) + " seen " + std::to_string(count) + " times\n";
    }
    for (const auto& [name, count] : seen) {
      if (count > 1) problems += name + " seen " + std::to_string(count) + " times\n";
    }
    if (seen["."] != 1 || seen[".."] != 1) problems += "'.' or '..' missing\n";
    if (calls < 20) problems += "only " + std::to_string(calls) + " getdents calls\n";
    return problems;
  });
  ASSERT_TRUE(result.ok()) << result.output;
  EXPECT_EQ(result.output, "");
  mount.unmount();
  EXPECT_EQ(mount.fs().check_consistency(), std::vector<std::string>{});
}

// READDIRPLUS hands the kernel one reference per entry; if memfs did not count them, the
// FORGETs after eviction would free inodes still named, or leak unnamed ones.
TEST(Lifecycle, ReaddirPlusReferencesAreCounted) {
  MemfsMount mount(uncached());
  auto dir = mount.path();
  auto listed = run_in_child([&] {
    for (int i = 0; i < 50; ++i) ::close(::creat((dir / ("f" + std::to_string(i))).c_str(), 0644));
    drop_kernel_caches();  // forget the CREATE references: the listing makes fresh ones
    std::error_code error;
    for (int pass = 0; pass < 3; ++pass) {
      for (const auto& entry : std::filesystem::directory_iterator(dir, error)) (void)entry.symlink_status();
    }
    return error ? error.message() : std::string();
  });
  ASSERT_TRUE(listed.ok()) << listed.output;
  drop_kernel_caches();
  EXPECT_EQ(wait_for_inode_count(mount.fs(), 51, std::chrono::milliseconds(500)), 51u);
  EXPECT_EQ(mount.fs().check_consistency(), std::vector<std::string>{});
  auto emptied = run_in_child([&] { return remove_contents(dir); });
  ASSERT_TRUE(emptied.ok()) << emptied.output;
  drop_kernel_caches();
  EXPECT_EQ(wait_for_inode_count(mount.fs(), 1), 1u);
}

}  // namespace
}  // namespace memfs::test
