// Turning the harness's two error types into a command's message and exit code (errors.hpp).
#include "fusecheck/errors.hpp"

#include <exception>
#include <iostream>

#include "fusecheck/scenario.hpp"

namespace fusecheck {

int exit_code_for_current_exception(const std::string& program) {
  try {
    throw;
  } catch (const FileError& error) {
    std::cerr << error.what() << "\n";
    return exit_code::usage;
  } catch (const HarnessError& error) {
    std::cerr << program << ": " << error.what() << "\n";
    return error.exit_code;
  } catch (const std::exception& error) {
    std::cerr << program << ": internal error: " << error.what() << "\n";
    return exit_code::broken;
  }
}

}  // namespace fusecheck
