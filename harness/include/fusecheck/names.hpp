// Symbolic names shared by the scenario parser and the actor: open/at/rename/xattr/fallocate
// flags, whence values, access modes, mmap/msync flags, errno and signal names. One table, so a name a scenario may
// write is exactly a name the actor can execute.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fusecheck {

// A family of flag names that combine with `|` (e.g. "open" for O_* names).
enum class FlagFamily { open, at, rename, xattr, fallocate, access, whence, prot, map, msync, flock, inode };

std::optional<long> flag_value(FlagFamily family, std::string_view name);
std::vector<std::string> flag_names(FlagFamily family);
std::string_view family_name(FlagFamily family);

// errno <-> "ENOENT"; names come from the C library, so every errno it knows is accepted.
std::optional<int> errno_from_name(std::string_view name);
std::string errno_name(int err);

// Signal <-> "SIGBUS", for results of memory accesses through a mapping that the actor
// caught (SIGBUS past end of file, SIGSEGV on a protection violation).
std::optional<int> signal_from_name(std::string_view name);
std::string signal_name(int signal);

}  // namespace fusecheck
