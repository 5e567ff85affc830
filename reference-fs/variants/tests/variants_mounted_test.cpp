// The variants no conformance scenario can see yet, shown to carry their bug through a real
// mount: each check passes on memfs and fails on the variant. (Shared mmap, O_TRUNC by a
// non-owner, copy_file_range's mtime, d_type in a large directory, the pyfuse3#5 readdir
// bug with names of varied length, READDIRPLUS lookup counting.)
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include "fusepp/testing.hpp"
#include "memfs/variants.hpp"

namespace memfs::variants {
namespace {

// memfs ("") or a variant, mounted in-process with every stat reaching the filesystem.
class Mounted {
 public:
  explicit Mounted(std::string_view variant) {
    Options options;
    options.entry_timeout = 0;
    options.attr_timeout = 0;
    fs_ = variant.empty() ? std::make_unique<MemFs>(options) : make(variant, options);
    mount_ = std::make_unique<fusepp::testing::ScopedMount>(
        *fs_, std::set<std::string>{"default_permissions", "allow_other"});
  }
  std::string path(const std::string& name) const { return (mount_->path() / name).string(); }
  MemFs& fs() { return *fs_; }
  void unmount() { mount_->unmount(); }

 private:
  std::unique_ptr<MemFs> fs_;
  std::unique_ptr<fusepp::testing::ScopedMount> mount_;
};

void write_file(const std::string& path, const std::string& data, mode_t mode = 0644) {
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, mode);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::close(fd);
}

void drop_kernel_caches() {
  ::sync();
  std::ofstream("/proc/sys/vm/drop_caches") << "2";
}

// Whether a shared writable mapping of a file can be made.
bool shared_mmap_works(std::string_view variant) {
  Mounted m(variant);
  write_file(m.path("f"), "data");
  int fd = ::open(m.path("f").c_str(), O_RDWR);
  void* map = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  bool works = map != MAP_FAILED;
  if (works) ::munmap(map, 4096);
  ::close(fd);
  return works;
}

TEST(VariantsMounted, DirectIoEverywhereBreaksSharedMmap) {
  EXPECT_TRUE(shared_mmap_works(""));
  EXPECT_FALSE(shared_mmap_works("direct-io-everywhere"));
}

// The file's mode after a user who is not its owner opens it with O_TRUNC.
mode_t mode_after_otrunc_by_non_owner(std::string_view variant) {
  Mounted m(variant);
  write_file(m.path("f"), "data", 0777);
  ::chmod(m.path("f").c_str(), 04777);
  auto child = fusepp::testing::run_in_child([&]() -> std::string {
    if (::setresgid(1000, 1000, 1000) != 0 || ::setresuid(1000, 1000, 1000) != 0) return "setresuid failed";
    int fd = ::open(m.path("f").c_str(), O_WRONLY | O_TRUNC);
    return fd < 0 ? "open failed" : (::close(fd), "");
  });
  EXPECT_TRUE(child.ok()) << child.output;
  struct stat st {};
  ::stat(m.path("f").c_str(), &st);
  return st.st_mode & 07777;
}

TEST(VariantsMounted, OtruncKeepsSetuidKeepsIt) {
  EXPECT_EQ(mode_after_otrunc_by_non_owner(""), 0777u);
  EXPECT_EQ(mode_after_otrunc_by_non_owner("otrunc-keeps-setuid"), 04777u);
}

// The destination's mtime (seconds) after copy_file_range into it; it started at 1000.
time_t destination_mtime_after_copy(std::string_view variant) {
  Mounted m(variant);
  write_file(m.path("src"), "0123456789");
  write_file(m.path("dst"), "");
  struct timespec times[2] = {{1000, 0}, {1000, 0}};
  EXPECT_EQ(::utimensat(AT_FDCWD, m.path("dst").c_str(), times, 0), 0);
  int in = ::open(m.path("src").c_str(), O_RDONLY);
  int out = ::open(m.path("dst").c_str(), O_WRONLY);
  EXPECT_EQ(::copy_file_range(in, nullptr, out, nullptr, 10, 0), 10);
  ::close(in);
  ::close(out);
  struct stat st {};
  ::stat(m.path("dst").c_str(), &st);
  return st.st_mtim.tv_sec;
}

TEST(VariantsMounted, CopyRangeKeepsMtimeKeepsIt) {
  EXPECT_GT(destination_mtime_after_copy(""), 1000);
  EXPECT_EQ(destination_mtime_after_copy("copy-range-keeps-mtime"), 1000);
}

// How many of 100 subdirectories readdir reports as DT_DIR.
int listed_as_directories(std::string_view variant) {
  Mounted m(variant);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(::mkdir(m.path("d" + std::to_string(i)).c_str(), 0755), 0);
  int directories = 0;
  DIR* dir = ::opendir(m.path("").c_str());
  for (dirent* entry; (entry = ::readdir(dir)) != nullptr;) {
    if (entry->d_type == DT_DIR && entry->d_name[0] == 'd') directories++;
  }
  ::closedir(dir);
  return directories;
}

TEST(VariantsMounted, ReaddirDtypeWrongMislabelsLateDirectories) {
  EXPECT_EQ(listed_as_directories(""), 100);
  EXPECT_LT(listed_as_directories("readdir-dtype-wrong"), 100);
}

// How many of 4000 names of varied length a listing returns. The kernel asks READDIRPLUS
// for large buffers (hundreds of KiB here), so only a directory of over a megabyte of
// entries reaches a "buffer full" answer at all.
constexpr int kManyNames = 4000;
int listed_names(std::string_view variant) {
  Mounted m(variant);
  for (int i = 0; i < kManyNames; ++i) {
    write_file(m.path("n" + std::to_string(i) + std::string(static_cast<size_t>(i * 37 % 200), 'x')), "");
  }
  int names = 0;
  DIR* dir = ::opendir(m.path("").c_str());
  for (dirent* entry; (entry = ::readdir(dir)) != nullptr;) names += entry->d_name[0] == 'n';
  ::closedir(dir);
  return names;
}

TEST(VariantsMounted, IgnoringBufferFullLosesNamesOfVariedLength) {
  EXPECT_EQ(listed_names(""), kManyNames);
  EXPECT_LT(listed_names("readdir-ignores-buffer-full"), kManyNames);
}

// memfs's consistency report after the kernel forgot inodes it met through READDIRPLUS.
std::vector<std::string> problems_after_readdirplus(std::string_view variant) {
  Mounted m(variant);
  for (int i = 0; i < 20; ++i) write_file(m.path("f" + std::to_string(i)), "");
  drop_kernel_caches();  // the kernel forgets them; the listing below instantiates them again
  DIR* dir = ::opendir(m.path("").c_str());
  while (::readdir(dir) != nullptr) {
  }
  ::closedir(dir);
  drop_kernel_caches();
  m.unmount();
  return m.fs().check_consistency();
}

TEST(VariantsMounted, ReaddirplusUncountedIsSeenByTheConsistencyCheck) {
  EXPECT_EQ(problems_after_readdirplus(""), std::vector<std::string>{});
  // Whether the FORGETs for the listed entries arrive before the unmount depends on what the
  // machine-wide drop_caches frees at that moment (once in a CI rehearsal under ASan, none
  // did); the variant must show its underflow in one of three tries.
  bool seen = false;
  for (int attempt = 0; attempt < 3 && !seen; ++attempt)
    seen = !problems_after_readdirplus("readdirplus-uncounted").empty();
  EXPECT_TRUE(seen) << "readdirplus-uncounted passed the consistency check three times";
}

}  // namespace
}  // namespace memfs::variants
