// Mounted tests of the overloads fusepp adds to pyfuse3's handlers: write(), flush(), fsync()
// and release() with the caller's RequestContext and opendir() with the open flags reach an
// override, and a filesystem that overrides only pyfuse3's forms still gets the requests
// through the default forwarding.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fusepp/fusepp.hpp"
#include "fusepp/testing.hpp"
#include "hello_fs.hpp"

namespace fusepp::test {
namespace {

using testing::errno_name;
using testing::run_in_child;

// Opens "message" for writing too, so writes reach the filesystem.
class WritableHelloFs : public HelloFs {
 public:
  Reply<FileInfo> open(InodeT inode, FlagT, const RequestContext&) override {
    if (inode != kFileInode) co_return FUSEError(EISDIR);
    co_return FileInfo{.fh = FileHandleT{inode.value}, .direct_io = true};
  }
};

std::string write_message(const std::filesystem::path& file, const std::string& data) {
  int fd = ::open(file.c_str(), O_WRONLY);
  if (fd < 0) return "open: " + errno_name(-1);
  ssize_t n = ::pwrite(fd, data.data(), data.size(), 0);
  std::string out = n < 0 ? "pwrite: " + errno_name(-1) : std::to_string(n) + " by " + std::to_string(::getpid());
  ::close(fd);
  return out;
}

// Overrides pyfuse3's write(fh, off, buf) only.
class PyfuseWriteFs : public WritableHelloFs {
 public:
  std::mutex mutex;
  std::string written;
  Reply<size_t> write(FileHandleT, off_t, std::string_view buf) override {
    std::lock_guard lock(mutex);
    written = std::string(buf);
    co_return buf.size();
  }
};

TEST(Overloads, PyfuseWriteIsReachedThroughTheDefaultForwarding) {
  PyfuseWriteFs fs;
  testing::ScopedMount mnt(fs);
  auto r = run_in_child([&] { return write_message(mnt.path() / HelloFs::kFileName, "abc"); });
  EXPECT_TRUE(r.output.starts_with("3 by ")) << r.output;
  std::lock_guard lock(fs.mutex);
  EXPECT_EQ(fs.written, "abc");
}

// Overrides the write overload with the writer's context.
class ContextWriteFs : public WritableHelloFs {
 public:
  std::atomic<pid_t> writer_pid{0};
  std::atomic<uint32_t> writer_uid{~0u};
  Reply<size_t> write(FileHandleT, off_t, std::string_view buf, const RequestContext& ctx) override {
    writer_pid = ctx.pid();
    writer_uid = ctx.uid();
    co_return buf.size();
  }
};

TEST(Overloads, WriteWithContextSeesTheWriter) {
  ContextWriteFs fs;
  testing::ScopedMount mnt(fs);
  auto r = run_in_child([&] { return write_message(mnt.path() / HelloFs::kFileName, "abcd"); });
  ASSERT_TRUE(r.output.starts_with("4 by ")) << r.output;
  EXPECT_EQ(std::to_string(fs.writer_pid.load()), r.output.substr(5));
  EXPECT_EQ(fs.writer_uid.load(), 0u);
}

// Overrides opendir with the flags.
class FlagsOpendirFs : public HelloFs {
 public:
  std::atomic<int> last_flags{-1};
  using HelloFs::opendir;
  Reply<FileHandleT> opendir(InodeT inode, FlagT flags, const RequestContext&) override {
    last_flags = flags.value;
    if (inode != ROOT_INODE) co_return FUSEError(ENOTDIR);
    co_return FileHandleT{inode.value};
  }
};

TEST(Overloads, OpendirWithFlagsSeesTheOpenFlags) {
  FlagsOpendirFs fs;
  testing::ScopedMount mnt(fs);
  auto r = run_in_child([&] {
    int fd = ::open(mnt.path().c_str(), O_RDONLY | O_DIRECTORY | O_NOATIME);
    if (fd < 0) return "open: " + errno_name(-1);
    ::close(fd);
    return std::string("ok");
  });
  ASSERT_EQ(r.output, "ok");
  ASSERT_NE(fs.last_flags.load(), -1);
  EXPECT_TRUE(fs.last_flags.load() & O_NOATIME) << std::oct << fs.last_flags.load();
}

// Overrides flush, fsync and release with the caller's context; each records the pid it saw.
class ContextCloseFs : public WritableHelloFs {
 public:
  std::mutex mutex;
  std::vector<std::string> calls;  // "flush 123", "fsync 123", "release ..."
  void record(const char* op, const RequestContext& ctx) {
    std::lock_guard lock(mutex);
    calls.push_back(std::string(op) + " " + std::to_string(ctx.pid()));
  }
  Reply<void> flush(FileHandleT, const RequestContext& ctx) override {
    record("flush", ctx);
    co_return ok;
  }
  Reply<void> fsync(FileHandleT, bool, const RequestContext& ctx) override {
    record("fsync", ctx);
    co_return ok;
  }
  Reply<void> release(FileHandleT, const RequestContext& ctx) override {
    record("release", ctx);
    co_return ok;
  }
};

std::string open_fsync_close(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_WRONLY);
  if (fd < 0) return "open: " + errno_name(-1);
  if (::fsync(fd) != 0) return "fsync: " + errno_name(-1);
  if (::close(fd) != 0) return "close: " + errno_name(-1);
  return std::to_string(::getpid());
}

TEST(Overloads, FlushFsyncAndReleaseWithContextSeeTheCaller) {
  ContextCloseFs fs;
  testing::ScopedMount mnt(fs);
  auto r = run_in_child([&] { return open_fsync_close(mnt.path() / HelloFs::kFileName); });
  ASSERT_TRUE(r.ok()) << r.output;
  mnt.unmount();  // RELEASE is asynchronous; after unmount it has been served
  std::lock_guard lock(fs.mutex);
  ASSERT_EQ(fs.calls.size(), 3u) << ::testing::PrintToString(fs.calls);
  EXPECT_EQ(fs.calls[0], "fsync " + r.output);
  EXPECT_EQ(fs.calls[1], "flush " + r.output);
  EXPECT_TRUE(fs.calls[2].starts_with("release ")) << fs.calls[2];
}

// Overrides pyfuse3's flush(fh), fsync(fh, datasync) and release(fh) only.
class PyfuseCloseFs : public WritableHelloFs {
 public:
  std::atomic<int> flushes{0}, fsyncs{0}, releases{0};
  Reply<void> flush(FileHandleT) override {
    ++flushes;
    co_return ok;
  }
  Reply<void> fsync(FileHandleT, bool) override {
    ++fsyncs;
    co_return ok;
  }
  Reply<void> release(FileHandleT) override {
    ++releases;
    co_return ok;
  }
};

TEST(Overloads, PyfuseFlushFsyncAndReleaseAreReachedThroughTheDefaultForwarding) {
  PyfuseCloseFs fs;
  testing::ScopedMount mnt(fs);
  auto r = run_in_child([&] { return open_fsync_close(mnt.path() / HelloFs::kFileName); });
  ASSERT_TRUE(r.ok()) << r.output;
  mnt.unmount();
  EXPECT_EQ(fs.flushes.load(), 1);
  EXPECT_EQ(fs.fsyncs.load(), 1);
  EXPECT_EQ(fs.releases.load(), 1);
}

}  // namespace
}  // namespace fusepp::test
