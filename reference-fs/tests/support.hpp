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

struct ChildResult {
  bool timed_out = false;
  int exit_code = -1;  // -1 when killed by a signal
  std::string output;  // what body returned, or the exception text
  bool ok() const { return !timed_out && exit_code == 0; }
};

// A forked child running a body; finish() collects what the body returned.
struct RunningChild {
  pid_t pid = -1;
  int output_fd = -1;
};

inline ChildResult finish_child(RunningChild child, std::chrono::milliseconds deadline);

// Forks a child running body. Fork from one thread at a time (the test's main thread):
// a child forked while another thread holds an allocator lock (ASan's above all) hangs.
inline RunningChild start_child(const std::function<std::string()>& body) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // Only the result pipe survives, on a fixed number: descriptors the parent holds (the
    // /dev/fuse of an in-process mount above all) must not leak into the syscalls under
    // test, and every run must hand out the same descriptor numbers.
    constexpr int kResultFd = 100;
    ::dup2(fds[1], kResultFd);
    ::close_range(3, kResultFd - 1, 0);
    ::close_range(kResultFd + 1, ~0U, 0);
    fds[1] = kResultFd;
    int code = 0;
    std::string out;
    try {
      out = body();
    } catch (const std::exception& e) {
      out = std::string("exception: ") + e.what();
      code = 1;
    }
    for (size_t done = 0; done < out.size();) {
      ssize_t n = ::write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  return RunningChild{pid, fds[0]};
}

// Waits for the child's result; a child still running at the deadline is killed, so a hung
// syscall becomes a failed test, not a hung test.
inline ChildResult finish_child(RunningChild child, std::chrono::milliseconds deadline) {
  int fds[2] = {child.output_fd, -1};
  pid_t pid = child.pid;
  ChildResult result;
  auto until = std::chrono::steady_clock::now() + deadline;
  char buf[65536];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline ChildResult run_in_child(const std::function<std::string()>& body,
                                std::chrono::milliseconds deadline = std::chrono::seconds(60)) {
  return finish_child(start_child(body), deadline);
}

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

inline std::filesystem::path make_temp_dir(const char* prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (std::string(prefix) + "XXXXXX")).string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

// A fresh tmpfs on a temporary directory: the oracle memfs is compared with.
class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& options = "") : path_(make_temp_dir("memfs-oracle-")) {
    if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
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
    mount_ = std::make_unique<fusepp::testing::ScopedMount>(*fs_, mount_options,
                                                            fusepp::MainOptions{.threads = threads});
  }
  const std::filesystem::path& path() const { return mount_->path(); }
  MemFs& fs() { return *fs_; }
  void unmount() { mount_->unmount(); }

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
