// fusecheck-memfs as the harness runs it: readiness via /proc/self/mountinfo, options
// reaching memfs (statfs shows size= and nr_inodes=), a clean unmount on SIGTERM and
// SIGINT, distinct exit codes for each way a start can fail, and -o writeback_cache.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include <fstream>
#include <thread>

#include "fusepp/mountinfo.hpp"
#include "support.hpp"

namespace memfs::test {
namespace {

const std::filesystem::path kExecutable = FUSECHECK_MEMFS_PATH;

bool mounted(const std::filesystem::path& path) { return fusepp::mount_at(path.string()).has_value(); }

pid_t start(const std::vector<std::string>& args) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv{const_cast<char*>(kExecutable.c_str())};
    for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// A mountpoint that is unmounted and removed however the test ends.
struct Mountpoint {
  std::filesystem::path path = make_temp_dir("memfs-exe-");
  ~Mountpoint() {
    if (mounted(path)) ::umount2(path.c_str(), MNT_DETACH);
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
  }
};

bool wait_until(const std::function<bool()>& condition) {
  for (int i = 0; i < 500 && !condition(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return condition();
}

class Executable : public ::testing::TestWithParam<int> {};

TEST_P(Executable, ServesOptionsAndUnmountsOnSignal) {
  Mountpoint mnt;
  pid_t pid = start({mnt.path, "-o", "size=1m,nr_inodes=50,attr_timeout=0,allow_other", "--threads", "2"});
  ASSERT_TRUE(wait_until([&] { return mounted(mnt.path); })) << "never mounted";
  auto checked = run_in_child([&] {
    struct statvfs st;
    if (::statvfs(mnt.path.c_str(), &st) != 0) return std::string("statvfs failed");
    if (st.f_blocks != 256 || st.f_files != 50 || st.f_namemax != 255) {
      return "statvfs: blocks " + std::to_string(st.f_blocks) + " files " + std::to_string(st.f_files);
    }
    int fd = ::creat((mnt.path / "f").c_str(), 0644);
    return fd >= 0 && ::write(fd, "x", 1) == 1 ? std::string() : std::string("write failed");
  });
  EXPECT_TRUE(checked.ok() && checked.output.empty()) << checked.output;
  ::kill(pid, GetParam());
  EXPECT_EQ(wait_exit(pid), 0);
  EXPECT_FALSE(mounted(mnt.path));
}

INSTANTIATE_TEST_SUITE_P(Signals, Executable, ::testing::Values(SIGTERM, SIGINT),
                         [](const auto& info) { return info.param == SIGTERM ? "SIGTERM" : "SIGINT"; });

TEST(ExecutableErrors, DistinctExitCodes) {
  Mountpoint mnt;
  EXPECT_EQ(wait_exit(start({(mnt.path / "missing").string()})), 3);
  std::ofstream(mnt.path / "file") << "x";
  EXPECT_EQ(wait_exit(start({(mnt.path / "file").string()})), 4);
  std::filesystem::remove(mnt.path / "file");
  EXPECT_EQ(wait_exit(start({mnt.path, "-o", "no_such_option"})), 2);
  EXPECT_EQ(wait_exit(start({mnt.path, "-o", "size=12q"})), 2);
  EXPECT_EQ(wait_exit(start({mnt.path, "--threads", "0"})), 2);
  EXPECT_EQ(wait_exit(start({})), 2);
  TmpfsMount busy;
  EXPECT_EQ(wait_exit(start({busy.path()})), 5);
}

// With -o writeback_cache the kernel flushes cached pages later with offsets of its own, also
// through an O_APPEND handle; memfs must store them there rather than at its end of file.
TEST(ExecutableOptions, WritebackCacheKeepsAppendsInPlace) {
  Mountpoint mnt;
  pid_t pid = start({mnt.path, "-o", "writeback_cache"});
  ASSERT_TRUE(wait_until([&] { return mounted(mnt.path); })) << "never mounted";
  auto checked = run_in_child([&] {
    std::string file = (mnt.path / "log").string();
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return std::string("open failed");
    for (const char* part : {"abc", "def", "ghi"})
      if (::write(fd, part, 3) != 3 || ::fsync(fd) != 0) return std::string("append failed");
    ::close(fd);
    std::ifstream in(file);
    return std::string(std::istreambuf_iterator<char>(in), {});
  });
  EXPECT_TRUE(checked.ok()) << checked.output;
  EXPECT_EQ(checked.output, "abcdefghi");
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid), 0);
}

TEST(ExecutableErrors, ExternalUnmountEndsTheDaemon) {
  Mountpoint mnt;
  pid_t pid = start({mnt.path});
  ASSERT_TRUE(wait_until([&] { return mounted(mnt.path); }));
  ASSERT_EQ(::umount2(mnt.path.c_str(), 0), 0);
  EXPECT_EQ(wait_exit(pid), 0);
}

}  // namespace
}  // namespace memfs::test
