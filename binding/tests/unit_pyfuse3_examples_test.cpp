// pyfuse3's data-structure documentation (EntryAttributes, FileInfo, RequestContext,
// SetattrFields, StatvfsData), each usage example translated line by line into fusepp (only the
// syntax changes), so the promise "a pyfuse3 user can translate its examples" is compiled and
// checked. Handlers are called directly with fusepp::testing::run_handler.
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "fusepp/fusepp.hpp"
#include "fusepp/testing.hpp"

namespace fusepp::test {
namespace {

using testing::run_handler;

int64_t time_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(Pyfuse3Examples, EntryAttributesUsage) {
  EntryAttributes entry;
  entry.st_ino = InodeT{42};
  entry.st_mode = S_IFDIR | 0755;
  entry.st_nlink = 2;  // . and ..
  entry.st_uid = ::getuid();
  entry.st_gid = ::getgid();
  entry.st_size = 4096;
  entry.st_blksize = 4096;
  entry.st_blocks = 8;  // 4096 / 512
  int64_t now_ns = time_ns();
  entry.st_atime_ns = now_ns;
  entry.st_mtime_ns = now_ns;
  entry.st_ctime_ns = now_ns;
  entry.st_birthtime_ns = now_ns;  // 0 on Linux
  entry.entry_timeout = 1.0;
  entry.attr_timeout = 1.0;

  EXPECT_EQ(entry.st_mode, 040755u);
  EXPECT_TRUE(S_ISDIR(entry.st_mode));
  struct stat st = entry.to_stat();
  EXPECT_EQ(st.st_mode, 040755u);
  EXPECT_EQ(st.st_ino, 42u);
}

TEST(Pyfuse3Examples, DefaultValues) {
  EntryAttributes entry;
  EXPECT_EQ(entry.entry_timeout, 300);
  EXPECT_EQ(entry.attr_timeout, 300);
  EXPECT_EQ(entry.st_mode, S_IFREG | 0644);
  EXPECT_EQ(entry.st_blksize, 4096);
  EXPECT_EQ(entry.st_nlink, 1u);
  EXPECT_EQ(entry.st_size, 0);
  FileInfo fi;
  EXPECT_EQ(fi.fh, FileHandleT{0});
  EXPECT_FALSE(fi.direct_io);
  EXPECT_TRUE(fi.keep_cache);
  EXPECT_FALSE(fi.nonseekable);
}

TEST(Pyfuse3Examples, TimeHandling) {
  int64_t now_ns = time_ns();
  EXPECT_GT(now_ns, 1'600'000'000LL * 1'000'000'000);
  int64_t seconds = 1234567890;
  int64_t nanoseconds = seconds * 1'000'000'000;
  EXPECT_EQ(nanoseconds / 1'000'000'000, seconds);
}

TEST(Pyfuse3Examples, FileTypes) {
  EntryAttributes entry;
  entry.st_mode = S_IFLNK | 0777;  // symlinks always 0777
  auto file_type = entry.st_mode & S_IFMT;
  EXPECT_EQ(file_type, static_cast<unsigned>(S_IFLNK));
  EXPECT_TRUE(S_ISLNK(entry.st_mode));
  entry.st_mode = S_IFREG | 0644;
  EXPECT_TRUE(S_ISREG(entry.st_mode));
  entry.st_mode = S_IFDIR | 0755;
  EXPECT_TRUE(S_ISDIR(entry.st_mode));
  EXPECT_FALSE(S_ISREG(entry.st_mode));
}

TEST(Pyfuse3Examples, BlocksCalculation) {
  EntryAttributes entry;
  entry.st_size = 10000;
  entry.st_blocks = static_cast<int64_t>(std::ceil(entry.st_size / 512.0));
  EXPECT_EQ(entry.st_blocks, 20);
  int64_t block_size = 4096;
  int64_t blocks_used = (entry.st_size + block_size - 1) / block_size;
  entry.st_blocks = blocks_used * (block_size / 512);
  EXPECT_EQ(entry.st_blocks, 24);
  entry.st_size = 1'000'000'000;  // sparse: no blocks allocated
  entry.st_blocks = 0;
  EXPECT_EQ(entry.to_stat().st_blocks, 0);
}

TEST(Pyfuse3Examples, CacheTimeoutsAndPickling) {
  EntryAttributes entry;
  entry.entry_timeout = 0;
  entry.attr_timeout = 0;
  entry.entry_timeout = 3600.0;
  entry.entry_timeout = std::numeric_limits<double>::infinity();
  entry.attr_timeout = std::numeric_limits<double>::infinity();
  entry.st_mode = S_IFREG | 0600;
  StatDict data = entry.getstate();  // pickle.dumps
  EntryAttributes restored;
  restored.setstate(data);  // pickle.loads
  EXPECT_EQ(restored, entry);
  EXPECT_TRUE(std::isinf(restored.attr_timeout));
}

// The Operations examples: MyFS's open/create, cache control, non-seekable files, umask,
// check_access, setattr and statfs, in one filesystem whose inodes live in a map.
class MyFs : public Operations {
 public:
  uint64_t next_fh = 1;
  std::map<uint64_t, std::pair<InodeT, FlagT>> open_files;
  std::map<uint64_t, EntryAttributes> inodes;
  bool volatile_data = false;
  int64_t total_bytes = 1'000'000'000;
  int64_t used_bytes = 500'000'000;

  Reply<EntryAttributes> getattr(InodeT inode, const RequestContext&) override {
    auto it = inodes.find(inode);
    if (it == inodes.end()) co_return FUSEError(ENOENT);
    co_return it->second;
  }

  Reply<FileInfo> open(InodeT inode, FlagT flags, const RequestContext& ctx) override {
    uint64_t fh = next_fh;
    next_fh += 1;
    open_files[fh] = {inode, flags};
    if (volatile_data) co_return FileInfo{.fh = FileHandleT{fh}, .direct_io = true, .keep_cache = false};
    EntryAttributes attr = (co_await getattr(inode, ctx)).value();
    bool is_nonseekable = S_ISFIFO(attr.st_mode) || S_ISSOCK(attr.st_mode);
    co_return FileInfo{.fh = FileHandleT{fh},
                       .direct_io = is_nonseekable,  // usually wanted too
                       .keep_cache = true,
                       .nonseekable = is_nonseekable};
  }

  Reply<std::pair<FileInfo, EntryAttributes>> create(InodeT, std::string_view, ModeT mode, FlagT flags,
                                                     const RequestContext& ctx) override {
    ModeT final_mode = mode & ~ctx.umask();
    EntryAttributes entry;
    entry.st_ino = InodeT{10 + inodes.size()};
    entry.st_mode = S_IFREG | final_mode;
    entry.st_uid = ctx.uid();
    entry.st_gid = ctx.gid();
    InodeT new_inode = entry.st_ino;
    inodes[new_inode] = entry;
    uint64_t fh = next_fh;
    next_fh += 1;
    open_files[fh] = {new_inode, flags};
    FileInfo fi{.fh = FileHandleT{fh}};
    EntryAttributes created = (co_await getattr(new_inode, ctx)).value();
    co_return std::pair{fi, created};
  }

  Reply<EntryAttributes> mknod(InodeT, std::string_view, ModeT mode, dev_t, const RequestContext& ctx) override {
    ModeT final_mode = mode & ~ctx.umask();
    EntryAttributes entry;
    entry.st_mode = final_mode;
    co_return entry;
  }

  Reply<EntryAttributes> mkdir(InodeT, std::string_view, ModeT mode, const RequestContext& ctx) override {
    ModeT final_mode = (S_IFDIR | mode) & ~ctx.umask();
    EntryAttributes entry;
    entry.st_mode = final_mode;
    co_return entry;
  }

  asio::awaitable<bool> check_access(InodeT inode, int mode, const RequestContext& ctx) {
    EntryAttributes entry = (co_await getattr(inode, ctx)).value();
    if (ctx.uid() == entry.st_uid) {
      unsigned owner_perms = (entry.st_mode >> 6) & 07;
      if ((mode & owner_perms) == static_cast<unsigned>(mode)) co_return true;
    }
    if (ctx.gid() == entry.st_gid) {
      unsigned group_perms = (entry.st_mode >> 3) & 07;
      if ((mode & group_perms) == static_cast<unsigned>(mode)) co_return true;
    }
    std::set<gid_t> sup_groups = get_sup_groups(ctx.pid());
    if (sup_groups.contains(entry.st_gid)) {
      unsigned group_perms = (entry.st_mode >> 3) & 07;
      if ((mode & group_perms) == static_cast<unsigned>(mode)) co_return true;
    }
    unsigned other_perms = entry.st_mode & 07;
    co_return (mode & other_perms) == static_cast<unsigned>(mode);
  }

  Reply<EntryAttributes> setattr(InodeT inode, const EntryAttributes& attr, const SetattrFields& fields,
                                 std::optional<FileHandleT>, const RequestContext& ctx) override {
    EntryAttributes entry = (co_await getattr(inode, ctx)).value();
    if (fields.update_mode()) {
      ModeT new_mode = attr.st_mode & 07777;  // permissions only, not the file type
      entry.st_mode = (entry.st_mode & ~07777) | new_mode;
    }
    if (fields.update_uid()) entry.st_uid = attr.st_uid;
    if (fields.update_gid()) entry.st_gid = attr.st_gid;
    if (fields.update_size()) entry.st_size = attr.st_size;  // truncate or extend
    if (fields.update_atime()) entry.st_atime_ns = attr.st_atime_ns;
    if (fields.update_mtime()) entry.st_mtime_ns = attr.st_mtime_ns;
    entry.st_ctime_ns = time_ns();  // always, when metadata changes
    inodes[inode] = entry;
    co_return entry;
  }

  Reply<StatvfsData> statfs(const RequestContext&) override {
    StatvfsData stat;
    int64_t block_size = 4096;
    stat.f_bsize = block_size;
    stat.f_frsize = block_size;
    stat.f_blocks = total_bytes / block_size;
    int64_t free_bytes = total_bytes - used_bytes;
    int64_t free_blocks = free_bytes / block_size;
    stat.f_bfree = free_blocks;
    int64_t reserved_blocks = stat.f_blocks / 20;  // 5% for root
    stat.f_bavail = std::max<int64_t>(0, free_blocks - reserved_blocks);
    stat.f_files = 100'000;
    stat.f_ffree = 50'000;
    stat.f_favail = 50'000;
    stat.f_namemax = 255;
    co_return stat;
  }
};

RequestContext caller(uint32_t uid = 1000, uint32_t gid = 1000, mode_t umask = 022) {
  return RequestContext(uid, gid, ::getpid(), umask);
}

TEST(Pyfuse3Examples, OpenAllocatesHandlesAndChoosesCaching) {
  MyFs fs;
  fs.inodes[2].st_mode = S_IFREG | 0644;
  fs.inodes[3].st_mode = S_IFIFO | 0644;
  RequestContext ctx(0, 0, 1, 022);
  auto regular = run_handler(fs.open(InodeT{2}, O_RDONLY, ctx));
  ASSERT_TRUE(regular.ok());
  EXPECT_EQ(*regular, (FileInfo{.fh = FileHandleT{1}}));
  auto fifo = run_handler(fs.open(InodeT{3}, O_RDONLY, ctx));
  ASSERT_TRUE(fifo.ok());
  EXPECT_TRUE(fifo->nonseekable);
  EXPECT_TRUE(fifo->direct_io);
  // getattr's ENOENT, rethrown by .value() inside open, arrives as open's Result through call().
  EXPECT_EQ(run_handler(call(fs.open(InodeT{9}, O_RDONLY, ctx))).error(), ENOENT);
  fs.volatile_data = true;
  auto changing = run_handler(fs.open(InodeT{2}, O_RDWR, ctx));
  EXPECT_TRUE(changing->direct_io);
  EXPECT_FALSE(changing->keep_cache);
  EXPECT_EQ(fs.open_files.rbegin()->second.second, O_RDWR);
}

TEST(Pyfuse3Examples, CreateAppliesTheUmaskAndTheCallersIds) {
  MyFs fs;
  RequestContext ctx(1000, 100, 1, 027);
  auto created = run_handler(fs.create(ROOT_INODE, "f", 0666, O_WRONLY, ctx));
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->second.st_mode, S_IFREG | 0640);
  EXPECT_EQ(created->second.st_uid, 1000u);
  EXPECT_EQ(created->second.st_gid, 100u);
  EXPECT_EQ(created->first.fh, FileHandleT{1});
  EXPECT_EQ(run_handler(fs.mknod(ROOT_INODE, "n", S_IFIFO | 0666, 0, ctx))->st_mode, S_IFIFO | 0640);
  EXPECT_EQ(run_handler(fs.mkdir(ROOT_INODE, "d", 0777, ctx))->st_mode, S_IFDIR | 0750);
}

TEST(Pyfuse3Examples, CheckAccessUsesOwnerGroupAndOtherBits) {
  MyFs fs;
  fs.inodes[2] = EntryAttributes{};
  fs.inodes[2].st_mode = S_IFREG | 0640;
  fs.inodes[2].st_uid = 1000;
  fs.inodes[2].st_gid = 50000;  // a group this test process is not in
  auto access = [&](int mode, uint32_t uid, uint32_t gid) {
    RequestContext ctx = caller(uid, gid);
    return run_handler(fs.check_access(InodeT{2}, mode, ctx));
  };
  EXPECT_TRUE(access(R_OK | W_OK, 1000, 1));
  EXPECT_TRUE(access(R_OK, 2000, 50000));
  EXPECT_FALSE(access(W_OK, 2000, 50000));
  EXPECT_FALSE(access(R_OK, 2000, 2000));
}

TEST(Pyfuse3Examples, SetattrKeepsTheFileTypeAndStampsCtime) {
  MyFs fs;
  fs.inodes[2].st_mode = S_IFREG | 0644;
  EntryAttributes attr;
  attr.st_mode = S_IFDIR | 04711;  // the type bits must not leak into the file
  attr.st_size = 7;
  SetattrFields fields(FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_SIZE);
  RequestContext ctx = caller();
  auto changed = run_handler(fs.setattr(InodeT{2}, attr, fields, std::nullopt, ctx));
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->st_mode, S_IFREG | 04711);
  EXPECT_EQ(changed->st_size, 7);
  EXPECT_GT(changed->st_ctime_ns, 0);
  EXPECT_EQ(fs.inodes[2], *changed);
}

TEST(Pyfuse3Examples, StatfsReservesFivePercentForRoot) {
  MyFs fs;
  RequestContext ctx = caller();
  auto stat = run_handler(fs.statfs(ctx));
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->f_blocks, 1'000'000'000u / 4096);
  EXPECT_EQ(stat->f_bfree, 500'000'000u / 4096);
  EXPECT_EQ(stat->f_bavail, stat->f_bfree - stat->f_blocks / 20);
  EXPECT_EQ(stat->f_namemax, 255u);
}

}  // namespace
}  // namespace fusepp::test
