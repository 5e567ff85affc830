// Mounted tests of the replies the binding writes to /dev/fuse itself for a handler that
// completed inline (InlineAnswer in dispatcher.hpp): every attribute field, the timeouts, the
// open handle of a CREATE and error answers must reach the kernel as libfuse's replies carry
// them, which the same answers from a handler that suspended (answered through libfuse) show.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "fusepp/testing.hpp"

namespace fusepp::test {
namespace {

using namespace std::chrono_literals;
using testing::errno_name;
using testing::run_in_child;

constexpr uint64_t kFile = 2, kSlowFile = 3, kCached = 4, kCreated = 5;
constexpr uint64_t kCreatedHandle = 0x1234567890;

// Names "file", "slow-file" (its handlers wait 1 ms first, so libfuse answers), "cached" (with
// long timeouts), "denied" (EACCES); create makes kCreated with handle kCreatedHandle.
class DirectFs : public Operations {
 public:
  std::atomic<unsigned> cached_requests{0};
  std::atomic<uint64_t> released_handle{0};

  static EntryAttributes attrs(uint64_t ino) {
    EntryAttributes a;
    a.st_ino = InodeT{ino};
    a.generation = 7;
    a.st_mode = ModeT{ino == uint64_t{ROOT_INODE} ? S_IFDIR | 0755u : S_IFREG | 0640u};
    a.st_nlink = 3;
    a.st_uid = 1234;
    a.st_gid = 5678;
    a.st_size = 123456789;
    a.st_blocks = 4242;
    a.st_blksize = 8192;
    a.st_atime_ns = -1'500'000'000;  // before 1970: -2 s + 500,000,000 ns
    a.st_mtime_ns = 1'700'000'000'123'456'789;
    a.st_ctime_ns = 1'600'000'000'000'000'001;
    a.entry_timeout = ino == kCached ? 1000 : 0;
    a.attr_timeout = ino == kCached ? 1000 : 0;
    return a;
  }

  Reply<EntryAttributes> lookup(InodeT parent, std::string_view name, const RequestContext&) override {
    static const std::map<std::string_view, uint64_t> kNames{
        {"file", kFile}, {"slow-file", kSlowFile}, {"cached", kCached}};
    if (parent != ROOT_INODE) co_return FUSEError(ENOENT);
    if (name == "denied") co_return FUSEError(EACCES);
    auto it = kNames.find(name);
    if (it == kNames.end()) co_return FUSEError(ENOENT);
    co_return co_await answer(it->second);
  }
  Reply<EntryAttributes> getattr(InodeT ino, const RequestContext&) override { co_return co_await answer(ino); }
  Reply<std::pair<FileInfo, EntryAttributes>> create(InodeT, std::string_view, ModeT, FlagT,
                                                     const RequestContext&) override {
    FileInfo info;
    info.fh = FileHandleT{kCreatedHandle};
    info.keep_cache = false;
    co_return std::pair{info, attrs(kCreated)};
  }
  using Operations::release;
  Reply<void> release(FileHandleT fh) override {
    released_handle = uint64_t{fh};
    co_return ok;
  }

 private:
  Reply<EntryAttributes> answer(uint64_t ino) {
    if (ino == kCached) ++cached_requests;
    if (ino == kSlowFile) {
      asio::steady_timer timer(co_await asio::this_coro::executor, 1ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    co_return attrs(ino);
  }
};

// A mount served on the inline path: ScopedMount observes every mount, which would take the
// Observer's coroutine (answered through libfuse).
struct PlainMount {
  explicit PlainMount(DirectFs& fs) : mount(fs) { mount.session().observe(nullptr); }
  testing::ScopedMount mount;
};

// The fields of a stat that differ from DirectFs::attrs(ino), one line each ("" when none).
std::string differences(const struct stat& st, uint64_t ino) {
  EntryAttributes want = DirectFs::attrs(ino);
  std::ostringstream out;
  auto check = [&](const char* field, long long got, long long expected) {
    if (got != expected) out << field << ": " << got << " instead of " << expected << "\n";
  };
  check("ino", static_cast<long long>(st.st_ino), static_cast<long long>(ino));
  check("mode", st.st_mode, want.st_mode);
  check("nlink", static_cast<long long>(st.st_nlink), want.st_nlink);
  check("uid", st.st_uid, want.st_uid);
  check("gid", st.st_gid, want.st_gid);
  check("size", st.st_size, static_cast<long long>(want.st_size));
  check("blocks", st.st_blocks, static_cast<long long>(want.st_blocks));
  check("blksize", st.st_blksize, static_cast<long long>(want.st_blksize));
  check("atime", st.st_atim.tv_sec * 1'000'000'000LL + st.st_atim.tv_nsec, want.st_atime_ns);
  check("mtime", st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec, want.st_mtime_ns);
  check("ctime", st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec, want.st_ctime_ns);
  return out.str();
}

// stat (LOOKUP, then GETATTR through fstat) of a name in a child: the differences, or an error.
std::string stat_twice(const std::filesystem::path& path, uint64_t ino) {
  auto r = run_in_child([&] {
    struct stat by_path {
    }, by_fd{};
    if (::stat(path.c_str(), &by_path) != 0) return "stat: " + errno_name(-1);
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return "open: " + errno_name(-1);
    int rc = ::fstat(fd, &by_fd);
    ::close(fd);
    if (rc != 0) return "fstat: " + errno_name(-1);
    return differences(by_path, ino) + differences(by_fd, ino);
  });
  return r.ok() ? r.output : "child failed: " + r.output;
}

TEST(DirectReply, AttributesMatchLibfusesEncoding) {
  DirectFs fs;
  PlainMount m(fs);
  EXPECT_EQ(stat_twice(m.mount.path() / "file", kFile), "");           // answered inline
  EXPECT_EQ(stat_twice(m.mount.path() / "slow-file", kSlowFile), "");  // answered through libfuse
}

TEST(DirectReply, ErrorsAndTimeoutsReachTheKernel) {
  DirectFs fs;
  PlainMount m(fs);
  auto dir = m.mount.path();
  auto r = run_in_child([&] {
    struct stat st {};
    std::string out;
    out += "missing: " + std::string(::stat((dir / "missing").c_str(), &st) == 0 ? "found" : errno_name(-1)) + "\n";
    out += "denied: " + std::string(::stat((dir / "denied").c_str(), &st) == 0 ? "found" : errno_name(-1)) + "\n";
    for (int i = 0; i < 3; ++i)
      if (::stat((dir / "cached").c_str(), &st) != 0) out += "cached: " + errno_name(-1) + "\n";
    return out;
  });
  ASSERT_TRUE(r.ok()) << r.output;
  EXPECT_EQ(r.output, "missing: " + std::string(std::strerror(ENOENT)) + "\ndenied: " + std::strerror(EACCES) + "\n");
  // One LOOKUP: its entry and attributes stay valid for 1000 s, so the other stats ask nothing.
  EXPECT_EQ(fs.cached_requests, 1u);
}

TEST(DirectReply, CreateGivesTheKernelTheHandle) {
  DirectFs fs;
  PlainMount m(fs);
  auto path = m.mount.path() / "new";
  auto r = run_in_child([&] {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0640);
    if (fd < 0) return "open: " + errno_name(-1);
    struct stat st {};
    int rc = ::fstat(fd, &st);
    ::close(fd);
    return rc == 0 ? differences(st, kCreated) : "fstat: " + errno_name(-1);
  });
  ASSERT_TRUE(r.ok()) << r.output;
  EXPECT_EQ(r.output, "");
  EXPECT_TRUE([&] {
    for (int i = 0; i < 200 && fs.released_handle == 0; ++i) std::this_thread::sleep_for(5ms);
    return fs.released_handle == kCreatedHandle;
  }()) << "released handle "
       << fs.released_handle;
}

}  // namespace
}  // namespace fusepp::test
