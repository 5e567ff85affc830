// Whether an inode of a filesystem the fuzzer made itself (the tmpfs oracle) is still in use:
// asked only when the target reuses an inode number (normalise.hpp, accept_reused_number).
#pragma once

#include <cstdint>
#include <filesystem>

namespace fusecheck::fuzz {

// True if a name under `tree` (lstat, symlinks not followed) or an open descriptor of any
// process (/proc/PID/fd) is the inode `ino` of the filesystem that holds `tree`.
bool inode_in_use(const std::filesystem::path& tree, uint64_t ino);

}  // namespace fusecheck::fuzz
