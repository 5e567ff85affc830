// Test support for memfs: run syscalls in a forked child (never in the thread serving the
// mount), mount a fresh tmpfs as the oracle, and mount memfs in-process, all unmounted by
// RAII even when an assertion fails.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>

#include "fusepp/testing.hpp"
#include "memfs/memfs.hpp"

namespace memfs::test {

using fusepp::testing::ChildResult;
using fusepp::testing::finish_child;
using fusepp::testing::run_in_child;
using fusepp::testing::RunningChild;
using fusepp::testing::start_child;

// Makes the kernel evict unused dentries and inodes everywhere, which is what sends FORGET
// to a FUSE filesystem (unmounting does not: the connection is gone before eviction).
inline void drop_kernel_caches() {
  ::sync();
  std::ofstream("/proc/sys/vm/drop_caches") << "2";
}

// Removes everything below dir (not dir itself); returns "" or what went wrong.
inline std::string remove_contents(const std::filesystem::path& dir) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    std::filesystem::remove_all(entry.path(), error);
    if (error) return "cannot remove " + entry.path().string() + ": " + error.message();
  }
  return error ? "cannot list " + dir.string() + ": " + error.message() : "";
}

// Polls until memfs holds `expected` inodes (FORGETs arrive asynchronously); returns the
// last count seen.
inline size_t wait_for_inode_count(const MemFs& fs, size_t expected,
                                   std::chrono::milliseconds deadline = std::chrono::seconds(5)) {
  auto until = std::chrono::steady_clock::now() + deadline;
  size_t count = fs.inode_count();
  while (count != expected && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    count = fs.inode_count();
  }
  return count;
}

// How a process the test forked ended: its exit code, 128 + the signal that ended it, or -1
// when it was still running at the deadline. It is then killed, so that no daemon and no
// mount outlive the test.
inline int wait_exit(pid_t pid, std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  std::optional<int> status = fusepp::testing::wait_for_exit(pid, deadline);
  if (!status) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return -1;
  }
  return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
}

inline std::filesystem::path make_temp_dir(const char* prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (std::string(prefix) + "XXXXXX")).string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

// A fresh tmpfs on a temporary directory: the oracle memfs is compared with.
class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& options = "", unsigned long flags = 0)
      : path_(make_temp_dir("memfs-oracle-")) {
    if (::mount("tmpfs", path_.c_str(), "tmpfs", flags, options.c_str()) != 0) {
      int err = errno;
      std::filesystem::remove(path_);
      throw std::runtime_error("cannot mount tmpfs on " + path_.string() + ": " + std::strerror(err));
    }
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  ~TmpfsMount() {
    if (::umount2(path_.c_str(), 0) != 0) ::umount2(path_.c_str(), MNT_DETACH);
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// memfs mounted in-process; the MemFs object outlives the mount so a test can inspect
// it after unmount().
class MemfsMount {
 public:
  explicit MemfsMount(Options options = {}, bool default_permissions = true, unsigned threads = 1)
      : fs_(std::make_unique<MemFs>(options)) {
    std::set<std::string> mount_options{"allow_other", "fsname=memfs", "subtype=memfs"};
    if (default_permissions) mount_options.insert("default_permissions");
    mount_ =
        std::make_unique<fusepp::testing::ScopedMount>(*fs_, mount_options, fusepp::MainOptions{.threads = threads});
    mount_->observer().set_lookup_count_source([fs = fs_.get()](uint64_t ino) { return fs->lookup_count(ino); });
  }
  const std::filesystem::path& path() const { return mount_->path(); }
  MemFs& fs() { return *fs_; }
  void unmount() { mount_->unmount(); }
  // The wire's lookup and open balance, compared with memfs's own counts (at every FORGET,
  // at the end of the connection and when asked).
  fusepp::BalanceReport lookup_balance() const { return mount_->lookup_balance(); }

 private:
  std::unique_ptr<MemFs> fs_;
  std::unique_ptr<fusepp::testing::ScopedMount> mount_;
};

// Timeouts 0: every stat reaches memfs, so what a test sees is memfs's state, not the
// kernel's cache of it.
inline Options uncached(Options options = {}) {
  options.entry_timeout = 0;
  options.attr_timeout = 0;
  return options;
}

}  // namespace memfs::test
