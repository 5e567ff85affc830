// Mounted tests of the overloads fusepp adds to pyfuse3's handlers: write(), flush(), fsync()
// and release() with the caller's RequestContext, opendir() with the open flags and read_data()
// reach an override, a filesystem that overrides only pyfuse3's forms still gets the requests
// through the default forwarding, and max_readahead reaches the mount.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
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

// RELEASE is asynchronous: the kernel queues it when the last descriptor closes, and an
// unmount aborts whatever the daemon has not read by then. So wait for it first.
template <class Done>
void wait_for_release(Done done) {
  for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

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
  wait_for_release([&] {
    std::lock_guard lock(fs.mutex);
    return fs.calls.size() >= 3;
  });
  mnt.unmount();
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
  wait_for_release([&] { return fs.releases.load() != 0; });
  mnt.unmount();
  EXPECT_EQ(fs.flushes.load(), 1);
  EXPECT_EQ(fs.fsyncs.load(), 1);
  EXPECT_EQ(fs.releases.load(), 1);
}

// Answers reads with views: kData in three pieces and one piece past its end, which the
// binding must cut to the size the kernel asked for. Counts the keep_alive objects released.
class PiecesReadFs : public HelloFs {
 public:
  std::atomic<int> kept{0};
  std::atomic<int> released{0};
  struct Counted {
    explicit Counted(std::atomic<int>& count) : released(count) {}  // clang 14: no aggregate paren-init
    std::atomic<int>& released;
    ~Counted() { ++released; }
  };
  Reply<FileInfo> open(InodeT inode, FlagT, const RequestContext&) override {
    if (inode != kFileInode) co_return FUSEError(EISDIR);
    co_return FileInfo{.fh = FileHandleT{inode.value}, .direct_io = true};  // READ size = the caller's
  }
  Reply<ReadData> read_data(FileHandleT, off_t off, size_t, const RequestContext&) override {
    static const std::string more = "and more";
    ReadData data;
    if (off == 0) {
      std::string_view all(kData);
      data.add(all.substr(0, 3));
      data.add(all.substr(3, 4));
      data.add(all.substr(7));
      data.add(more);
    }
    data.keep_alive = std::make_shared<Counted>(released);
    ++kept;
    co_return data;
  }
};

std::string pread_message(const std::filesystem::path& file, size_t size) {
  int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) return "open: " + errno_name(-1);
  std::string buf(size, '\0');
  ssize_t n = ::pread(fd, buf.data(), size, 0);
  ::close(fd);
  return n < 0 ? "pread: " + errno_name(-1) : buf.substr(0, static_cast<size_t>(n));
}

TEST(Overloads, ReadDataPiecesAreJoinedCutToTheSizeAskedAndReleased) {
  PiecesReadFs fs;
  testing::ScopedMount mnt(fs);
  auto file = mnt.path() / HelloFs::kFileName;
  EXPECT_EQ(run_in_child([&] { return pread_message(file, 5); }).output, "hello");
  EXPECT_EQ(run_in_child([&] { return pread_message(file, HelloFs::kData.size()); }).output, HelloFs::kData);
  EXPECT_EQ(run_in_child([&] { return pread_message(file, 100); }).output, HelloFs::kData + "and more");
  mnt.unmount();
  EXPECT_EQ(fs.kept.load(), 3);
  EXPECT_EQ(fs.released.load(), 3);
}

// Operations::max_readahead above the kernel's 128 KiB reaches the mount's backing device.
TEST(Overloads, MaxReadaheadSetsTheMountsReadAhead) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root may change a mount's read-ahead";
  auto read_ahead_kb = [](const std::filesystem::path& mountpoint) {
    struct stat st {};
    if (::stat(mountpoint.c_str(), &st) != 0) return std::string("stat: ") + errno_name(-1);
    std::ifstream in("/sys/class/bdi/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)) +
                     "/read_ahead_kb");
    std::string kb;
    in >> kb;
    return kb;
  };
  HelloFs plain;
  testing::ScopedMount plain_mount(plain);
  EXPECT_EQ(read_ahead_kb(plain_mount.path()), "128");
  HelloFs raised;
  raised.max_readahead = 1024 * 1024;
  testing::ScopedMount raised_mount(raised);
  EXPECT_EQ(read_ahead_kb(raised_mount.path()), "1024");
}

}  // namespace
}  // namespace fusepp::test
