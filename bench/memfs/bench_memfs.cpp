// Scale benchmark of memfs: N empty files in one directory (create and list times, daemon
// RSS) and a 1 TiB sparse file written at its end (daemon RSS growth, st_blocks), each run on
// fusecheck-memfs and on a fresh tmpfs in the same process, printed with memfs/tmpfs ratios.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <string>
#include <utility>

#include "bench_common.hpp"

namespace {

using bench::Clock;

double seconds_of(const std::function<void()>& work) {
  auto start = Clock::now();
  work();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// VmRSS (or another /proc/PID/status field) in KiB.
long status_kib(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with(field + ":")) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

std::filesystem::path temp_dir(const char* prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (std::string(prefix) + "XXXXXX")).string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

void fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

// The target of one run: a directory plus, for memfs, the daemon serving it.
class Target {
 public:
  static Target tmpfs() {
    Target t("tmpfs", temp_dir("bench-tmpfs-"));
    if (::mount("tmpfs", t.path_.c_str(), "tmpfs", 0, "size=50%") != 0) fail("mount tmpfs");
    return t;
  }
  static Target memfs() {
    Target t("memfs", temp_dir("bench-memfs-"));
    t.daemon_ = bench::spawn({FUSECHECK_MEMFS_PATH, t.path_.string(), "--threads", "1"});
    auto wait = bench::wait_for_mount(t.path_, t.daemon_, std::chrono::seconds(5), std::chrono::milliseconds(10));
    if (wait == bench::MountWait::exited) t.daemon_ = 0;
    if (wait != bench::MountWait::mounted) throw std::runtime_error("fusecheck-memfs did not mount");
    return t;
  }
  Target(Target&& other) noexcept
      : name_(other.name_), path_(std::move(other.path_)), daemon_(std::exchange(other.daemon_, 0)) {}
  ~Target() {
    if (path_.empty()) return;
    if (daemon_ > 0) {
      ::kill(daemon_, SIGTERM);
      ::waitpid(daemon_, nullptr, 0);
    } else if (::umount2(path_.c_str(), 0) != 0) {
      ::umount2(path_.c_str(), MNT_DETACH);
    }
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  long rss_kib() const { return daemon_ > 0 ? status_kib(daemon_, "VmRSS") : 0; }
  long peak_rss_kib() const { return daemon_ > 0 ? status_kib(daemon_, "VmHWM") : 0; }
  const char* name() const { return name_; }

 private:
  Target(const char* name, std::filesystem::path path) : name_(name), path_(std::move(path)) {}
  const char* name_;
  std::filesystem::path path_;
  pid_t daemon_ = 0;
};

struct ManyFiles {
  double create_s, list_s, stat_all_s;
  long entries;
  long rss_kib, peak_rss_kib;
};

ManyFiles many_files(const Target& target, long count) {
  auto dir = target.path() / "many";
  if (::mkdir(dir.c_str(), 0755) != 0) fail("mkdir");
  ManyFiles r{};
  r.create_s = seconds_of([&] {
    char name[32];
    for (long i = 0; i < count; ++i) {
      std::snprintf(name, sizeof name, "f%07ld", i);
      int fd = ::openat(AT_FDCWD, (dir / name).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
      if (fd < 0) fail("create");
      ::close(fd);
    }
  });
  r.list_s = seconds_of([&] {
    DIR* d = ::opendir(dir.c_str());
    while (::readdir(d)) r.entries++;
    ::closedir(d);
  });
  r.stat_all_s = seconds_of([&] {
    DIR* d = ::opendir(dir.c_str());
    struct stat st;
    while (dirent* e = ::readdir(d)) ::fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW);
    ::closedir(d);
  });
  r.rss_kib = target.rss_kib();
  r.peak_rss_kib = target.peak_rss_kib();
  return r;
}

struct Sparse {
  double write_s;
  long rss_before_kib, rss_after_kib;
  long long size, blocks;
};

Sparse sparse_tebibyte(const Target& target) {
  Sparse r{};
  auto file = target.path() / "sparse";
  r.rss_before_kib = target.rss_kib();
  std::string page(4096, 'e');
  r.write_s = seconds_of([&] {
    int fd = ::open(file.c_str(), O_CREAT | O_WRONLY, 0644);
    if (fd < 0) fail("open sparse");
    if (::pwrite(fd, page.data(), page.size(), (off_t{1} << 40) - 4096) != 4096) fail("pwrite");
    ::close(fd);
  });
  struct stat st;
  ::stat(file.c_str(), &st);
  r.size = st.st_size;
  r.blocks = st.st_blocks;
  r.rss_after_kib = target.rss_kib();
  return r;
}

double ratio(double a, double b) { return b > 0 ? a / b : 0; }

}  // namespace

int main(int argc, char** argv) {
  long count = 1'000'000;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--files" && i + 1 < argc) count = std::stol(argv[++i]);
  }
  try {
    ManyFiles files[2];
    Sparse sparse[2];
    const char* names[2] = {"memfs", "tmpfs"};
    for (int which = 0; which < 2; ++which) {
      Target target = which == 0 ? Target::memfs() : Target::tmpfs();
      long rss_start = target.rss_kib();
      sparse[which] = sparse_tebibyte(target);
      files[which] = many_files(target, count);
      if (which == 0) fmt::print("memfs daemon RSS at start: {:.1f} MiB\n", rss_start / 1024.0);
    }
    fmt::print("\n{} empty files in one directory (create = open(O_CREAT|O_EXCL)+close)\n", count);
    fmt::print("{:<28}{:>14}{:>14}{:>10}\n", "", "memfs", "tmpfs", "ratio");
    auto row = [&](const char* what, double m, double t) {
      fmt::print("{:<28}{:>14.3f}{:>14.3f}{:>10.2f}\n", what, m, t, ratio(m, t));
    };
    row("create (s)", files[0].create_s, files[1].create_s);
    row("list, readdir only (s)", files[0].list_s, files[1].list_s);
    row("list + lstat each (s)", files[0].stat_all_s, files[1].stat_all_s);
    fmt::print("{:<28}{:>14}{:>14}\n", "entries listed", files[0].entries, files[1].entries);
    fmt::print("{:<28}{:>14.1f}{:>14}\n", "daemon RSS after (MiB)", files[0].rss_kib / 1024.0, "-");
    fmt::print("{:<28}{:>14.1f}{:>14}\n", "daemon peak RSS (MiB)", files[0].peak_rss_kib / 1024.0, "-");
    fmt::print("{:<28}{:>14.0f}{:>14}\n", "daemon bytes per file", files[0].rss_kib * 1024.0 / count, "-");
    fmt::print("\n1 TiB sparse file, 4 KiB written at its end\n");
    fmt::print("{:<28}{:>14}{:>14}\n", "", names[0], names[1]);
    fmt::print("{:<28}{:>14}{:>14}\n", "st_size", sparse[0].size, sparse[1].size);
    fmt::print("{:<28}{:>14}{:>14}\n", "st_blocks (512 B)", sparse[0].blocks, sparse[1].blocks);
    fmt::print("{:<28}{:>14}{:>14}\n", "daemon RSS growth (KiB)", sparse[0].rss_after_kib - sparse[0].rss_before_kib,
               "-");
    fmt::print("{:<28}{:>14.6f}{:>14.6f}{:>10.2f}\n", "write time (s)", sparse[0].write_s, sparse[1].write_s,
               ratio(sparse[0].write_s, sparse[1].write_s));
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_memfs: {}\n", e.what());
    return 1;
  }
  return 0;
}
