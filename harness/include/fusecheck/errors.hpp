// The harness's error convention (docs/architecture.md, "Errors"): bad input throws FileError
// (scenario.hpp; exit 2 with file:line:col); anything the environment or the target does
// wrong throws HarnessError, caught where it becomes a verdict, a notice or an exit code.
#pragma once

#include <stdexcept>
#include <string>

#include "fusecheck/exit_codes.hpp"

namespace fusecheck {

// The machine, the target or the harness's own processes failed us. `exit_code` is what a
// command that stops on it exits with: broken (3) unless the cause is the command line
// (usage, 2) or this machine (cannot_run, 77).
struct HarnessError : std::runtime_error {
  explicit HarnessError(const std::string& message, int code = exit_code::broken)
      : std::runtime_error(message), exit_code(code) {}
  int exit_code;
};

// For a command's outermost catch (...): prints the exception in flight as one line
// ("PROGRAM: message"; a FileError as it is) and returns the exit code it stands for:
// FileError 2, HarnessError its own, anything else 3 ("internal error").
int exit_code_for_current_exception(const std::string& program);

}  // namespace fusecheck
