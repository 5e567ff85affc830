// Where fusecheck's files are, the data (scenarios/, expectations/) and the helper
// executables: found relative to the running executable, so an installed tree can move
// anywhere and a build tree works unchanged.
#pragma once

#include <string>

namespace fusecheck {

// $FUSECHECK_DATA_DIR when set; else <executable's dir>/../share/fusecheck, which is the
// install layout (bin/, share/fusecheck/) and, through symlinks to the source tree made at
// configure time, the build tree's as well.
std::string data_dir();

// The directory of the running executable ("." when /proc/self/exe cannot be read).
std::string executable_dir();

// A fusecheck executable (fusecheck-actor, fusecheck-memfs): beside the running executable
// when it is there (the CLI, the build tree), else the first one on $PATH (a user's own test
// binary linking the installed fuzz library), else the path beside (for the error message).
std::string helper_executable(const std::string& name);

}  // namespace fusecheck
