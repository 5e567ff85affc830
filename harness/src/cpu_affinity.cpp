// Keeping a run on one CPU (cpu_affinity.hpp): the affinity calls, in one place for the runner
// and the fuzzer.
#include "fusecheck/cpu_affinity.hpp"

#include <sched.h>

namespace fusecheck {

std::vector<int> cpus_from_current() {
  cpu_set_t allowed;
  if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) return {};
  std::vector<int> cpus;
  const int current = ::sched_getcpu();
  if (current >= 0 && CPU_ISSET(current, &allowed)) cpus.push_back(current);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &allowed) && cpu != current) cpus.push_back(cpu);
  return cpus;
}

void keep_thread_to_cpu(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  ::sched_setaffinity(0, sizeof one, &one);
}

}  // namespace fusecheck
