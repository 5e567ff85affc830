// Latency-bound benchmark driver: N client processes loop on fstat/stat/read against daemons
// whose handlers wait on a simulated backend (by default fusepp 1 and 2 threads, raw libfuse
// fuse_session_loop_mt with 10 and 64 threads, optionally pyfuse3), in rotating windows; each
// daemon's peak requests in flight shows the kernel had N outstanding. Usage: kUsage (root).
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"

namespace {

using bench::Clock;
using bench::kMountpoint;
using bench::median;

constexpr const char* kUsage =
    "usage: bench_latency [--clients 1,8,32,64] [--seconds S] [--rounds R] [--delay-us US]\n"
    "                     [--compute-us US] [--op fstat|stat|read] [--pyfuse3] [--only NAME,...]\n"
    "  --pyfuse3 also runs bench/latency/latency_pyfuse3.py (apt-get install python3-pyfuse3)\n"
    "  --only: subjects in this order, the first the ratios' baseline, from fusepp-N (N serving\n"
    "    threads), raw-mt-N (libfuse's fuse_session_loop_mt, at most N threads), raw-mt-N-clone\n"
    "    (each worker on its own cloned /dev/fuse fd), raw-mt-default (10 threads) and pyfuse3\n";

constexpr int kMaxClients = 256;
struct Subject {
  std::string name;
  std::vector<std::string> argv;  // kMountpoint is replaced by the daemon's mountpoint
};

struct Daemon {
  std::string name, mnt, out;  // out: the daemon's stdout, where it prints peak_in_flight
  pid_t pid = 0;
  int slot = -1;
};

Daemon start_daemon(const Subject& subject) {
  std::string dir = bench::make_temp_dir("fusepp-latency-");
  if (dir.empty()) {
    std::perror("bench_latency: mkdtemp");
    bench::started::clean_up_and_die(SIGTERM);
  }
  Daemon d{subject.name, dir, dir + ".out"};
  d.slot = bench::started::add(d.mnt);
  if (d.slot < 0) {
    std::fprintf(stderr, "bench_latency: more than 16 daemons at once\n");
    ::rmdir(dir.c_str());
    bench::started::clean_up_and_die(SIGTERM);
  }
  auto argv = bench::with_mountpoint(subject.argv, d.mnt);
  d.pid = bench::spawn(argv, d.out);
  if (d.pid == 0) {
    std::fprintf(stderr, "bench_latency: cannot start %s: %s\n", argv[0].c_str(), std::strerror(errno));
    std::exit(1);
  }
  bench::started::set_pid(d.slot, d.pid);
  struct stat st {};
  auto serves_file = [&] { return ::stat((d.mnt + "/file").c_str(), &st) == 0; };
  auto wait = bench::wait_for_mount(d.mnt, d.pid, std::chrono::seconds(20), std::chrono::milliseconds(5), serves_file);
  if (wait != bench::MountWait::mounted && (wait == bench::MountWait::exited || !bench::is_mounted(d.mnt))) {
    if (wait == bench::MountWait::exited) bench::started::set_pid(d.slot, 0);
    std::fprintf(stderr, "bench_latency: %s did not mount %s\n", subject.name.c_str(), d.mnt.c_str());
    bench::started::clean_up_and_die(SIGTERM);  // removes what this run mounted, then ends it
  }
  return d;
}

// Unmounts, waits for the daemon and returns the peak number of requests it held at once.
unsigned stop_daemon(Daemon& d) {
  bench::started::set_pid(d.slot, 0);  // reaped below: never signal its pid again
  bench::stop_daemon(d.mnt, d.pid);
  bench::started::remove(d.slot);
  std::ifstream out(d.out);
  std::string word;
  unsigned peak = 0;
  out >> word >> peak;
  std::filesystem::remove(d.out);
  return peak;
}

struct Shared {
  std::atomic<bool> stop;
  long count[kMaxClients];
};

void client_loop(const std::string& mnt, const std::string& op, int start_fd, Shared* shared, int index) {
  std::string file = mnt + "/file";
  int fd = ::open(file.c_str(), O_RDONLY);
  char buf[4096];
  if (fd < 0) _exit(1);
  ::read(start_fd, buf, 1);  // blocks until the driver closes the pipe's write end
  long n = 0;
  struct stat st {};
  while (!shared->stop.load(std::memory_order_relaxed)) {
    bool ok = op == "fstat"  ? ::fstat(fd, &st) == 0
              : op == "stat" ? ::stat(file.c_str(), &st) == 0
                             : ::pread(fd, buf, sizeof buf, 0) == static_cast<ssize_t>(sizeof buf);
    if (!ok) _exit(1);
    ++n;
  }
  shared->count[index] = n;
  _exit(0);
}

// N client processes for `seconds`; returns operations per second (all clients together).
double measure(const Daemon& d, int clients, double seconds, const std::string& op, Shared* shared) {
  shared->stop = false;
  int start[2];
  if (::pipe(start) != 0) std::exit(1);
  std::vector<pid_t> pids;
  for (int i = 0; i < clients; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(start[1]);
      client_loop(d.mnt, op, start[0], shared, i);
    }
    pids.push_back(pid);
  }
  ::close(start[0]);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let every client open its file
  auto begin = Clock::now();
  ::close(start[1]);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  shared->stop = true;
  auto elapsed = std::chrono::duration<double>(Clock::now() - begin).count();
  long total = 0;
  bool failed = false;
  for (int i = 0; i < clients; ++i) {
    int status = 0;
    ::waitpid(pids[i], &status, 0);
    failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    total += shared->count[i];
  }
  if (failed) std::fprintf(stderr, "bench_latency: a client of %s failed\n", d.name.c_str());
  return total / elapsed;
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> parts;
  std::stringstream in(list);
  for (std::string p; std::getline(in, p, ',');)
    if (!p.empty()) parts.push_back(p);
  return parts;
}

struct Config {
  std::vector<int> clients{1, 8, 32, 64};
  double seconds = 2;
  int rounds = 3;
  long delay_us = 1000, compute_us = 0;
  std::string op = "fstat";
  bool pyfuse3 = false;
  std::vector<std::string> only;
};

// The thread count N in NAME = PREFIX + N + SUFFIX (N from 1 to kMaxClients), or 0.
int threads_in(const std::string& name, const std::string& prefix, const std::string& suffix = "") {
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix)) return 0;
  std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 3 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return 0;
  int n = std::stoi(digits);
  return n >= 1 && n <= kMaxClients ? n : 0;
}

// A subject by name: fusepp-N (N serving threads), raw-mt-N (fuse_session_loop_mt with at most
// N threads), raw-mt-N-clone (the same, each worker on its own cloned device fd),
// raw-mt-default (libfuse's default limit) and pyfuse3. Empty argv: no such subject.
Subject subject_named(const std::string& name, const Config& c) {
  auto dir = std::filesystem::canonical("/proc/self/exe").parent_path();
  std::string fpp = (dir / "bench_latency_fusepp").string(), raw = (dir / "bench_latency_raw").string();
  std::string delay = std::to_string(c.delay_us), compute = std::to_string(c.compute_us);
  if (name == "pyfuse3") return {name, {"/usr/bin/python3", BENCH_LATENCY_PYFUSE3, kMountpoint, delay}};
  if (name == "raw-mt-default") return {name, {raw, kMountpoint, "0", delay, compute}};
  if (int n = threads_in(name, "fusepp-")) return {name, {fpp, kMountpoint, std::to_string(n), delay, compute}};
  if (int n = threads_in(name, "raw-mt-", "-clone"))
    return {name, {raw, kMountpoint, std::to_string(n), delay, compute, "1"}};
  if (int n = threads_in(name, "raw-mt-")) return {name, {raw, kMountpoint, std::to_string(n), delay, compute}};
  return {name, {}};
}

// --only's subjects in its order (the first is every ratio's baseline), else the default set.
std::vector<Subject> subjects(const Config& c) {
  std::vector<std::string> names = c.only;
  if (names.empty()) {
    names = {"raw-mt-default", "raw-mt-64", "fusepp-1", "fusepp-2"};
    if (c.pyfuse3) names.push_back("pyfuse3");
  }
  std::vector<Subject> all;
  for (auto& name : names) all.push_back(subject_named(name, c));
  return all;
}

int parse(int argc, char** argv, Config& c) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--pyfuse3") {
      c.pyfuse3 = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "bench_latency: %s needs a value\n%s", a.c_str(), kUsage);
      return 2;
    }
    std::string v = argv[++i];
    if (a == "--clients") {
      c.clients.clear();
      for (auto& p : split(v)) c.clients.push_back(std::atoi(p.c_str()));
    } else if (a == "--seconds") {
      c.seconds = std::atof(v.c_str());
    } else if (a == "--rounds") {
      c.rounds = std::atoi(v.c_str());
    } else if (a == "--delay-us") {
      c.delay_us = std::atol(v.c_str());
    } else if (a == "--compute-us") {
      c.compute_us = std::atol(v.c_str());
    } else if (a == "--op") {
      c.op = v;
    } else if (a == "--only") {
      c.only = split(v);
      for (auto& name : c.only)
        if (subject_named(name, c).argv.empty()) {
          std::fprintf(stderr, "bench_latency: no subject '%s'\n%s", name.c_str(), kUsage);
          return 2;
        }
      c.pyfuse3 |= std::find(c.only.begin(), c.only.end(), "pyfuse3") != c.only.end();
    } else {
      std::fprintf(stderr, "bench_latency: unknown option '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  bool clients_ok = !c.clients.empty() &&
                    std::all_of(c.clients.begin(), c.clients.end(), [](int n) { return n >= 1 && n <= kMaxClients; });
  if (!clients_ok || c.rounds < 1 || !(c.seconds > 0) || c.delay_us < 0 || c.compute_us < 0 ||
      (c.op != "fstat" && c.op != "stat" && c.op != "read")) {
    std::fprintf(stderr, "bench_latency: bad option value\n%s", kUsage);
    return 2;
  }
  return -1;
}

// One row of bench/README.md's table: | benchmark | unit | measured | baseline | ratio |
double median_ratio(const std::vector<double>& measured, const std::vector<double>& baseline) {
  std::vector<double> ratios;
  for (size_t k = 0; k < measured.size() && k < baseline.size(); ++k) ratios.push_back(measured[k] / baseline[k]);
  return median(ratios);
}

// ratio: the median of the per-round ratios (a round's windows are adjacent in time, so load
// from other processes hits both sides of a ratio more alike than across the whole run).
std::string row(const Config& c, int clients, const std::string& subject, double rate, const std::string& baseline,
                double base, double ratio, unsigned peak) {
  char line[256];
  std::snprintf(
      line, sizeof line,
      "| latency-bound %s, %ld us backend, %d clients, %s (peak in flight %u) | ops/s | %.0f | %.0f %s | %.2fx |",
      c.op.c_str(), c.delay_us, clients, subject.c_str(), peak, rate, base, baseline.c_str(), ratio);
  if (c.compute_us > 0)
    std::snprintf(line, sizeof line, "| %ld us compute per request, %d clients, %s | ops/s | %.0f | %.0f %s | %.2fx |",
                  c.compute_us, clients, subject.c_str(), rate, base, baseline.c_str(), ratio);
  else if (c.delay_us == 0)
    std::snprintf(line, sizeof line, "| %s, no backend delay, %d clients, %s | ops/s | %.0f | %.0f %s | %.2fx |",
                  c.op.c_str(), clients, subject.c_str(), rate, base, baseline.c_str(), ratio);
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  if (int rc = parse(argc, argv, c); rc >= 0) return rc;
  if (c.pyfuse3 && ::access("/usr/lib/python3/dist-packages/pyfuse3", F_OK) != 0 &&
      ::system("/usr/bin/python3 -c 'import pyfuse3' 2>/dev/null") != 0) {
    std::fprintf(stderr, "bench_latency: --pyfuse3 needs Debian's python3-pyfuse3: apt-get install python3-pyfuse3\n");
    return 2;
  }
  bench::started::clean_up_on_signals();
  auto* shared =
      static_cast<Shared*>(::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  auto subs = subjects(c);
  std::printf(
      "# %s, backend delay %ld us, compute %ld us, %d rounds of %.1f s windows; ops/s (median), "
      "ratio to %s (median of the rounds' ratios), peak requests in flight\n",
      c.op.c_str(), c.delay_us, c.compute_us, c.rounds, c.seconds, subs.front().name.c_str());
  std::vector<std::string> rows;  // for bench/README.md's table
  std::printf("%8s", "clients");
  for (auto& s : subs) std::printf(" %24s", s.name.c_str());
  std::printf("\n");
  for (int clients : c.clients) {
    std::vector<Daemon> daemons;
    for (auto& s : subs) daemons.push_back(start_daemon(s));
    std::vector<std::vector<double>> rates(subs.size());
    for (int round = 0; round < c.rounds; ++round)
      for (size_t k = 0; k < subs.size(); ++k) {
        size_t i = (k + round) % subs.size();
        rates[i].push_back(measure(daemons[i], clients, c.seconds, c.op, shared));
      }
    std::printf("%8d", clients);
    double base = median(rates[0]);
    std::vector<unsigned> peaks;
    for (size_t i = 0; i < subs.size(); ++i) {
      unsigned peak = stop_daemon(daemons[i]);
      peaks.push_back(peak);
      double r = median(rates[i]);
      char cell[64];
      std::snprintf(cell, sizeof cell, "%.0f (%.3fx, %u)", r, median_ratio(rates[i], rates[0]), peak);
      std::printf(" %24s", cell);
    }
    std::printf("\n");
    for (size_t i = 1; i < subs.size(); ++i)
      rows.push_back(row(c, clients, subs[i].name, median(rates[i]), subs[0].name, base,
                         median_ratio(rates[i], rates[0]), peaks[i]));
    auto fpp = std::find_if(subs.begin(), subs.end(), [](auto& s) { return s.name == "fusepp-1"; });
    auto py = std::find_if(subs.begin(), subs.end(), [](auto& s) { return s.name == "pyfuse3"; });
    if (fpp != subs.end() && py != subs.end()) {
      size_t f = fpp - subs.begin(), p = py - subs.begin();
      rows.push_back(row(c, clients, "fusepp-1", median(rates[f]), "pyfuse3", median(rates[p]),
                         median_ratio(rates[f], rates[p]), peaks[f]));
    }
    std::fflush(stdout);
  }
  for (auto& r : rows) std::puts(r.c_str());
  return 0;
}
