// `fusecheck fuzz` end to end: exit 0 on memfs, 1 with a scenario file on a filesystem that
// differs from tmpfs (ramfs has no user xattrs), 2 for bad options, 77 for a missing dir:.
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

const std::string kFusecheck = FUSECHECK_BINARY;

int exit_code_of(const std::string& arguments) {
  int status = std::system((kFusecheck + " " + arguments + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A ramfs on a fresh directory, unmounted and removed however the test ends.
class ScopedRamfs {
 public:
  ScopedRamfs() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fusecheck-ramfs-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
    if (::mount("ramfs", pattern.c_str(), "ramfs", 0, nullptr) != 0) {
      ::rmdir(pattern.c_str());
      throw std::runtime_error("cannot mount ramfs");
    }
  }
  ~ScopedRamfs() {
    if (::umount2(path_.c_str(), 0) != 0) ::umount2(path_.c_str(), MNT_DETACH);
    ::rmdir(path_.c_str());
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(FuzzCli, MemfsPasses) { EXPECT_EQ(exit_code_of("fuzz --runs 30 --max-steps 20 --seed 11"), 0); }

TEST(FuzzCli, UsageErrorsExitTwo) {
  EXPECT_EQ(exit_code_of("fuzz --runs 0"), 2);
  EXPECT_EQ(exit_code_of("fuzz --runs many"), 2);
  EXPECT_EQ(exit_code_of("fuzz --no-such-option"), 2);
}

TEST(FuzzCli, BadKnownDifferencesFileIsAnInputError) {
  auto known = std::filesystem::temp_directory_path() / ("bad-known-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(known) << "format: 1\nknown:\n  - {op: lstat, field: nlink}\n";  // no reason
  EXPECT_EQ(exit_code_of("fuzz --runs 1 --known " + known.string()), 2);
  std::filesystem::remove(known);
}

TEST(FuzzCli, MissingDirectoryCannotRun) { EXPECT_EQ(exit_code_of("fuzz --fs dir:/nonexistent/fusecheck"), 77); }

TEST(FuzzCli, DifferenceWritesScenarioAndExitsOne) {
  ScopedRamfs ramfs;
  auto out = std::filesystem::temp_directory_path() / ("fuzz-cli-" + std::to_string(::getpid()) + ".yaml");
  // ramfs stamps times from the same coarse clock as tmpfs but the fuzzer takes a target's
  // times as exact: a known-differences file looks past them (and shows --known working).
  auto known = std::filesystem::temp_directory_path() / ("ramfs-known-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(known) << "format: 1\nknown:\n"
                       << "  - {field: mtime, reason: \"coarse clock\"}\n  - {field: ctime, reason: \"coarse clock\"}\n"
                       << "  - {field: atime, reason: \"coarse clock\"}\n";
  EXPECT_EQ(exit_code_of("fuzz --fs dir:" + ramfs.path().string() + " --runs 300 --seed 2 --known " + known.string() +
                         " --out " + out.string()),
            1);
  std::filesystem::remove(known);
  std::ifstream file(out);
  ASSERT_TRUE(file) << "no scenario at " << out;
  std::stringstream text;
  text << file.rdbuf();
  // ramfs differs from tmpfs in three known ways: features it lacks (user xattrs, file
  // handles: EOPNOTSUPP, and the shrunk file requires the one it met) and its cursor-based
  // readdir, which lists a name twice after a seekdir back across a creation.
  const std::string& yaml = text.str();
  auto has = [&yaml](const char* s) { return yaml.find(s) != std::string::npos; };
  const bool xattrs = has("requires: [xattr.user]") && has("xattr, ");  // set/get/list/remove, any actor
  const bool handles = has("requires: [file_handles]") && has("op: name_to_handle_at, ");
  const bool cursor = has("op: seekdir, ") && has("each_once: ");
  EXPECT_TRUE(xattrs || handles || cursor) << yaml;
  std::filesystem::remove(out);
}

}  // namespace
