// Shared helpers of bench/'s drivers: starting a daemon on a fresh temporary mountpoint, waiting
// for its mount in /proc/self/mountinfo, unmounting it (also from a fatal-signal handler),
// timing windows, medians and CPU pinning. One home, so every bench measures the same way.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

// Placeholder in a daemon's argv that with_mountpoint() replaces by its mountpoint.
inline constexpr const char* kMountpoint = "{mnt}";

double seconds_since(Clock::time_point start);
double median(std::vector<double> values);
// The median of per-round values with a distribution-free interval around it: the order
// statistics x(k) and x(n+1-k), k the largest rank for which P(Binomial(n, 1/2) < k) is at
// most (1 - wanted) / 2. `confidence` is what that interval achieves (at least `wanted`, or
// what min..max gives when n is too small for it: 0.75 for 3 rounds, 0.94 for 5).
struct MedianInterval {
  double median = 0, low = 0, high = 0, confidence = 0;
};
MedianInterval median_interval(std::vector<double> values, double wanted = 0.95);
// The confidence median_interval() achieves with `rounds` values.
double median_interval_confidence(size_t rounds, double wanted = 0.95);
// measured[i] / baseline[i] for every round.
std::vector<double> per_round_ratios(const std::vector<double>& measured, const std::vector<double>& baseline);
// A comment line of the table's output: "# NAME: ratio per round R1 R2 ..." (`decimals` each).
void print_per_round(const std::string& name, const std::vector<double>& ratios, int decimals);
// Operations per second of op() run in batches for `seconds`; -1 as soon as one op() fails.
double rate(double seconds, int batch, const std::function<bool()>& op);
// Pins this process (and so the daemons it starts afterwards) to one CPU; perror on failure.
void pin_to_cpu(int cpu);

// A fresh directory /tmp/PREFIXxxxxxx; empty on failure (errno set).
std::string make_temp_dir(const std::string& prefix);
// True when `path` is a mount point of this process's namespace (/proc/self/mountinfo).
bool is_mounted(const std::string& path);
// argv with every kMountpoint replaced by `mountpoint`.
std::vector<std::string> with_mountpoint(std::vector<std::string> argv, const std::string& mountpoint);
// Starts argv[0] (stdout into stdout_path unless empty); returns its pid, or 0 with errno set.
pid_t spawn(const std::vector<std::string>& argv, const std::string& stdout_path = "");

enum class MountWait { mounted, exited, timed_out };
// Polls until `path` is mounted and ready() (when given) holds, the daemon exits (reaped here;
// daemon 0: not checked) or `timeout` passes.
MountWait wait_for_mount(const std::string& path, pid_t daemon, Clock::duration timeout, Clock::duration poll,
                         const std::function<bool()>& ready = {});
// Unmounts `path`: plainly, or lazily (MNT_DETACH) when it is busy or `lazy_only`.
void unmount(const std::string& path, bool lazy_only);
// Unmounts `mountpoint` (see unmount()), reaps its daemon (pid > 0) and removes the directory.
void stop_daemon(const std::string& mountpoint, pid_t daemon, bool lazy_only = true);

// The daemons a run started, for its fatal-signal handler: a bench stopped by Ctrl-C, or by a
// closed output pipe (`| head`), must not leave daemons and mounts behind. The handler makes
// async-signal-safe calls only.
namespace started {
// Reserves a slot for a daemon about to serve `mountpoint`; -1 when all slots are in use.
int add(const std::string& mountpoint);
// set_pid and remove ignore slot -1 (a daemon add() had no room for).
void set_pid(int slot, pid_t pid);
// The daemon was reaped and its mount removed: the handler must not touch them again.
void remove(int slot);
// Installs the handler for SIGINT, SIGTERM, SIGHUP and SIGPIPE.
void clean_up_on_signals();
// Unmounts and stops every daemon still listed, then dies of `sig`.
[[noreturn]] void clean_up_and_die(int sig);
// The same for a bench that gives up: then exits with `status`.
[[noreturn]] void clean_up_and_exit(int status);
}  // namespace started

}  // namespace bench
