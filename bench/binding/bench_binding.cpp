// Benchmark driver: uncached stat/s (stat by path, and fstat of an open fd) of fusepp against a
// minimal raw libfuse low-level C filesystem, daemons and client pinned to one CPU, short
// measuring windows interleaved between the mounts; prints each fusepp build (--fusepp,
// repeatable, to compare builds in one run) as a ratio to raw.
// Usage: bench_binding [--rounds N] [--seconds S per window] [--cpu C] [--fusepp EXE]... [--threads]
// (needs root and /dev/fuse)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"

namespace {

using bench::median;

constexpr const char* kUsage =
    "usage: bench_binding [--rounds N] [--seconds S] [--cpu C] [--fusepp EXE]... [--threads]\n";

// Operations per second of op() for `seconds`; -1 when an operation failed.
double rate(double seconds, const std::function<bool()>& op) { return bench::rate(seconds, 64, op); }

struct Daemon {
  std::string mnt;
  pid_t pid = 0;
  int fd = -1;    // an open file for fstat
  int slot = -1;  // in bench::started
};

Daemon start_daemon(const std::string& exe, const char* threads = nullptr) {
  Daemon d;
  d.mnt = bench::make_temp_dir("fusepp-bench-");
  if (d.mnt.empty()) bench::started::clean_up_and_exit(1);
  d.slot = bench::started::add(d.mnt);
  if (d.slot < 0) {
    ::rmdir(d.mnt.c_str());
    bench::started::clean_up_and_exit(1);
  }
  std::vector<std::string> argv{exe, d.mnt};
  if (threads) argv.push_back(threads);
  d.pid = bench::spawn(argv);
  if (d.pid == 0) {
    std::perror("posix_spawn");
    bench::started::clean_up_and_exit(1);
  }
  bench::started::set_pid(d.slot, d.pid);
  bench::wait_for_mount(d.mnt, 0, std::chrono::seconds(10), std::chrono::milliseconds(2));
  d.fd = ::open((d.mnt + "/file").c_str(), O_RDONLY | O_CLOEXEC);  // the other daemon must not inherit it
  if (d.fd < 0) {
    std::fprintf(stderr, "%s did not serve %s\n", exe.c_str(), d.mnt.c_str());
    bench::started::clean_up_and_exit(1);
  }
  return d;
}

void stop_daemon(Daemon& d) {
  bench::started::set_pid(d.slot, 0);  // reaped below: never signal its pid again
  ::close(d.fd);
  bench::stop_daemon(d.mnt, d.pid);
  bench::started::remove(d.slot);
}

double stat_rate(const Daemon& d, double seconds) {
  std::string file = d.mnt + "/file";
  struct stat st {};
  return rate(seconds, [&] { return ::stat(file.c_str(), &st) == 0; });
}

double fstat_rate(const Daemon& d, double seconds) {
  struct stat st {};
  return rate(seconds, [&] { return ::fstat(d.fd, &st) == 0; });
}

// --threads: fusepp with MainOptions.threads 1 and 2, unpinned, two client threads doing
// fstat concurrently on their own descriptors; windows alternate between the two mounts.
int threads_scaling(const std::string& fpp, int rounds, double seconds) {
  Daemon one = start_daemon(fpp, "1"), two = start_daemon(fpp, "2");
  auto both_clients = [&](const Daemon& d) {
    int fd2 = ::open((d.mnt + "/file").c_str(), O_RDONLY | O_CLOEXEC);
    double second = 0;
    std::thread other([&] {
      struct stat st {};
      second = rate(seconds, [&] { return ::fstat(fd2, &st) == 0; });
    });
    double first = fstat_rate(d, seconds);
    other.join();
    ::close(fd2);
    return first + second;
  };
  std::vector<double> r1, r2;
  for (int round = 0; round < rounds; ++round) {
    r1.push_back(both_clients(one));
    r2.push_back(both_clients(two));
  }
  stop_daemon(one);
  stop_daemon(two);
  std::printf("two concurrent fstat clients: threads=1 %.0f/s, threads=2 %.0f/s (medians of %d windows)\n", median(r1),
              median(r2), rounds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 40;
  double seconds = 0.25;
  int cpu = 0;
  bool threads_mode = false;
  std::vector<std::string> variants;  // --fusepp PATH, repeatable: builds to compare in one run
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool takes_value = a == "--rounds" || a == "--seconds" || a == "--cpu" || a == "--fusepp";
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--threads") {
      threads_mode = true;
    } else if (!takes_value) {
      std::fprintf(stderr, "bench_binding: unknown option '%s'\n%s", a.c_str(), kUsage);
      return 2;
    } else if (i + 1 >= argc) {
      std::fprintf(stderr, "bench_binding: %s needs a value\n%s", a.c_str(), kUsage);
      return 2;
    } else if (a == "--rounds") {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--seconds") {
      seconds = std::atof(argv[++i]);
    } else if (a == "--cpu") {
      cpu = std::atoi(argv[++i]);
    } else {
      variants.push_back(argv[++i]);
    }
  }
  if (rounds < 1 || !(seconds > 0) || cpu < 0) {
    std::fprintf(stderr, "bench_binding: --rounds must be >= 1, --seconds > 0, --cpu >= 0\n");
    return 2;
  }
  bench::started::clean_up_on_signals();
  auto dir = std::filesystem::canonical("/proc/self/exe").parent_path();
  std::string raw = (dir / "bench_raw_fs").string(), fpp = (dir / "bench_fusepp_fs").string();
  if (threads_mode) return threads_scaling(fpp, rounds, seconds);
  if (variants.empty()) variants.push_back(fpp);
  // Pin before spawning: the daemons inherit the affinity, so client and daemon share one CPU.
  bench::pin_to_cpu(cpu);

  // Every daemon stays mounted; short windows alternate between them (the order rotates each
  // round), so load from other processes on this shared machine hits all sides alike.
  // Reported per fusepp build: the median of its per-round ratios to raw, and per-operation
  // times from the median rates (an uncached stat is two requests, LOOKUP and GETATTR; an
  // fstat one GETATTR).
  std::vector<Daemon> daemons{start_daemon(raw)};
  for (const auto& v : variants) daemons.push_back(start_daemon(v));
  for (auto& d : daemons) stat_rate(d, 0.2);
  size_t n = daemons.size();
  std::vector<std::vector<double>> stat_rates(n), fstat_rates(n), stat_ratio(n), fstat_ratio(n);
  std::printf("round  stat/s: raw");
  for (size_t v = 1; v < n; ++v) std::printf("  fusepp%zu (ratio)", v);
  std::printf(" | fstat/s: raw");
  for (size_t v = 1; v < n; ++v) std::printf("  fusepp%zu (ratio)", v);
  std::printf("\n");
  for (int round = 0; round < rounds; ++round) {
    std::vector<double> s(n), f(n);
    for (size_t k = 0; k < n; ++k) {
      size_t i = (k + round) % n;
      s[i] = stat_rate(daemons[i], seconds);
    }
    for (size_t k = 0; k < n; ++k) {
      size_t i = (k + round) % n;
      f[i] = fstat_rate(daemons[i], seconds);
    }
    std::printf("%5d  %.0f", round, s[0]);
    for (size_t v = 1; v < n; ++v) std::printf("  %.0f (%.3f)", s[v], s[v] / s[0]);
    std::printf(" | %.0f", f[0]);
    for (size_t v = 1; v < n; ++v) std::printf("  %.0f (%.3f)", f[v], f[v] / f[0]);
    std::printf("\n");
    std::fflush(stdout);
    for (size_t i = 0; i < n; ++i) {
      stat_rates[i].push_back(s[i]);
      fstat_rates[i].push_back(f[i]);
      stat_ratio[i].push_back(s[i] / s[0]);
      fstat_ratio[i].push_back(f[i] / f[0]);
    }
  }
  for (auto& d : daemons) stop_daemon(d);
  std::printf("raw libfuse: stat %.2f us, fstat %.2f us (median windows)\n", 1e6 / median(stat_rates[0]),
              1e6 / median(fstat_rates[0]));
  for (size_t v = 1; v < n; ++v)
    std::printf(
        "fusepp%zu %s: stat %.3fx (%.2f us), fstat %.3fx (%.2f us): medians of %d window ratios, target >= 0.95x\n", v,
        variants[v - 1].c_str(), median(stat_ratio[v]), 1e6 / median(stat_rates[v]), median(fstat_ratio[v]),
        1e6 / median(fstat_rates[v]), rounds);
  return 0;
}
