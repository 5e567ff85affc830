// The exit codes of every fusecheck command (docs/scenario-format.md section 11), in one
// place so the CLI, `fusecheck fuzz` and the harness's error types agree on them.
#pragma once

namespace fusecheck::exit_code {

inline constexpr int ok = 0;             // every test passed (or was skipped/xfailed)
inline constexpr int failures = 1;       // a FAIL or an XPASS
inline constexpr int usage = 2;          // bad command line or input file: nothing was run
inline constexpr int broken = 3;         // a BROKEN test, or the target could not be used
inline constexpr int cannot_run = 77;    // this machine cannot run it (no /dev/fuse, not root)
inline constexpr int interrupted = 130;  // SIGINT/SIGTERM

}  // namespace fusecheck::exit_code
