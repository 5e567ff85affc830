// Unit tests of fusepp's data structures against pyfuse3's spec: every field and default,
// getstate/setstate round trips, nanosecond exactness, FUSEError, Result<T>, SetattrFields bits,
// readdir tokens' absence of public construction, and the default ENOSYS handlers.
#include <fuse_lowlevel.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <type_traits>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "fusepp/fusepp.hpp"

namespace fusepp {
namespace {

TEST(EntryAttributes, DefaultsFollowPyfuse3) {
  EntryAttributes a;
  EXPECT_EQ(a.st_ino, InodeT{0});
  EXPECT_EQ(a.generation, 0u);
  EXPECT_EQ(a.entry_timeout, 300.0);
  EXPECT_EQ(a.attr_timeout, 300.0);
  EXPECT_EQ(a.st_mode, ModeT{S_IFREG | 0644});
  EXPECT_EQ(a.st_nlink, 1u);
  EXPECT_EQ(a.st_uid, 0u);
  EXPECT_EQ(a.st_gid, 0u);
  EXPECT_EQ(a.st_rdev, 0u);
  EXPECT_EQ(a.st_size, 0);
  EXPECT_EQ(a.st_blksize, 4096);
  EXPECT_EQ(a.st_blocks, 0);
  EXPECT_EQ(a.st_atime_ns, 0);
  EXPECT_EQ(a.st_ctime_ns, 0);
  EXPECT_EQ(a.st_mtime_ns, 0);
  EXPECT_EQ(a.st_birthtime_ns, 0);
}

TEST(EntryAttributes, GetstateHasEveryFieldByName) {
  EntryAttributes a{.st_ino = InodeT{7},
                    .generation = 3,
                    .entry_timeout = 1.5,
                    .attr_timeout = 2.5,
                    .st_mode = ModeT{S_IFDIR | 0700},
                    .st_nlink = 4,
                    .st_uid = 10,
                    .st_gid = 20,
                    .st_rdev = 5,
                    .st_size = 99,
                    .st_blksize = 512,
                    .st_blocks = 8,
                    .st_atime_ns = 11,
                    .st_ctime_ns = 12,
                    .st_mtime_ns = 13,
                    .st_birthtime_ns = 14};
  StatDict s = a.getstate();
  EXPECT_EQ(s.size(), 16u);
  EXPECT_EQ(std::get<int64_t>(s.at("st_ino")), 7);
  EXPECT_EQ(std::get<int64_t>(s.at("generation")), 3);
  EXPECT_EQ(std::get<double>(s.at("entry_timeout")), 1.5);
  EXPECT_EQ(std::get<double>(s.at("attr_timeout")), 2.5);
  EXPECT_EQ(std::get<int64_t>(s.at("st_mode")), S_IFDIR | 0700);
  EXPECT_EQ(std::get<int64_t>(s.at("st_nlink")), 4);
  EXPECT_EQ(std::get<int64_t>(s.at("st_uid")), 10);
  EXPECT_EQ(std::get<int64_t>(s.at("st_gid")), 20);
  EXPECT_EQ(std::get<int64_t>(s.at("st_rdev")), 5);
  EXPECT_EQ(std::get<int64_t>(s.at("st_size")), 99);
  EXPECT_EQ(std::get<int64_t>(s.at("st_blksize")), 512);
  EXPECT_EQ(std::get<int64_t>(s.at("st_blocks")), 8);
  EXPECT_EQ(std::get<int64_t>(s.at("st_atime_ns")), 11);
  EXPECT_EQ(std::get<int64_t>(s.at("st_ctime_ns")), 12);
  EXPECT_EQ(std::get<int64_t>(s.at("st_mtime_ns")), 13);
  EXPECT_EQ(std::get<int64_t>(s.at("st_birthtime_ns")), 14);
}

TEST(EntryAttributes, StateRoundTripIncludingInfiniteTimeout) {
  EntryAttributes a{.st_ino = InodeT{42},
                    .entry_timeout = std::numeric_limits<double>::infinity(),
                    .attr_timeout = 0.25,
                    .st_size = 1 << 20,
                    .st_mtime_ns = 1'700'000'000'999'999'999};
  EntryAttributes b;
  b.setstate(a.getstate());
  EXPECT_EQ(a, b);
}

TEST(EntryAttributes, SetstateRejectsUnknownKeysAndLeavesObjectUnchanged) {
  EntryAttributes a;
  StatDict bad{{"st_size", int64_t{5}}, {"st_bogus", int64_t{1}}};
  EXPECT_THROW(a.setstate(bad), std::invalid_argument);
  EXPECT_EQ(a, EntryAttributes{});
  EXPECT_THROW(a.setstate(StatDict{{"st_size", 1.5}}), std::invalid_argument);
}

TEST(EntryAttributes, NanosecondsSurviveToStatExactly) {
  // pyfuse3's test_rounding: 999,999,999 ns must not round into the next second.
  for (int64_t sec : {int64_t{0}, int64_t{1'234'567'890}, int64_t{-2}}) {
    EntryAttributes a;
    a.st_atime_ns = sec * 1'000'000'000 + 999'999'999;
    a.st_mtime_ns = sec * 1'000'000'000 + 1;
    a.st_ctime_ns = sec * 1'000'000'000;
    struct stat st = a.to_stat();
    EXPECT_EQ(int64_t{st.st_atim.tv_sec} * 1'000'000'000 + st.st_atim.tv_nsec, a.st_atime_ns);
    EXPECT_EQ(int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec, a.st_mtime_ns);
    EXPECT_EQ(int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec, a.st_ctime_ns);
    EXPECT_GE(st.st_atim.tv_nsec, 0);
    EXPECT_LT(st.st_atim.tv_nsec, 1'000'000'000);
  }
}

TEST(EntryAttributes, ToStatCopiesEveryField) {
  EntryAttributes a{.st_ino = InodeT{9},
                    .st_mode = ModeT{S_IFLNK | 0777},
                    .st_nlink = 3,
                    .st_uid = 1000,
                    .st_gid = 100,
                    .st_rdev = 0x0801,
                    .st_size = 12345,
                    .st_blksize = 8192,
                    .st_blocks = 24};
  struct stat st = a.to_stat();
  EXPECT_EQ(st.st_ino, 9u);
  EXPECT_EQ(st.st_mode, static_cast<mode_t>(S_IFLNK | 0777));
  EXPECT_EQ(st.st_nlink, 3u);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 100u);
  EXPECT_EQ(st.st_rdev, 0x0801u);
  EXPECT_EQ(st.st_size, 12345);
  EXPECT_EQ(st.st_blksize, 8192);
  EXPECT_EQ(st.st_blocks, 24);
}

TEST(FileInfo, DefaultsFollowPyfuse3) {
  FileInfo f;
  EXPECT_EQ(f.fh, FileHandleT{0});
  EXPECT_FALSE(f.direct_io);
  EXPECT_TRUE(f.keep_cache);
  EXPECT_FALSE(f.nonseekable);
  FileInfo g{.fh = FileHandleT{5}, .direct_io = true, .keep_cache = false, .nonseekable = true};
  EXPECT_EQ(g.fh, FileHandleT{5});
  EXPECT_TRUE(g.direct_io);
  EXPECT_FALSE(g.keep_cache);
  EXPECT_TRUE(g.nonseekable);
}

TEST(StatvfsData, DefaultsAndStateRoundTrip) {
  StatvfsData d;
  for (const auto& [key, value] : d.getstate()) EXPECT_EQ(std::get<int64_t>(value), 0) << key;
  StatvfsData e{.f_bsize = 4096,
                .f_frsize = 4096,
                .f_blocks = 100,
                .f_bfree = 50,
                .f_bavail = 40,
                .f_files = 10,
                .f_ffree = 5,
                .f_favail = 4,
                .f_namemax = 255};
  StatDict s = e.getstate();
  EXPECT_EQ(s.size(), 9u);
  EXPECT_EQ(std::get<int64_t>(s.at("f_namemax")), 255);
  StatvfsData f;
  f.setstate(s);
  EXPECT_EQ(e, f);
  EXPECT_THROW(f.setstate(StatDict{{"f_nothing", int64_t{1}}}), std::invalid_argument);
}

TEST(RequestContext, ExposesValuesAndIsNotCopyable) {
  RequestContext ctx(1000, 100, 1234, 022);
  EXPECT_EQ(ctx.uid(), 1000u);
  EXPECT_EQ(ctx.gid(), 100u);
  EXPECT_EQ(ctx.pid(), 1234);
  EXPECT_EQ(ctx.umask(), 022u);
  EXPECT_FALSE(ctx.interrupted());
  static_assert(!std::is_copy_constructible_v<RequestContext>);
  static_assert(!std::is_copy_assignable_v<RequestContext>);
}

TEST(SetattrFields, MapsFuseSetAttrBits) {
  SetattrFields none(0);
  EXPECT_FALSE(none.update_atime() || none.update_mtime() || none.update_ctime() || none.update_mode() ||
               none.update_uid() || none.update_gid() || none.update_size() || none.update_atime_now() ||
               none.update_mtime_now());
  EXPECT_TRUE(SetattrFields(FUSE_SET_ATTR_MODE).update_mode());
  EXPECT_TRUE(SetattrFields(FUSE_SET_ATTR_UID).update_uid());
  EXPECT_TRUE(SetattrFields(FUSE_SET_ATTR_GID).update_gid());
  EXPECT_TRUE(SetattrFields(FUSE_SET_ATTR_SIZE).update_size());
  EXPECT_TRUE(SetattrFields(FUSE_SET_ATTR_CTIME).update_ctime());
  SetattrFields atime(FUSE_SET_ATTR_ATIME);
  EXPECT_TRUE(atime.update_atime());
  EXPECT_FALSE(atime.update_atime_now());
  EXPECT_FALSE(atime.update_mtime());
  SetattrFields now(FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW);
  EXPECT_TRUE(now.update_atime());
  EXPECT_TRUE(now.update_mtime());
  EXPECT_TRUE(now.update_atime_now());
  EXPECT_TRUE(now.update_mtime_now());
  EXPECT_EQ(now.raw(), FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW);
  static_assert(!std::is_copy_constructible_v<SetattrFields>);
}

TEST(FUSEError, CarriesErrnoAndStrerrorText) {
  FUSEError e(ENOENT);
  EXPECT_EQ(e.errno_(), ENOENT);
  EXPECT_STREQ(e.what(), std::strerror(ENOENT));
  try {
    throw FUSEError(ENOTEMPTY);
  } catch (const std::exception& ex) {
    EXPECT_STREQ(ex.what(), std::strerror(ENOTEMPTY));
  }
  EXPECT_EQ(FUSEError(EIO), FUSEError(EIO));
  EXPECT_EQ(ENOATTR, ENODATA);
  EXPECT_EQ(ROOT_INODE, InodeT{FUSE_ROOT_ID});
}

TEST(Result, HoldsValueOrErrno) {
  Result<int> good = 5;
  EXPECT_TRUE(good.ok());
  EXPECT_EQ(good.error(), 0);
  EXPECT_EQ(*good, 5);
  Result<int> bad = FUSEError(EEXIST);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), EEXIST);
  try {
    (void)bad.value();
    ADD_FAILURE() << "value() of an error must throw";
  } catch (const FUSEError& e) {
    EXPECT_EQ(e.errno_(), EEXIST);
  }
  Result<std::string> converted = "abc";  // built from anything T is constructible from
  EXPECT_EQ(*converted, "abc");
  Result<void> done = ok;
  EXPECT_TRUE(done.ok());
  Result<void> failed = FUSEError(EPERM);
  EXPECT_EQ(failed.error(), EPERM);
  EXPECT_THROW(failed.value(), FUSEError);
}

TEST(StrongIds, AreDistinctExplicitTypes) {
  static_assert(!std::is_convertible_v<uint64_t, InodeT>);
  static_assert(!std::is_convertible_v<InodeT, FileHandleT>);
  static_assert(std::is_convertible_v<InodeT, uint64_t>);
  static_assert(std::is_same_v<ModeT::rep_type, uint32_t>);
  static_assert(std::is_same_v<FlagT::rep_type, int32_t>);
  EXPECT_LT(InodeT{1}, InodeT{2});
  EXPECT_EQ(default_options, std::set<std::string>{"default_permissions"});
}

TEST(Operations, FlagsAndDefaultHandlers) {
  Operations ops;
  EXPECT_TRUE(ops.supports_dot_lookup);
  EXPECT_FALSE(ops.enable_writeback_cache);
  EXPECT_FALSE(ops.enable_acl);
  EXPECT_FALSE(ops.enable_locks);
  asio::io_context io;
  RequestContext ctx(0, 0, 1, 022);
  int lookup_err = 0, getattr_err = 0, unlink_err = 0;
  bool forgot = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        lookup_err = (co_await ops.lookup(ROOT_INODE, "x", ctx)).error();
        getattr_err = (co_await ops.getattr(ROOT_INODE, ctx)).error();
        unlink_err = (co_await ops.unlink(ROOT_INODE, "x", ctx)).error();
        std::vector<ForgetRequest> list(1, ForgetRequest{InodeT{2}, 1});
        co_await ops.forget(std::move(list));
        forgot = true;
      },
      asio::detached);
  io.run();
  EXPECT_EQ(lookup_err, ENOSYS);
  EXPECT_EQ(getattr_err, ENOSYS);
  EXPECT_EQ(unlink_err, ENOSYS);
  EXPECT_TRUE(forgot);
}

}  // namespace
}  // namespace fusepp
