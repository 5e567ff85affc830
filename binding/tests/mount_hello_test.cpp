// Mounted tests on the hello filesystem: listing and reading from a child process, a handler
// that throws (EIO, and the next request still works), and a handler suspended on a timer
// while other requests keep flowing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <fstream>

#include "fusepp/testing.hpp"
#include "hello_fs.hpp"

namespace fusepp::test {
namespace {

using namespace testing;  // run_in_child, start_child, finish_child, errno_name

using namespace std::chrono_literals;

TEST(MountHello, ListsAndReadsFromChildProcess) {
  HelloFs fs;
  testing::ScopedMount mnt(fs);
  auto dir = mnt.path();
  auto r = run_in_child([&] {
    std::string out;
    auto names = listdir(dir);
    std::sort(names.begin(), names.end());
    for (auto& n : names) out += n + ",";
    struct stat st {};
    if (::stat((dir / "message").c_str(), &st) != 0) return out + "stat failed";
    out += "|size=" + std::to_string(st.st_size) + "|mode=" + std::to_string(st.st_mode & 07777);
    std::ifstream in(dir / "message");
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    out += "|data=" + content;
    int fd = ::open((dir / "message").c_str(), O_RDWR);
    out += "|rw=" + (fd < 0 ? errno_name(-1) : std::string("opened"));
    out += "|missing=" + errno_name(::stat((dir / "nope").c_str(), &st));
    return out;
  });
  ASSERT_TRUE(r.ok()) << r.output;
  EXPECT_EQ(r.output, "message,slow,|size=12|mode=420|data=hello world\n|rw=" + std::string(strerrordesc_np(EACCES)) +
                          "|missing=" + strerrordesc_np(ENOENT));
}

TEST(MountHello, ThrowingGetattrAnswersEioAndLoopKeepsServing) {
  HelloFs fs;
  testing::ScopedMount mnt(fs);
  auto file = mnt.path() / "message";
  fs.throw_in_getattr = true;
  auto failing = run_in_child([&] {
    struct stat st {};
    return errno_name(::stat(file.c_str(), &st));
  });
  ASSERT_TRUE(failing.ok()) << failing.output;
  EXPECT_EQ(failing.output, strerrordesc_np(EIO));
  fs.throw_in_getattr = false;
  auto working = run_in_child([&] {
    struct stat st {};
    int rc = ::stat(file.c_str(), &st);
    return errno_name(rc) + " size=" + std::to_string(st.st_size);
  });
  ASSERT_TRUE(working.ok()) << working.output;
  EXPECT_EQ(working.output, "ok size=12");
}

// While one getattr waits 2 s on an asio::steady_timer, stats of another inode are answered.
// Both run from one child: a thread stats the slow file, the main thread counts stats of
// "message" completed before the slow stat returns.
TEST(MountHello, SuspendedHandlerDoesNotDelayOthers) {
  HelloFs fs;
  testing::ScopedMount mnt(fs);
  auto dir = mnt.path();
  auto r = run_in_child([&] {
    struct stat st {};
    // Look both names up first: the kernel holds a second first-lookup in a directory while
    // another is pending, but requests on known inodes flow freely (docs/architecture.md,
    // "Toolchain and kernel facts").
    if (::stat((dir / "message").c_str(), &st) != 0) return std::string("pre-stat message failed");
    int slow_fd = ::open((dir / "slow").c_str(), O_PATH);
    if (slow_fd < 0) return std::string("open slow failed");
    pid_t pid = ::fork();
    if (pid == 0) {
      struct stat s {};
      ::_exit(::fstat(slow_fd, &s) == 0 ? 0 : 1);
    }
    ::usleep(100'000);  // let the slow getattr reach the filesystem
    timespec start{}, now{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    int completed = 0;
    int status = 0;
    for (;;) {
      if (::stat((dir / "message").c_str(), &st) == 0) ++completed;
      if (::waitpid(pid, &status, WNOHANG) == pid) break;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    double waited = static_cast<double>(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
    return std::to_string(completed) + " " + std::to_string(waited) + " " +
           std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  });
  ASSERT_TRUE(r.ok()) << r.output;
  int completed = 0, slow_exit = -1;
  double waited = 0;
  ASSERT_EQ(std::sscanf(r.output.c_str(), "%d %lf %d", &completed, &waited, &slow_exit), 3) << r.output;
  std::printf("stats of another inode completed while one handler slept 2 s: %d (in %.2f s)\n", completed, waited);
  EXPECT_EQ(slow_exit, 0);
  EXPECT_GT(waited, 1.5);
  EXPECT_GE(completed, 100);
}

}  // namespace
}  // namespace fusepp::test
