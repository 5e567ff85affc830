// Keeping a run on one CPU: `fusecheck run` (each --jobs worker) and `fusecheck fuzz` are
// chains of wake-ups between the harness, its actors and the daemon, and on small VMs a wake-up
// across CPUs costs tens of microseconds more (docs/architecture.md, "What a step costs").
#pragma once

#include <vector>

namespace fusecheck {

// The CPUs this thread may run on, the one it runs on now first.
std::vector<int> cpus_from_current();

// The calling thread, and every process it starts from now on (fork copies the caller's
// affinity), runs on `cpu` only. Best effort: a failure only costs speed.
void keep_thread_to_cpu(int cpu);

}  // namespace fusecheck
