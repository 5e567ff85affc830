// Per-request benchmark: fusecheck-memfs against raw_meta_fs.c (same mount flags, one thread),
// all pinned to one CPU, windows alternating between the mounts: fstat, stat, missing-name
// stat, create+unlink, mkdir+rmdir, listing 10,000 entries. --baseline-memfs puts another
// build's memfs in raw C's place, to compare two builds the same way.
// Usage: bench_meta [--rounds N] [--seconds S] [--cpu C] [--entries N] [--baseline-memfs PATH] (root)
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace {

using bench::median;

// A daemon serving a fresh temporary mountpoint; unmounted and reaped on destruction.
class Mount {
 public:
  Mount(std::string name, const std::vector<std::string>& argv) : name_(std::move(name)) {
    path_ = bench::make_temp_dir("bench-meta-");
    if (path_.empty()) bench::started::clean_up_and_exit(1);
    slot_ = bench::started::add(path_);
    pid_ = bench::spawn(bench::with_mountpoint(argv, path_));
    bench::started::set_pid(slot_, pid_);
    if (pid_ == 0 || bench::wait_for_mount(path_, pid_, std::chrono::hours(24), std::chrono::milliseconds(2)) !=
                         bench::MountWait::mounted) {
      std::fprintf(stderr, "bench_meta: %s did not mount\n", name_.c_str());
      ::rmdir(path_.c_str());
      bench::started::remove(slot_);
      bench::started::clean_up_and_exit(1);  // the other mount too
    }
  }
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  ~Mount() {
    bench::started::remove(slot_);
    bench::stop_daemon(path_, pid_);
  }
  const std::string& path() const { return path_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_, path_;
  pid_t pid_ = 0;
  int slot_ = -1;  // in bench::started, to clean up when the other daemon fails to mount
};

double rate(double seconds, const std::function<bool()>& op) {
  double r = bench::rate(seconds, 16, op);
  if (r < 0) {
    std::perror("bench_meta: operation failed");
    bench::started::clean_up_and_exit(1);  // std::exit alone skips the mounts' destructors
  }
  return r;
}

struct Row {
  std::string name;
  std::function<bool(const std::string& mnt, int fd)> op;
  std::vector<std::vector<double>> rates;  // per mount
};

bool list_all(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return false;
  while (::readdir(d)) {
  }
  ::closedir(d);
  return true;
}

std::vector<Row> make_rows() {
  return {
      {"fstat",
       [](auto&, int fd) {
         struct stat st;
         return ::fstat(fd, &st) == 0;
       },
       {}},
      {"stat by path",
       [](auto& m, int) {
         struct stat st;
         return ::stat((m + "/f").c_str(), &st) == 0;
       },
       {}},
      {"stat of a missing name",
       [](auto& m, int) {
         struct stat st;
         return ::stat((m + "/missing").c_str(), &st) != 0 && errno == ENOENT;
       },
       {}},
      {"create + unlink",
       [](auto& m, int) {
         std::string p = m + "/new";
         int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
         return fd >= 0 && ::close(fd) == 0 && ::unlink(p.c_str()) == 0;
       },
       {}},
      {"mkdir + rmdir",
       [](auto& m, int) {
         std::string p = m + "/newdir";
         return ::mkdir(p.c_str(), 0755) == 0 && ::rmdir(p.c_str()) == 0;
       },
       {}},
  };
}

// One row of bench/README.md's table: | benchmark | unit | measured | baseline | ratio |, the
// ratio with the interval the rounds give its median (bench::median_interval).
void print_row(const std::string& name, const std::vector<double>& memfs, const std::vector<double>& baseline_rates,
               const char* unit, const char* baseline) {
  std::vector<double> ratios = bench::per_round_ratios(memfs, baseline_rates);
  auto r = bench::median_interval(ratios);
  std::printf("| %s, memfs | %s | %.0f | %.0f %s | %.3fx (%.3f-%.3f) |\n", name.c_str(), unit, median(memfs),
              median(baseline_rates), baseline, r.median, r.low, r.high);
  bench::print_per_round(name, ratios, 3);
}

constexpr const char* kUsage =
    "usage: bench_meta [--rounds N] [--seconds S] [--cpu C] [--entries N<=30000] [--baseline-memfs PATH]\n";

}  // namespace

int main(int argc, char** argv) {
  // 15 rounds of 0.25 s swung by +-3% from run to run; 45 shorter ones narrow the interval
  // around the median ratio to about +-1% (ranks 16 and 30).
  int rounds = 45, cpu = 0, entries = 10000;
  double seconds = 0.2;
  std::string baseline_memfs;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--rounds")
      rounds = std::atoi(argv[i + 1]);
    else if (a == "--seconds")
      seconds = std::atof(argv[i + 1]);
    else if (a == "--cpu")
      cpu = std::atoi(argv[i + 1]);
    else if (a == "--entries")
      entries = std::atoi(argv[i + 1]);
    else if (a == "--baseline-memfs")
      baseline_memfs = argv[i + 1];
    else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (argc % 2 == 0 || rounds < 1 || !(seconds > 0) || entries < 1 || entries > 30000) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  // Ctrl-C or a closed pipe must not leave the mounts behind.
  bench::started::clean_up_on_signals();
  bench::pin_to_cpu(cpu);  // daemons inherit it
  auto dir = std::filesystem::canonical("/proc/self/exe").parent_path();
  auto memfs_argv = [](const std::string& program) {
    return std::vector<std::string>{program, "{mnt}", "-o", "entry_timeout=0,attr_timeout=0", "--threads", "1"};
  };
  auto baseline_argv = baseline_memfs.empty() ? std::vector<std::string>{(dir / "bench_raw_meta_fs").string(), "{mnt}"}
                                              : memfs_argv(baseline_memfs);
  Mount baseline_mount("baseline", baseline_argv);
  Mount memfs("memfs", memfs_argv(FUSECHECK_MEMFS_PATH));
  const char* baseline = baseline_memfs.empty() ? "raw C" : "baseline memfs";
  std::vector<const Mount*> mounts{&memfs, &baseline_mount};
  std::vector<int> fds;
  for (auto* m : mounts) {
    int fd = ::open((m->path() + "/f").c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0) return 1;
    fds.push_back(fd);
  }
  auto rows = make_rows();
  for (auto& row : rows) row.rates.resize(mounts.size());
  for (int round = 0; round < rounds; ++round)
    for (auto& row : rows)
      for (size_t k = 0; k < mounts.size(); ++k) {
        size_t i = (k + round) % mounts.size();
        row.rates[i].push_back(rate(seconds, [&] { return row.op(mounts[i]->path(), fds[i]); }));
      }
  // Listing: the root then holds `entries` files; whole listings (READDIRPLUS) per second.
  std::vector<std::vector<double>> lists(mounts.size());
  for (size_t i = 0; i < mounts.size(); ++i)
    for (int e = 0; e < entries; ++e) {
      int fd = ::open((mounts[i]->path() + "/e" + std::to_string(e)).c_str(), O_WRONLY | O_CREAT, 0644);
      if (fd < 0) return 1;
      ::close(fd);
    }
  for (int round = 0; round < rounds; ++round)
    for (size_t k = 0; k < mounts.size(); ++k) {
      size_t i = (k + round) % mounts.size();
      lists[i].push_back(rate(seconds * 2, [&] { return list_all(mounts[i]->path()); }));
    }
  for (int fd : fds) ::close(fd);
  double confidence = bench::median_interval_confidence(static_cast<size_t>(rounds));
  std::printf(
      "# per request, CPU %d, %d rounds of %.2f s windows; medians, ratio = median of per-round memfs/baseline "
      "in parentheses its %.1f%% interval\n",
      cpu, rounds, seconds, confidence * 100);
  for (auto& row : rows) print_row("per request: " + row.name, row.rates[0], row.rates[1], "ops/s", baseline);
  print_row("list " + std::to_string(entries) + " entries (readdirplus)", lists[0], lists[1], "listings/s", baseline);
  return 0;
}
