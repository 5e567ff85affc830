// Shared helpers of bench/'s drivers (see bench_common.hpp): daemon start and stop, mount
// waiting via /proc/self/mountinfo, the fatal-signal cleanup list, timing and pinning.
#include "bench_common.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "fusepp/mountinfo.hpp"

extern char** environ;

namespace bench {

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

namespace {

// The rank k of median_interval() for n values, and the confidence [x(k), x(n+1-k)] holds.
// below = P(B < k) for B ~ Binomial(n, 1/2), k = 1, 2, ...: the chance that fewer than k
// rounds fall under the true median, i.e. that x(k) lies above it.
size_t interval_rank(size_t n, double wanted, double* confidence) {
  double tail = (1 - wanted) / 2, below = std::pow(0.5, static_cast<double>(n)), term = below;
  size_t k = 1;
  while (k < n / 2) {
    term *= static_cast<double>(n - k + 1) / static_cast<double>(k);  // C(n, k) / 2^n
    if (below + term > tail) break;
    below += term;
    ++k;
  }
  *confidence = 1 - 2 * below;
  return k;
}

}  // namespace

MedianInterval median_interval(std::vector<double> values, double wanted) {
  MedianInterval m;
  size_t n = values.size();
  if (n == 0) return m;
  std::sort(values.begin(), values.end());
  m.median = median(values);
  size_t k = interval_rank(n, wanted, &m.confidence);
  m.low = values[k - 1];
  m.high = values[n - k];
  return m;
}

double median_interval_confidence(size_t rounds, double wanted) {
  double confidence = 0;
  if (rounds != 0) interval_rank(rounds, wanted, &confidence);
  return confidence;
}

std::vector<double> per_round_ratios(const std::vector<double>& measured, const std::vector<double>& baseline) {
  std::vector<double> ratios;
  for (size_t i = 0; i < measured.size() && i < baseline.size(); ++i) ratios.push_back(measured[i] / baseline[i]);
  return ratios;
}

void print_per_round(const std::string& name, const std::vector<double>& ratios, int decimals) {
  std::printf("# %s: ratio per round", name.c_str());
  for (double r : ratios) std::printf(" %.*f", decimals, r);
  std::printf("\n");
}

double rate(double seconds, int batch, const std::function<bool()>& op) {
  auto start = Clock::now();
  auto until = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  long n = 0;
  while (Clock::now() < until) {
    for (int i = 0; i < batch; ++i)
      if (!op()) return -1;
    n += batch;
  }
  return n / seconds_since(start);
}

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) std::perror("sched_setaffinity");
}

std::string make_temp_dir(const std::string& prefix) {
  std::string pattern = "/tmp/" + prefix + "XXXXXX";
  return ::mkdtemp(pattern.data()) ? pattern : std::string();
}

bool is_mounted(const std::string& path) { return fusepp::mount_at(path).has_value(); }

std::vector<std::string> with_mountpoint(std::vector<std::string> argv, const std::string& mountpoint) {
  std::replace(argv.begin(), argv.end(), std::string(kMountpoint), mountpoint);
  return argv;
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& stdout_path) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!stdout_path.empty())
    posix_spawn_file_actions_addopen(&actions, 1, stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc == 0) return pid;
  errno = rc;
  return 0;
}

MountWait wait_for_mount(const std::string& path, pid_t daemon, Clock::duration timeout, Clock::duration poll,
                         const std::function<bool()>& ready) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (is_mounted(path) && (!ready || ready())) return MountWait::mounted;
    if (daemon > 0 && ::waitpid(daemon, nullptr, WNOHANG) == daemon) return MountWait::exited;
    if (Clock::now() >= deadline) return MountWait::timed_out;
    std::this_thread::sleep_for(poll);
  }
}

void unmount(const std::string& path, bool lazy_only) {
  if (lazy_only || ::umount2(path.c_str(), 0) != 0) ::umount2(path.c_str(), MNT_DETACH);
}

void stop_daemon(const std::string& mountpoint, pid_t daemon, bool lazy_only) {
  unmount(mountpoint, lazy_only);
  if (daemon > 0) ::waitpid(daemon, nullptr, 0);
  ::rmdir(mountpoint.c_str());
}

namespace started {
namespace {

constexpr int kMaxDaemons = 16;
struct Slot {
  char mnt[64];  // empty: a free slot
  volatile pid_t pid;
};
Slot g_slots[kMaxDaemons];
volatile sig_atomic_t g_used = 0;

void on_fatal_signal(int sig) { clean_up_and_die(sig); }

void clean_up_all() {
  for (int i = 0; i < g_used; ++i) {
    if (g_slots[i].mnt[0] == '\0') continue;
    ::umount2(g_slots[i].mnt, MNT_DETACH);
    if (g_slots[i].pid > 0) ::kill(g_slots[i].pid, SIGTERM);
    ::rmdir(g_slots[i].mnt);
  }
}

}  // namespace

int add(const std::string& mountpoint) {
  int slot = 0;
  while (slot < g_used && g_slots[slot].mnt[0] != '\0') ++slot;  // a slot remove() freed
  if (slot == kMaxDaemons || mountpoint.size() >= sizeof g_slots[slot].mnt) return -1;
  g_slots[slot].pid = 0;
  std::snprintf(g_slots[slot].mnt, sizeof g_slots[slot].mnt, "%s", mountpoint.c_str());
  if (slot == g_used) g_used = g_used + 1;
  return slot;
}

void set_pid(int slot, pid_t pid) {
  if (slot >= 0) g_slots[slot].pid = pid;
}

void remove(int slot) {
  if (slot < 0) return;
  g_slots[slot].pid = 0;
  g_slots[slot].mnt[0] = '\0';
}

void clean_up_on_signals() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, on_fatal_signal);
}

void clean_up_and_die(int sig) {
  clean_up_all();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
  std::_Exit(128 + sig);  // a blocked or ignored signal
}

void clean_up_and_exit(int status) {
  clean_up_all();
  std::exit(status);
}

}  // namespace started
}  // namespace bench
