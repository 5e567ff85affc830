// Process helpers shared by mounts and state records (private to the harness library):
// identifying a process across pid reuse.
#pragma once

#include <string>

namespace fusecheck {

// Field 22 of /proc/PID/stat (start time in clock ticks): with the pid it names one process
// for good, as pids are reused. 0 if there is no such process.
unsigned long long process_start_time(int pid);

// Whether `pid` runs and is the process that started at `start`. A zombie is dead: it has
// exited and only waits for its parent (a SIGKILLed run's children are reparented late).
bool process_alive(int pid, unsigned long long start);

// The real uid of `pid`, or -1.
long process_uid(int pid);

// The file name of `pid`'s executable ("fusecheck"), or "" if it cannot be read.
std::string process_program(int pid);

}  // namespace fusecheck
