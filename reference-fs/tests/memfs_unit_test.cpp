// memfs handlers called directly, without a mount: lookup counting and inode lifetime,
// rename rules, sparse data and accounting, option parsing (sizes, cache options). Each
// handler coroutine runs to completion on a private io_context (fusepp::testing::run_handler).
#include <gtest/gtest.h>
#include <cstring>
#include <linux/falloc.h>

#include <dirent.h>
#include <sys/xattr.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "fusepp/testing.hpp"
#include "memfs/memfs.hpp"
#include "memfs/mount_options.hpp"
#include "../src/page_arena.hpp"

namespace memfs::test {
namespace {

using fusepp::FUSEError;
using fusepp::InodeT;
using fusepp::ModeT;
using fusepp::ROOT_INODE;
using fusepp::testing::readdir_directly;
using fusepp::testing::run_handler;

class Handlers : public ::testing::Test {
 protected:
  Options small() {
    Options options;
    options.size_bytes = 64 * 4096;
    options.max_inodes = 8;
    return options;
  }
  MemFs fs{small()};
  fusepp::RequestContext root{0, 0, 1, 022};

  InodeT make_file(std::string_view name, InodeT parent = ROOT_INODE) {
    auto attr = run_handler(fs.mknod(parent, name, ModeT{S_IFREG | 0644}, 0, root));
    EXPECT_TRUE(attr.ok()) << attr.error();
    return attr->st_ino;
  }
  InodeT make_dir(std::string_view name, InodeT parent = ROOT_INODE) {
    auto attr = run_handler(fs.mkdir(parent, name, ModeT{0755}, root));
    EXPECT_TRUE(attr.ok()) << attr.error();
    return attr->st_ino;
  }
  void forget(InodeT inode, uint64_t count) { run_handler(fs.forget({{inode, count}})); }
  void expect_consistent() { EXPECT_EQ(fs.check_consistency(), std::vector<std::string>{}); }
  // For an inode without a name that the kernel references twice: the first forget keeps
  // it (`why`), the second frees it, leaving only the root.
  void expect_freed_by_second_forget(InodeT inode, const char* why) {
    forget(inode, 1);
    EXPECT_EQ(fs.inode_count(), 2u) << why;
    forget(inode, 1);
    EXPECT_EQ(fs.inode_count(), 1u);
    expect_consistent();
  }
};

TEST_F(Handlers, UnlinkedInodeLivesUntilTheKernelForgetsIt) {
  InodeT file = make_file("f");
  ASSERT_TRUE(run_handler(fs.lookup(ROOT_INODE, "f", root)).ok());  // second kernel reference
  ASSERT_TRUE(run_handler(fs.unlink(ROOT_INODE, "f", root)).ok());
  EXPECT_EQ(fs.inode_count(), 2u);
  auto attr = run_handler(fs.getattr(file, root));
  ASSERT_TRUE(attr.ok());
  EXPECT_EQ(attr->st_nlink, 0u);
  expect_freed_by_second_forget(file, "one reference is still held");
}

TEST_F(Handlers, OpenUnlinkedFileKeepsDataUntilRelease) {
  auto created = run_handler(fs.create(ROOT_INODE, "f", ModeT{0644}, fusepp::FlagT{O_RDWR}, root));
  ASSERT_TRUE(created.ok());
  auto [info, attr] = *created;
  ASSERT_TRUE(run_handler(fs.unlink(ROOT_INODE, "f", root)).ok());
  forget(attr.st_ino, 1);
  ASSERT_EQ(run_handler(fs.write(info.fh, 0, "still here", root)).value(), 10u);
  EXPECT_EQ(run_handler(fs.read(info.fh, 0, 100)).value(), "still here");
  EXPECT_EQ(fs.inode_count(), 2u);
  ASSERT_TRUE(run_handler(fs.release(info.fh)).ok());
  EXPECT_EQ(fs.inode_count(), 1u);
  expect_consistent();
}

TEST_F(Handlers, DotAndDotDotLookupsCountReferences) {
  InodeT dir = make_dir("d");
  EXPECT_EQ(run_handler(fs.lookup(dir, ".", root))->st_ino, dir);
  EXPECT_EQ(run_handler(fs.lookup(dir, "..", root))->st_ino, ROOT_INODE);
  ASSERT_TRUE(run_handler(fs.rmdir(ROOT_INODE, "d", root)).ok());
  expect_freed_by_second_forget(dir, "the '.' lookup still holds it");
}

// The kernel asks for "." only for a node it holds no inode of (open_by_handle_at), so an
// unlinked one is closed everywhere: on tmpfs its handle is stale. Its FORGET may still be
// queued behind the LOOKUP (seed 17 of the fuzzer, 3000 runs of 80 steps, met that).
TEST_F(Handlers, DotLookupOfAnUnlinkedNodeWhoseForgetIsPendingIsNotFound) {
  InodeT file = make_file("f");
  InodeT dir = make_dir("d");
  ASSERT_TRUE(run_handler(fs.unlink(ROOT_INODE, "f", root)).ok());
  ASSERT_TRUE(run_handler(fs.rmdir(ROOT_INODE, "d", root)).ok());
  EXPECT_EQ(run_handler(fs.lookup(file, ".", root)).error(), ENOENT);
  EXPECT_EQ(run_handler(fs.lookup(dir, ".", root)).error(), ENOENT);
  forget(file, 1);
  forget(dir, 1);
  EXPECT_EQ(fs.inode_count(), 1u);
  expect_consistent();
}

TEST_F(Handlers, DirectoryLinkCountsFollowSubdirectories) {
  InodeT a = make_dir("a");
  InodeT b = make_dir("b");
  make_dir("sub", a);
  EXPECT_EQ(run_handler(fs.getattr(a, root))->st_nlink, 3u);
  ASSERT_TRUE(run_handler(fs.rename(a, "sub", b, "sub", fusepp::FlagT{0}, root)).ok());
  EXPECT_EQ(run_handler(fs.getattr(a, root))->st_nlink, 2u);
  EXPECT_EQ(run_handler(fs.getattr(b, root))->st_nlink, 3u);
  EXPECT_EQ(run_handler(fs.getattr(ROOT_INODE, root))->st_nlink, 4u);
  expect_consistent();
}

TEST_F(Handlers, RenameRefusesLoopsAndKeepsStructure) {
  InodeT a = make_dir("a");
  InodeT b = make_dir("b", a);
  InodeT c = make_dir("c", b);
  EXPECT_EQ(run_handler(fs.rename(ROOT_INODE, "a", c, "x", fusepp::FlagT{0}, root)).error(), EINVAL);
  EXPECT_EQ(run_handler(fs.rename(ROOT_INODE, "a", a, "x", fusepp::FlagT{0}, root)).error(), EINVAL);
  EXPECT_EQ(run_handler(fs.rename(b, "c", ROOT_INODE, "a", fusepp::FlagT{RENAME_EXCHANGE}, root)).error(), EINVAL);
  EXPECT_EQ(run_handler(fs.rename(b, "c", ROOT_INODE, "a", fusepp::FlagT{0}, root)).error(), ENOTEMPTY);
  EXPECT_EQ(run_handler(fs.rename(b, "c", ROOT_INODE, "a", fusepp::FlagT{8}, root)).error(), EINVAL);
  expect_consistent();
}

TEST_F(Handlers, ExchangeAcrossDirectoriesMovesLinkCounts) {
  InodeT a = make_dir("a");
  InodeT b = make_dir("b");
  make_dir("sub", a);
  make_file("f", b);
  ASSERT_TRUE(run_handler(fs.rename(a, "sub", b, "f", fusepp::FlagT{RENAME_EXCHANGE}, root)).ok());
  EXPECT_EQ(run_handler(fs.getattr(a, root))->st_nlink, 2u);
  EXPECT_EQ(run_handler(fs.getattr(b, root))->st_nlink, 3u);
  EXPECT_TRUE(S_ISREG(run_handler(fs.lookup(a, "sub", root))->st_mode));
  EXPECT_TRUE(S_ISDIR(run_handler(fs.lookup(b, "f", root))->st_mode));
  expect_consistent();
}

TEST_F(Handlers, SparseWriteFarAwayCostsOnePage) {
  auto created = run_handler(fs.create(ROOT_INODE, "f", ModeT{0644}, fusepp::FlagT{O_RDWR}, root));
  auto fh = created->first.fh;
  auto before = run_handler(fs.statfs(root)).value();
  ASSERT_EQ(run_handler(fs.write(fh, off_t{1} << 40, "x", root)).value(), 1u);
  auto attr = run_handler(fs.getattr(created->second.st_ino, root)).value();
  EXPECT_EQ(attr.st_size, (int64_t{1} << 40) + 1);
  EXPECT_EQ(attr.st_blocks, 8);
  EXPECT_EQ(run_handler(fs.statfs(root))->f_bfree, before.f_bfree - 1);
  EXPECT_EQ(run_handler(fs.read(fh, (off_t{1} << 40) - 2, 4)).value(), std::string("\0\0x", 3));
  EXPECT_EQ(run_handler(fs.lseek(fh, 0, SEEK_DATA)).value(), off_t{1} << 40);
  EXPECT_EQ(run_handler(fs.lseek(fh, 0, SEEK_HOLE)).value(), 0);
  expect_consistent();
}

// read_data() answers with views into the pages (and zeros for holes) holding the file's
// bytes, clipped at the end of the file.
TEST_F(Handlers, ReadDataViewsTheFilesBytes) {
  auto created = run_handler(fs.create(ROOT_INODE, "f", ModeT{0644}, fusepp::FlagT{O_RDWR}, root));
  auto fh = created->first.fh;
  ASSERT_EQ(run_handler(fs.write(fh, 5000, "abc", root)).value(), 3u);
  ASSERT_EQ(run_handler(fs.write(fh, 300000, std::string(9000, 'z'), root)).value(), 9000u);
  std::string file(309000, '\0');
  file.replace(5000, 3, "abc");
  file.replace(300000, 9000, std::string(9000, 'z'));
  for (auto [off, size] : {std::pair<size_t, size_t>{0, 400000}, {4999, 5}, {100000, 70000}, {308000, 4096}}) {
    auto data = run_handler(fs.read_data(fh, static_cast<off_t>(off), size, root));
    ASSERT_TRUE(data.ok());
    std::string joined;
    for (const iovec& piece : data->pieces()) joined.append(static_cast<const char*>(piece.iov_base), piece.iov_len);
    EXPECT_EQ(joined.size(), data->size());
    EXPECT_EQ(joined, file.substr(off, size)) << "at " << off;
  }
  EXPECT_EQ(run_handler(fs.read_data(fusepp::FileHandleT{999}, 0, 10, root)).error(), EBADF);
}

TEST_F(Handlers, SizeLimitGivesShortWriteThenEnospc) {
  auto created = run_handler(fs.create(ROOT_INODE, "f", ModeT{0644}, fusepp::FlagT{O_RDWR}, root));
  auto fh = created->first.fh;
  std::string big(70 * 4096, 'a');
  EXPECT_EQ(run_handler(fs.write(fh, 0, big, root)).value(), 64u * 4096);
  EXPECT_EQ(run_handler(fs.write(fh, 64 * 4096, "b", root)).error(), ENOSPC);
  EXPECT_EQ(run_handler(fs.fallocate(fh, 0, 0, 4096 * 100)).error(), ENOSPC);
  ASSERT_TRUE(run_handler(fs.fallocate(fh, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 8192)).ok());
  EXPECT_EQ(run_handler(fs.statfs(root))->f_bfree, 2u);
  expect_consistent();
}

TEST_F(Handlers, InodeLimitCountsInodesHardLinksAndXattrs) {
  // nr_inodes=8: the root and seven more, each extra hard link counting as one.
  InodeT file = make_file("f0");
  for (int i = 1; i < 5; ++i) make_file("f" + std::to_string(i));
  ASSERT_TRUE(run_handler(fs.link(file, ROOT_INODE, "link", root)).ok());
  ASSERT_TRUE(run_handler(fs.setxattr(file, "user.a", std::string(900, 'v'), fusepp::FlagT{0}, root)).ok());
  EXPECT_EQ(run_handler(fs.statfs(root))->f_ffree, 0u);
  EXPECT_EQ(run_handler(fs.mknod(ROOT_INODE, "x", ModeT{S_IFREG | 0644}, 0, root)).error(), ENOSPC);
  EXPECT_EQ(run_handler(fs.link(file, ROOT_INODE, "link2", root)).error(), ENOSPC);
  ASSERT_TRUE(run_handler(fs.removexattr(file, "user.a", root)).ok());
  EXPECT_EQ(run_handler(fs.statfs(root))->f_ffree, 1u);
  expect_consistent();
}

// tmpfs frees an unlinked inode when its last user goes; under FUSE the kernel's FORGET can
// come seconds after the last close, so memfs must not wait for it to count the space free.
TEST_F(Handlers, UnlinkedClosedInodeIsFreeBeforeTheKernelForgetsIt) {
  auto before = run_handler(fs.statfs(root)).value();
  auto created = run_handler(fs.create(ROOT_INODE, "f", ModeT{0644}, fusepp::FlagT{O_RDWR}, root));
  ASSERT_TRUE(created.ok());
  auto [info, attr] = *created;
  ASSERT_EQ(run_handler(fs.write(info.fh, 0, std::string(5000, 'x'), root)).value(), 5000u);
  ASSERT_TRUE(run_handler(fs.setxattr(attr.st_ino, "user.a", std::string(900, 'v'), fusepp::FlagT{0}, root)).ok());
  ASSERT_TRUE(run_handler(fs.unlink(ROOT_INODE, "f", root)).ok());
  auto open_unlinked = run_handler(fs.statfs(root)).value();
  EXPECT_EQ(open_unlinked.f_ffree, before.f_ffree - 2) << "an open unlinked file still uses its space";
  EXPECT_EQ(open_unlinked.f_bfree, before.f_bfree - 2);
  ASSERT_TRUE(run_handler(fs.release(info.fh)).ok());
  auto closed = run_handler(fs.statfs(root)).value();
  EXPECT_EQ(closed.f_ffree, before.f_ffree) << "the kernel's lookup count must not keep it charged";
  EXPECT_EQ(closed.f_bfree, before.f_bfree);
  EXPECT_EQ(fs.inode_count(), 2u) << "the storage stays until FORGET";
  EXPECT_EQ(run_handler(fs.getattr(attr.st_ino, root))->st_nlink, 0u);
  expect_consistent();
  forget(attr.st_ino, 1);
  EXPECT_EQ(fs.inode_count(), 1u);
  auto forgotten = run_handler(fs.statfs(root)).value();
  EXPECT_EQ(forgotten.f_ffree, before.f_ffree) << "FORGET must not free it twice";
  EXPECT_EQ(forgotten.f_bfree, before.f_bfree);
  expect_consistent();
}

TEST_F(Handlers, LimitsCountAnUnlinkedClosedInodeAsFree) {
  // nr_inodes=8: the root and seven files fill it; one unlinked but still known to the
  // kernel makes room for one more, and FORGET afterwards frees nothing twice.
  std::vector<InodeT> files;
  for (int i = 0; i < 7; ++i) files.push_back(make_file("f" + std::to_string(i)));
  EXPECT_EQ(run_handler(fs.mknod(ROOT_INODE, "x", ModeT{S_IFREG | 0644}, 0, root)).error(), ENOSPC);
  ASSERT_TRUE(run_handler(fs.unlink(ROOT_INODE, "f0", root)).ok());
  EXPECT_EQ(run_handler(fs.statfs(root))->f_ffree, 1u);
  ASSERT_TRUE(run_handler(fs.mknod(ROOT_INODE, "x", ModeT{S_IFREG | 0644}, 0, root)).ok());
  EXPECT_EQ(run_handler(fs.statfs(root))->f_ffree, 0u);
  expect_consistent();
  forget(files[0], 1);
  EXPECT_EQ(run_handler(fs.statfs(root))->f_ffree, 0u);
  EXPECT_EQ(run_handler(fs.mknod(ROOT_INODE, "y", ModeT{S_IFREG | 0644}, 0, root)).error(), ENOSPC);
  expect_consistent();
}

TEST_F(Handlers, XattrFlagsAndNamespaces) {
  InodeT file = make_file("f");
  fusepp::RequestContext user{1000, 1000, 1, 022};
  EXPECT_EQ(run_handler(fs.setxattr(file, "user.a", "1", fusepp::FlagT{XATTR_REPLACE}, root)).error(), ENODATA);
  EXPECT_TRUE(run_handler(fs.setxattr(file, "user.a", "1", fusepp::FlagT{XATTR_CREATE}, root)).ok());
  EXPECT_EQ(run_handler(fs.setxattr(file, "user.a", "2", fusepp::FlagT{XATTR_CREATE}, root)).error(), EEXIST);
  EXPECT_TRUE(run_handler(fs.setxattr(file, "trusted.t", "1", fusepp::FlagT{0}, root)).ok());
  EXPECT_EQ(run_handler(fs.setxattr(file, "trusted.u", "1", fusepp::FlagT{0}, user)).error(), EPERM);
  EXPECT_EQ(run_handler(fs.getxattr(file, "trusted.t", user)).error(), ENODATA);
  EXPECT_EQ(run_handler(fs.listxattr(file, user)).value(), std::vector<std::string>{"user.a"});
  EXPECT_EQ(run_handler(fs.listxattr(file, root)).value(), (std::vector<std::string>{"user.a", "trusted.t"}));
  EXPECT_EQ(run_handler(fs.setxattr(file, "user.a", "1", fusepp::FlagT{0}, user)).error(), EACCES);
  EXPECT_EQ(run_handler(fs.setxattr(file, "other.a", "1", fusepp::FlagT{0}, root)).error(), EOPNOTSUPP);
  expect_consistent();
}

TEST_F(Handlers, PermissionChecksWithoutTheKernel) {
  InodeT dir = make_dir("d");  // 0755 root
  fusepp::RequestContext user{1000, 1000, 1, 022};
  EXPECT_EQ(run_handler(fs.mknod(dir, "f", ModeT{S_IFREG | 0644}, 0, user)).error(), EACCES);
  InodeT file = make_file("f", dir);
  EXPECT_FALSE(run_handler(fs.access(file, W_OK, user)).value());
  EXPECT_TRUE(run_handler(fs.access(file, R_OK, user)).value());
  EXPECT_FALSE(run_handler(fs.access(file, X_OK, root)).value()) << "root needs some x bit to execute";
  EXPECT_EQ(run_handler(fs.open(file, fusepp::FlagT{O_WRONLY}, user)).error(), EACCES);
  EXPECT_EQ(run_handler(fs.unlink(dir, "f", user)).error(), EACCES);
  EXPECT_EQ(run_handler(fs.link(file, ROOT_INODE, "l", user)).error(), EPERM) << "protected_hardlinks";
  expect_consistent();
}

namespace arena = memfs::page_arena;

// Slots for `count` pages, each filled with its own byte (checked before they go back).
std::vector<char*> fill_slots(size_t count) {
  std::vector<char*> slots;
  for (size_t i = 0; i < count; ++i) {
    slots.push_back(static_cast<char*>(arena::allocate()));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(slots.back()) % 4096, 0u) << "a slot must not straddle two pages";
    std::memset(slots.back(), static_cast<int>(i & 0xff), arena::kSlotSize);
  }
  for (size_t i = 0; i < slots.size(); ++i) EXPECT_EQ(slots[i][100], static_cast<char>(i & 0xff)) << i;
  return slots;
}

void give_back(const std::vector<char*>& slots) {
  for (char* slot : slots) arena::deallocate(slot);
}

// Restores the arena's default retention after a test that changed it.
struct RetentionForTest {
  explicit RetentionForTest(arena::Retention retention) { arena::set_retention(retention); }
  ~RetentionForTest() { arena::set_retention({size_t{256} << 20, arena::kDefaultDecay}); }
};

constexpr size_t kChunkBytes = size_t{2} << 20;
constexpr size_t kThreeChunksOfSlots = 1600;  // 511 slots fit in a chunk

// Emptied chunks are kept and reused: writing again after a delete maps no new memory beyond
// the few chunks the arena prepares ahead.
TEST(PageArena, EmptiedChunksAreReusedBeforeNewOnes) {
  arena::set_retention({0, std::chrono::hours(1)});  // chunks an earlier test left retained would fill first
  RetentionForTest retention({64 * kChunkBytes, std::chrono::hours(1)});
  constexpr size_t kTenChunksOfSlots = 5110;
  size_t before = arena::chunks_mapped();
  give_back(fill_slots(kTenChunksOfSlots));
  size_t after_first = arena::chunks_mapped();
  EXPECT_GE(after_first, before + 10);
  EXPECT_GE(arena::chunks_retained(), 10u);
  auto again = fill_slots(kTenChunksOfSlots);
  EXPECT_LE(arena::chunks_mapped(), after_first + 4) << "retained chunks must be reused";
  give_back(again);
}

// While chunks are used up, the next ones are mapped and populated ahead, off the caller's path.
TEST(PageArena, NextChunksArePreparedAhead) {
  arena::set_retention({0, std::chrono::hours(1)});  // drops what earlier tests left retained
  ASSERT_EQ(arena::chunks_retained(), 0u);
  RetentionForTest retention({64 * kChunkBytes, std::chrono::hours(1)});
  auto slots = fill_slots(kThreeChunksOfSlots);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (arena::chunks_retained() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GE(arena::chunks_retained(), 1u) << "no chunk was freed, so a retained one was prepared";
  give_back(slots);
}

// What exceeds the bound goes back at once.
TEST(PageArena, RetentionIsBounded) {
  RetentionForTest retention({kChunkBytes, std::chrono::hours(1)});
  size_t before = arena::chunks_mapped();
  give_back(fill_slots(kThreeChunksOfSlots));
  EXPECT_LE(arena::chunks_retained(), 1u);
  EXPECT_LE(arena::chunks_mapped(), before + 1);
}

// Retained chunks go back to the kernel after the decay time with no further arena call, so
// memfs's memory shrinks soon after a big file is deleted.
TEST(PageArena, RetainedChunksGoBackAfterTheDecay) {
  RetentionForTest retention({64 * kChunkBytes, std::chrono::milliseconds(200)});
  size_t before = arena::chunks_mapped();
  give_back(fill_slots(kThreeChunksOfSlots));
  EXPECT_GE(arena::chunks_retained(), 3u);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (arena::chunks_retained() != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(arena::chunks_retained(), 0u);
  EXPECT_LE(arena::chunks_mapped(), before);
}

// A page reuses the slot of a deleted file's page (the chunk stays in use for another
// file): wherever tmpfs would read zeros, so must memfs, whatever the slot held before.
TEST_F(Handlers, ReusedPagesReadAsZeros) {
  auto keep = run_handler(fs.create(ROOT_INODE, "keep", ModeT{0644}, fusepp::FlagT{O_RDWR}, root));
  ASSERT_EQ(run_handler(fs.write(keep->first.fh, 0, "k", root)).value(), 1u);
  auto old = run_handler(fs.create(ROOT_INODE, "old", ModeT{0644}, fusepp::FlagT{O_RDWR}, root));
  ASSERT_EQ(run_handler(fs.write(old->first.fh, 0, std::string(32 * 4096, 'x'), root)).value(), 32u * 4096);
  ASSERT_TRUE(run_handler(fs.unlink(ROOT_INODE, "old", root)).ok());
  ASSERT_TRUE(run_handler(fs.release(old->first.fh)).ok());
  forget(old->second.st_ino, 1);

  auto created = run_handler(fs.create(ROOT_INODE, "new", ModeT{0644}, fusepp::FlagT{O_RDWR}, root));
  auto fh = created->first.fh;
  ASSERT_EQ(run_handler(fs.write(fh, 100, "y", root)).value(), 1u);                                // inside page 0
  ASSERT_EQ(run_handler(fs.write(fh, 4096 + 2048, std::string(4096, 'z'), root)).value(), 4096u);  // pages 1-2
  ASSERT_TRUE(run_handler(fs.fallocate(fh, 0, 3 * 4096, 2 * 4096)).ok());                          // pages 3-4
  std::string expected(5 * 4096, '\0');
  expected[100] = 'y';
  expected.replace(4096 + 2048, 4096, std::string(4096, 'z'));
  std::string got = run_handler(fs.read(fh, 0, expected.size())).value();
  ASSERT_EQ(got.size(), expected.size());
  auto differs = std::mismatch(got.begin(), got.end(), expected.begin());
  EXPECT_EQ(differs.first, got.end()) << "first wrong byte at offset " << differs.first - got.begin();
  ASSERT_TRUE(run_handler(fs.release(fh)).ok());
  ASSERT_TRUE(run_handler(fs.release(keep->first.fh)).ok());
  expect_consistent();
}

// A large write (copied with streaming stores, whole pages) over a file whose pages are partly
// there already: new pages go between the old ones, old ones are overwritten in place, and the
// partial pages at both ends keep the bytes the write does not cover.
TEST_F(Handlers, LargeWriteAmongExistingPages) {
  auto created = run_handler(fs.create(ROOT_INODE, "f", ModeT{0644}, fusepp::FlagT{O_RDWR}, root));
  auto fh = created->first.fh;
  std::string expected(70 * 4096, '\0');
  for (size_t page : {0, 5, 6, 40, 69}) {
    std::string old(4096, static_cast<char>('a' + page % 26));
    ASSERT_EQ(run_handler(fs.write(fh, static_cast<off_t>(page * 4096), old, root)).value(), 4096u);
    expected.replace(page * 4096, 4096, old);
  }
  std::string large(200 * 1024 + 123, '\0');  // the fixture's size= is 256 KiB
  for (size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>(i * 7 % 251);
  constexpr size_t kAt = 2 * 4096 + 1000;  // mid-page: partial pages at both ends
  ASSERT_EQ(run_handler(fs.write(fh, kAt, large, root)).value(), large.size());
  expected.replace(kAt, large.size(), large);
  std::string got = run_handler(fs.read(fh, 0, expected.size())).value();
  ASSERT_EQ(got.size(), expected.size());
  auto differs = std::mismatch(got.begin(), got.end(), expected.begin());
  EXPECT_EQ(differs.first, got.end()) << "first wrong byte at offset " << differs.first - got.begin();
  EXPECT_EQ(run_handler(fs.getattr(created->second.st_ino, root))->st_blocks, (51 + 2) * 8) << "pages 0, 2-52 and 69";
  ASSERT_TRUE(run_handler(fs.release(fh)).ok());
  expect_consistent();
}

// Takes every free slot the arena has, up to a fresh chunk's last, each filled with `stale`,
// then gives back the last `left`: the next `left` allocations reuse slots holding `stale`
// and the one after maps a chunk. The arena must retain no emptied chunk meanwhile.
std::vector<char*> leave_stale_slots(size_t left, char stale) {
  std::vector<char*> taken;
  for (int fresh_chunks = 0; fresh_chunks < 2; ++fresh_chunks) {
    for (size_t mapped = arena::chunks_mapped(); arena::chunks_mapped() == mapped;) {
      taken.push_back(static_cast<char*>(arena::allocate()));
      std::memset(taken.back(), stale, arena::kSlotSize);
    }
  }
  // The last slot is the second fresh chunk's only one: giving it back unmaps that chunk.
  for (size_t i = 0; i <= left; ++i) {
    arena::deallocate(taken.back());
    taken.pop_back();
  }
  return taken;
}

// The arena cannot map a chunk midway through a write: as on tmpfs out of memory, the write
// is short (the pages it got; ENOMEM with none), the size covers exactly those bytes, and a
// reused slot's earlier bytes never show.
TEST_F(Handlers, WriteFailingMidwayIsShortAndShowsNoStaleBytes) {
  constexpr char kStale = '\xee';
  auto created = run_handler(fs.create(ROOT_INODE, "f", ModeT{0644}, fusepp::FlagT{O_RDWR}, root));
  auto fh = created->first.fh;
  ASSERT_EQ(run_handler(fs.write(fh, 0, std::string(4096, 'o'), root)).value(), 4096u);
  {
    RetentionForTest retention({0, std::chrono::hours(1)});
    std::vector<char*> taken = leave_stale_slots(2, kStale);
    arena::fail_next_chunk_for_test();
    EXPECT_EQ(run_handler(fs.write(fh, 4096, std::string(5 * 4096, 'n'), root)).value(), 2u * 4096);  // pages 1-2
    arena::fail_next_chunk_for_test();
    EXPECT_EQ(run_handler(fs.write(fh, 3 * 4096, "x", root)).error(), ENOMEM);
    arena::fail_next_chunk_for_test(false);
    give_back(taken);
  }
  EXPECT_EQ(run_handler(fs.getattr(created->second.st_ino, root))->st_size, 3 * 4096);
  std::string content = run_handler(fs.read(fh, 0, 8 * 4096)).value();
  EXPECT_EQ(content.find(kStale), std::string::npos)
      << "a reused slot's earlier bytes show at offset " << content.find(kStale);
  EXPECT_EQ(content, std::string(4096, 'o') + std::string(2 * 4096, 'n'));
  ASSERT_TRUE(run_handler(fs.release(fh)).ok());
  expect_consistent();
}

TEST(ParseSize, AcceptsTmpfsSuffixes) {
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("64k"), 64u << 10);
  EXPECT_EQ(parse_size("2M"), 2u << 20);
  EXPECT_EQ(parse_size("1g"), uint64_t{1} << 30);
  EXPECT_GT(parse_size("10%").value_or(0), 0u);
  EXPECT_EQ(parse_size(""), std::nullopt);
  EXPECT_EQ(parse_size("12q"), std::nullopt);
  EXPECT_EQ(parse_size("k"), std::nullopt);
  EXPECT_EQ(parse_size("99999999999999999999"), std::nullopt);
}

// A breaker (must_fail_with mount:) adds its options after the scenario's: the last wins.
TEST(MountOptions, LastOfACacheOptionAndItsNoFormWins) {
  MountConfig config("memfs");
  apply_mount_option_list(config, "writeback_cache");
  EXPECT_TRUE(config.fs.writeback_cache);
  apply_mount_option_list(config, "no_writeback_cache");
  EXPECT_FALSE(config.fs.writeback_cache);
  apply_mount_option_list(config, "no_writeback_cache,writeback_cache");
  EXPECT_TRUE(config.fs.writeback_cache);
  EXPECT_THROW(apply_mount_option(config, "no_writeback_cache=1"), UsageError);
  EXPECT_TRUE(config.fs.auto_inval_data);
  apply_mount_option_list(config, "auto_inval_data,no_auto_inval_data");
  EXPECT_FALSE(config.fs.auto_inval_data);
  EXPECT_FALSE(MemFs(config.fs).auto_inval_data) << "the option reaches what INIT asks for";
}

// Options for tests, off unless asked for, taking no value: the breaker of
// kernel/unmount-sends-no-forget, and the fuzzer's coarse-clock target (fuzz/tests show its
// clock probe telling that one from the default).
TEST(MountOptions, TestOnlyFlagsOnlyWhenAsked) {
  for (auto [option, field] : {std::pair{"unmount_keeps_lookup_counts", &Options::unmount_keeps_lookup_counts},
                               std::pair{"coarse_clock", &Options::coarse_clock}}) {
    MountConfig config("memfs");
    EXPECT_FALSE(config.fs.*field) << option;
    apply_mount_option_list(config, option);
    EXPECT_TRUE(config.fs.*field) << option;
    EXPECT_THROW(apply_mount_option(config, std::string(option) + "=1"), UsageError);
  }
}

// readdir cookies, checked without the kernel: a listing resumed from the last cookie the
// kernel got never repeats or skips a surviving entry while names come and go (tmpfs on
// Linux 6.18 lists newest first; so does memfs).
TEST_F(Handlers, ReaddirResumesFromItsCookieWhileEntriesChange) {
  make_file("a");
  make_file("b");
  make_file("c");
  auto opened = run_handler(fs.opendir(ROOT_INODE, fusepp::FlagT{O_RDONLY}, root));
  ASSERT_TRUE(opened.ok());
  // '.', '..' and "c" fill 3 records of 32 bytes: a 100-byte buffer stops there.
  auto first = readdir_directly(fs, *opened, 0, 100);
  ASSERT_TRUE(first.ok());
  std::vector<std::string> names;
  for (const auto& e : *first) names.push_back(e.name);
  ASSERT_EQ(names, (std::vector<std::string>{".", "..", "c"}));
  EXPECT_EQ(first->back().type, unsigned{DT_REG});
  make_file("d");  // newer than the cookie: not listed by this pass, as on tmpfs
  ASSERT_TRUE(run_handler(fs.unlink(ROOT_INODE, "a", root)).ok());
  auto rest = readdir_directly(fs, *opened, first->back().next_id, 4096);
  ASSERT_TRUE(rest.ok());
  names.clear();
  for (const auto& e : *rest) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"b"}));
  ASSERT_TRUE(run_handler(fs.releasedir(*opened)).ok());
  expect_consistent();
}

}  // namespace
}  // namespace memfs::test
