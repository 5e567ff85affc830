// Who clears setuid/setgid on a FUSE mount (kernel 6.18, libfuse 3.14, fusepp not asking for
// FUSE_CAP_HANDLE_KILLPRIV[_V2]): for write, truncate and chown the kernel does it, sending
// memfs a SETATTR whose mode lacks the bits (fuse_setattr() turns ATTR_KILL_SUID/SGID into
// ATTR_MODE); for open(O_TRUNC) with atomic_o_trunc no SETATTR comes, so memfs must clear
// them itself in open(). This test records the requests to pin that division of labour.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <mutex>

#include "support.hpp"

namespace memfs::test {
namespace {

// memfs that remembers the mode of every SETATTR that changes one, and every O_TRUNC open.
class RecordingMemFs : public MemFs {
 public:
  using MemFs::MemFs;

  fusepp::Reply<fusepp::EntryAttributes> setattr(fusepp::InodeT inode, const fusepp::EntryAttributes& attr,
                                                 const fusepp::SetattrFields& fields,
                                                 std::optional<fusepp::FileHandleT> fh,
                                                 const fusepp::RequestContext& ctx) override {
    if (fields.update_mode()) {
      std::lock_guard lock(mutex_);
      setattr_modes_.push_back(attr.st_mode & 07777);
    }
    co_return co_await MemFs::setattr(inode, attr, fields, fh, ctx);
  }
  fusepp::Reply<fusepp::FileInfo> open(fusepp::InodeT inode, fusepp::FlagT flags,
                                       const fusepp::RequestContext& ctx) override {
    if (flags & O_TRUNC) {
      std::lock_guard lock(mutex_);
      truncating_opens_++;
    }
    co_return co_await MemFs::open(inode, flags, ctx);
  }
  std::vector<mode_t> take_setattr_modes() {
    std::lock_guard lock(mutex_);
    return std::exchange(setattr_modes_, {});
  }
  int truncating_opens() {
    std::lock_guard lock(mutex_);
    return truncating_opens_;
  }

 private:
  std::mutex mutex_;
  std::vector<mode_t> setattr_modes_;
  int truncating_opens_ = 0;
};

class KillPriv : public ::testing::Test {
 protected:
  KillPriv() {
    mount_ = std::make_unique<fusepp::testing::ScopedMount>(
        fs_, std::set<std::string>{"default_permissions", "allow_other"});
    file_ = mount_->path() / "f";
    auto made = run_in_child([&] {
      int fd = ::creat(file_.c_str(), 0644);
      ::close(fd);
      if (::chown(file_.c_str(), 1000, 1000) != 0 || ::chmod(file_.c_str(), 06775) != 0) return "setup failed";
      return "";
    });
    EXPECT_TRUE(made.ok() && made.output.empty()) << made.output;
    fs_.take_setattr_modes();
  }
  // Runs fn as uid/gid 1000 (no CAP_FSETID) in a child; returns the file's mode after.
  mode_t as_user(const std::function<int()>& fn) {
    auto result = run_in_child([&] {
      if (::setgid(1000) != 0 || ::setuid(1000) != 0) return std::string("setuid failed");
      if (fn() < 0) return std::string("call failed: ") + std::strerror(errno);
      struct stat st;
      ::stat(file_.c_str(), &st);
      return std::to_string(st.st_mode & 07777);
    });
    EXPECT_TRUE(result.ok()) << result.output;
    return static_cast<mode_t>(std::stoul(result.output.empty() ? "0" : result.output));
  }

  RecordingMemFs fs_{uncached()};
  std::unique_ptr<fusepp::testing::ScopedMount> mount_;
  std::filesystem::path file_;
};

TEST_F(KillPriv, WriteByUnprivilegedCallerMakesTheKernelSendSetattr) {
  mode_t after = as_user([&] {
    int fd = ::open(file_.c_str(), O_WRONLY);
    int rc = static_cast<int>(::write(fd, "x", 1));
    ::close(fd);
    return rc;
  });
  EXPECT_EQ(after, 0775u);
  EXPECT_EQ(fs_.take_setattr_modes(), std::vector<mode_t>{0775}) << "the kernel's kill-priv SETATTR";
}

TEST_F(KillPriv, TruncateByUnprivilegedCallerMakesTheKernelSendSetattr) {
  mode_t after = as_user([&] { return ::truncate(file_.c_str(), 10); });
  EXPECT_EQ(after, 0775u);
  EXPECT_EQ(fs_.take_setattr_modes(), std::vector<mode_t>{0775});
}

TEST_F(KillPriv, OpenWithTruncateLeavesClearingToMemfs) {
  mode_t after = as_user([&] { return ::close(::open(file_.c_str(), O_WRONLY | O_TRUNC)); });
  EXPECT_EQ(after, 0775u);
  EXPECT_EQ(fs_.truncating_opens(), 1) << "atomic_o_trunc: O_TRUNC reaches open()";
  EXPECT_EQ(fs_.take_setattr_modes(), std::vector<mode_t>{}) << "no kill-priv SETATTR for O_TRUNC";
}

TEST_F(KillPriv, RootKeepsTheBitsOnWrite) {
  auto result = run_in_child([&] {
    int fd = ::open(file_.c_str(), O_WRONLY);
    ::write(fd, "x", 1);
    ::close(fd);
    struct stat st;
    ::stat(file_.c_str(), &st);
    return std::to_string(st.st_mode & 07777);
  });
  EXPECT_EQ(result.output, std::to_string(06775)) << "CAP_FSETID keeps setuid/setgid";
  EXPECT_EQ(fs_.take_setattr_modes(), std::vector<mode_t>{});
}

}  // namespace
}  // namespace memfs::test
