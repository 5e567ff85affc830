// Every deadline the harness sets for its own work (actors, mounts, teardown), in one place.
// A scenario's step timeouts are not here: they come from its file and --timeout. The
// harness's own service calls are also capped by --timeout (RunOptions::max_timeout).
#pragma once

#include <chrono>

namespace fusecheck::deadline {

// An actor's first exchange (it proves the identity switch worked).
inline constexpr std::chrono::milliseconds actor_start{10000};
// Returning an actor to the pool: close its handles and leave the workdir.
inline constexpr std::chrono::milliseconds actor_reset{5000};
// A call the harness makes itself: workdirs, chdir, the on-mount stat.
inline constexpr std::chrono::milliseconds service_call{10000};
// One feature probe on a fresh mount.
inline constexpr std::chrono::milliseconds feature_probe{5000};
// SIGKILLed actor: how long to wait for it to be reaped (longer means stuck in the kernel).
inline constexpr std::chrono::milliseconds actor_reap{2000};
// A FUSE daemon: from start until its mount shows in mountinfo.
inline constexpr std::chrono::milliseconds mount_ready{10000};
// Teardown: after unmounting, the daemon's own exit; then SIGTERM's; then SIGKILL's.
inline constexpr std::chrono::milliseconds daemon_exit{3000};
inline constexpr std::chrono::milliseconds daemon_term{1000};
inline constexpr std::chrono::milliseconds daemon_kill{1000};
// A daemon that closed its connection is seen to exit a moment later.
inline constexpr std::chrono::milliseconds daemon_leaving{1000};
// A scenario's sleep step: how much longer than its seconds it waits for the kernel's coarse
// clock (the one tmpfs stamps times from) to have moved as far.
inline constexpr std::chrono::milliseconds coarse_clock_lag{1000};
// fuzz: one system call on the target or the oracle before it counts as hung.
inline constexpr std::chrono::milliseconds fuzz_step{5000};

// As a duration of the steady clock, for deadlines computed from Clock::now().
inline double seconds(std::chrono::milliseconds duration) { return std::chrono::duration<double>(duration).count(); }

}  // namespace fusecheck::deadline
