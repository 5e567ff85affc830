// Mounted tests of the additions to pyfuse3 and of the xattr size protocol: fallocate, lseek
// (SEEK_DATA), copy_file_range, flock and fcntl locks (enable_locks), restricted ioctl and
// poll reach their handlers with the caller's arguments; getxattr/listxattr answer size
// queries and ERANGE from the handler's whole value; setxattr passes XATTR_CREATE through.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <mutex>
#include <sstream>

#include "fusepp/testing.hpp"

namespace fusepp::test {
namespace {

using namespace testing;  // run_in_child, start_child, finish_child, errno_name

constexpr unsigned kIoctlCmd = _IOR('f', 7, uint32_t);

class FileOpsFs : public Operations {
 public:
  FileOpsFs() { enable_locks = true; }
  std::mutex mutex;
  std::vector<std::string> calls;  // "op args", in arrival order
  std::string xattr_value = std::string(100, 'x');

  void record(std::string call) {
    std::lock_guard lock(mutex);
    calls.push_back(std::move(call));
  }
  bool saw(const std::string& prefix) {
    std::lock_guard lock(mutex);
    for (const auto& c : calls)
      if (c.rfind(prefix, 0) == 0) return true;
    return false;
  }
  EntryAttributes attrs(InodeT ino) const {
    EntryAttributes a{.st_ino = ino, .entry_timeout = 0, .attr_timeout = 0, .st_size = 8192};
    if (ino == ROOT_INODE) a.st_mode = ModeT{S_IFDIR | 0755};
    return a;
  }
  Reply<EntryAttributes> lookup(InodeT parent, std::string_view name, const RequestContext&) override {
    if (parent == ROOT_INODE && (name == "a" || name == "b")) co_return attrs(InodeT{name == "a" ? 2u : 3u});
    co_return FUSEError(ENOENT);
  }
  Reply<EntryAttributes> getattr(InodeT ino, const RequestContext&) override { co_return attrs(ino); }
  Reply<FileInfo> open(InodeT ino, FlagT, const RequestContext&) override {
    co_return FileInfo{.fh = FileHandleT{ino.value * 10}, .direct_io = true};
  }
  Reply<void> release(FileHandleT) override { co_return ok; }
  Reply<void> flush(FileHandleT) override { co_return ok; }
  Reply<void> fallocate(FileHandleT fh, int mode, off_t offset, off_t length) override {
    record("fallocate " + std::to_string(fh) + " " + std::to_string(mode) + " " + std::to_string(offset) + " " +
           std::to_string(length));
    co_return ok;
  }
  Reply<off_t> lseek(FileHandleT fh, off_t off, int whence) override {
    record("lseek " + std::to_string(fh) + " " + std::to_string(off) + " " + std::to_string(whence));
    co_return off_t{4096};
  }
  Reply<size_t> copy_file_range(FileHandleT in, off_t off_in, FileHandleT out, off_t off_out, size_t len,
                                FlagT) override {
    record("copy_file_range " + std::to_string(in) + " " + std::to_string(off_in) + " " + std::to_string(out) + " " +
           std::to_string(off_out) + " " + std::to_string(len));
    co_return size_t{len / 2};
  }
  Reply<void> flock(FileHandleT fh, uint64_t, int op) override {
    record("flock " + std::to_string(fh) + " " + std::to_string(op));
    co_return ok;
  }
  Reply<void> setlk(FileHandleT fh, LockRequest lock, bool sleep) override {
    record("setlk " + std::to_string(fh) + " " + std::to_string(lock.lock.l_type) + " " +
           std::to_string(lock.lock.l_start) + " " + std::to_string(lock.lock.l_len) + " " + std::to_string(sleep));
    co_return ok;
  }
  Reply<LockRequest> getlk(FileHandleT fh, LockRequest lock) override {
    record("getlk " + std::to_string(fh));
    lock.lock.l_type = F_WRLCK;    // pretend another owner holds it
    lock.lock.l_pid = ::getpid();  // the kernel maps it through its pid namespace: must exist
    co_return lock;
  }
  Reply<IoctlReply> ioctl(FileHandleT fh, unsigned cmd, uint64_t, FlagT, std::string_view in,
                          size_t out_size) override {
    record("ioctl " + std::to_string(fh) + " " + std::to_string(cmd == kIoctlCmd) + " " + std::to_string(in.size()) +
           " " + std::to_string(out_size));
    uint32_t answer = 0xC0FFEE;
    co_return IoctlReply{.result = 0, .out = std::string(reinterpret_cast<const char*>(&answer), sizeof answer)};
  }
  Reply<unsigned> poll(FileHandleT fh, PollHandle handle) override {
    record("poll " + std::to_string(fh) + " " + std::to_string(static_cast<bool>(handle)));
    co_return unsigned{POLLIN};
  }
  Reply<std::string> getxattr(InodeT, std::string_view name, const RequestContext&) override {
    if (name != "user.big") co_return FUSEError(ENOATTR);
    co_return xattr_value;
  }
  Reply<std::vector<std::string>> listxattr(InodeT, const RequestContext&) override {
    co_return std::vector<std::string>{"user.big", "user.other"};
  }
  Reply<void> setxattr(InodeT, std::string_view name, std::string_view value, FlagT flags,
                       const RequestContext&) override {
    record("setxattr " + std::string(name) + " " + std::to_string(value.size()) + " " + std::to_string(flags));
    co_return ok;
  }
};

TEST(MountFileOps, AdditionsReachHandlersWithArguments) {
  FileOpsFs fs;
  testing::ScopedMount mnt(fs);
  auto dir = mnt.path();
  auto r = run_in_child([&] {
    std::ostringstream out;
    int fd = ::open((dir / "a").c_str(), O_RDWR);
    int fd2 = ::open((dir / "b").c_str(), O_RDWR);
    if (fd < 0 || fd2 < 0) return std::string("open failed");
    out << "fallocate=" << errno_name(::fallocate(fd, 0, 100, 200));
    out << " lseek=" << ::lseek(fd, 10, SEEK_DATA);
    loff_t in_off = 0, out_off = 512;
    out << " cfr=" << ::copy_file_range(fd, &in_off, fd2, &out_off, 1000, 0);
    out << " flock=" << errno_name(::flock(fd, LOCK_EX));
    struct flock fl {};
    fl.l_type = F_RDLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 5;
    fl.l_len = 10;
    out << " setlk=" << errno_name(::fcntl(fd, F_SETLK, &fl));
    struct flock probe {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    probe.l_len = 1;
    ::fcntl(fd2, F_GETLK, &probe);
    out << " getlk=" << (probe.l_type == F_WRLCK) << (probe.l_pid == ::getppid());
    uint32_t answer = 0;
    out << " ioctl=" << errno_name(::ioctl(fd, kIoctlCmd, &answer)) << " " << std::hex << answer << std::dec;
    pollfd p{fd, POLLIN, 0};
    out << " poll=" << ::poll(&p, 1, 1000) << " " << ((p.revents & POLLIN) != 0);
    ::close(fd);
    ::close(fd2);
    return out.str();
  });
  ASSERT_TRUE(r.ok()) << r.output;
  EXPECT_EQ(r.output, "fallocate=ok lseek=4096 cfr=500 flock=ok setlk=ok getlk=11 ioctl=ok c0ffee poll=1 1");
  EXPECT_TRUE(fs.saw("fallocate 20 0 100 200"));
  EXPECT_TRUE(fs.saw("lseek 20 10 " + std::to_string(SEEK_DATA)));
  EXPECT_TRUE(fs.saw("copy_file_range 20 0 30 512 1000"));
  EXPECT_TRUE(fs.saw("flock 20 " + std::to_string(LOCK_EX)));
  EXPECT_TRUE(fs.saw("setlk 20 " + std::to_string(F_RDLCK) + " 5 10 0"));
  EXPECT_TRUE(fs.saw("getlk 30"));
  EXPECT_TRUE(fs.saw("ioctl 20 1 0 4"));
  EXPECT_TRUE(fs.saw("poll 20 1"));
}

TEST(MountFileOps, XattrSizeQueriesErangeAndFlags) {
  FileOpsFs fs;
  testing::ScopedMount mnt(fs);
  auto file = mnt.path() / "a";
  auto r = run_in_child([&] {
    std::ostringstream out;
    char small[10];
    char big[200];
    out << "size=" << ::getxattr(file.c_str(), "user.big", nullptr, 0);
    out << " small=" << (::getxattr(file.c_str(), "user.big", small, sizeof small) < 0 ? errno_name(-1) : "ok");
    out << " big=" << ::getxattr(file.c_str(), "user.big", big, sizeof big);
    out << " missing=" << (::getxattr(file.c_str(), "user.none", big, sizeof big) < 0 ? errno_name(-1) : "ok");
    ssize_t n = ::listxattr(file.c_str(), big, sizeof big);
    out << " list=" << std::string(big, n > 0 ? static_cast<size_t>(n) : 0).size() << ":"
        << ::listxattr(file.c_str(), nullptr, 0);
    out << " listsmall=" << (::listxattr(file.c_str(), small, 5) < 0 ? errno_name(-1) : "ok");
    out << " set=" << errno_name(::setxattr(file.c_str(), "user.k", "vvv", 3, XATTR_CREATE));
    return out.str();
  });
  ASSERT_TRUE(r.ok()) << r.output;
  const std::string erange = strerrordesc_np(ERANGE);
  EXPECT_EQ(r.output, "size=100 small=" + erange + " big=100 missing=" + strerrordesc_np(ENODATA) +
                          " list=20:20 listsmall=" + erange + " set=ok");
  EXPECT_TRUE(fs.saw("setxattr user.k 3 " + std::to_string(XATTR_CREATE)));
}

}  // namespace
}  // namespace fusepp::test
