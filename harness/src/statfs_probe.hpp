// Private to the harness: whether a target's statfs counters are its own. A passthrough
// daemon over a shared disk (or a daemon that reports its host's statfs) shows totals that
// change with everything else on the machine, so exact-delta statfs scenarios cannot hold.
#pragma once

#include <optional>
#include <string>

namespace fusecheck {

struct StatfsTotals {
  unsigned long long frsize = 0, blocks = 0, files = 0;
};

// The mountpoint of a local filesystem, shared with the rest of the machine, whose statfs
// has exactly these totals; nullopt if none. Not compared: FUSE mounts, fusecheck's own
// private {src} tmpfs mounts, and the filesystem holding `target_root` (a dir: target's own).
std::optional<std::string> shared_filesystem_with(const StatfsTotals& totals, const std::string& target_root);

// The mount source fusecheck gives its private {src} tmpfs mounts.
inline constexpr const char* kPrivateSourceName = "fusecheck-src";

}  // namespace fusecheck
