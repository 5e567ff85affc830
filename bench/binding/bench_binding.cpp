// Benchmark driver: uncached stat/s (stat by path, and fstat of an open fd) of fusepp against a
// minimal raw libfuse low-level C filesystem, daemon and client pinned to one CPU, runs
// interleaved and repeated; prints each fusepp run as a ratio to the raw runs of the same round.
// Usage: bench_binding [--rounds N] [--seconds S] [--cpu C] (needs root and /dev/fuse)
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

bool is_mounted(const std::string& path) {
  std::ifstream info("/proc/self/mountinfo");
  std::string line;
  while (std::getline(info, line))
    if (line.find(" " + path + " ") != std::string::npos) return true;
  return false;
}

struct Rates {
  double stat_per_s = 0;
  double fstat_per_s = 0;
};

double rate(double seconds, const std::function<bool()>& op) {
  auto until = Clock::now() + std::chrono::duration<double>(seconds);
  long n = 0;
  auto start = Clock::now();
  while (Clock::now() < until) {
    for (int i = 0; i < 64; ++i)
      if (!op()) return -1;
    n += 64;
  }
  return n / std::chrono::duration<double>(Clock::now() - start).count();
}

Rates run_one(const std::string& daemon, double seconds) {
  char dir[] = "/tmp/fusepp-bench-XXXXXX";
  if (!mkdtemp(dir)) std::exit(1);
  std::string mnt = dir;
  pid_t pid = 0;
  char* argv[] = {const_cast<char*>(daemon.c_str()), dir, nullptr};
  if (posix_spawn(&pid, daemon.c_str(), nullptr, nullptr, argv, environ) != 0) {
    std::perror("posix_spawn");
    std::exit(1);
  }
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!is_mounted(mnt) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  Rates r;
  std::string file = mnt + "/file";
  struct stat st{};
  if (::stat(file.c_str(), &st) == 0) {  // the first request also waits for INIT
    rate(0.2, [&] { return ::stat(file.c_str(), &st) == 0; });  // warm up
    r.stat_per_s = rate(seconds, [&] { return ::stat(file.c_str(), &st) == 0; });
    int fd = ::open(file.c_str(), O_RDONLY);
    r.fstat_per_s = rate(seconds, [&] { return ::fstat(fd, &st) == 0; });
    ::close(fd);
  } else {
    std::fprintf(stderr, "stat on %s failed: %s\n", daemon.c_str(), std::strerror(errno));
  }
  ::umount2(mnt.c_str(), MNT_DETACH);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::rmdir(mnt.c_str());
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  double seconds = 2;
  int cpu = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--rounds") rounds = std::atoi(argv[i + 1]);
    else if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (a == "--cpu") cpu = std::atoi(argv[i + 1]);
  }
  // Pin before spawning: the daemons inherit the affinity, so client and daemon share one CPU.
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) std::perror("sched_setaffinity");
  auto dir = std::filesystem::canonical("/proc/self/exe").parent_path();
  std::string raw = (dir / "bench_raw_fs").string(), fpp = (dir / "bench_fusepp_fs").string();

  std::vector<double> stat_ratio, fstat_ratio;
  std::printf("round  raw stat/s  fusepp stat/s  ratio | raw fstat/s  fusepp fstat/s  ratio\n");
  for (int round = 0; round < rounds; ++round) {
    // Alternate which goes first so drift on the shared machine does not favour one side.
    Rates a, b;
    if (round % 2 == 0) {
      a = run_one(raw, seconds);
      b = run_one(fpp, seconds);
    } else {
      b = run_one(fpp, seconds);
      a = run_one(raw, seconds);
    }
    double rs = a.stat_per_s > 0 ? b.stat_per_s / a.stat_per_s : 0;
    double rf = a.fstat_per_s > 0 ? b.fstat_per_s / a.fstat_per_s : 0;
    stat_ratio.push_back(rs);
    fstat_ratio.push_back(rf);
    std::printf("%5d  %10.0f  %13.0f  %5.3f | %11.0f  %14.0f  %5.3f\n", round, a.stat_per_s, b.stat_per_s, rs,
                a.fstat_per_s, b.fstat_per_s, rf);
    std::fflush(stdout);
  }
  std::printf("median ratio fusepp/raw: stat %.3fx, fstat %.3fx (target >= 0.95x)\n", median(stat_ratio),
              median(fstat_ratio));
  return 0;
}
