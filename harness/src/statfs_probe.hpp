// Private to the harness: whether a target's statfs counters are its own. A passthrough
// daemon over a shared disk (or a daemon that reports its host's statfs) shows totals that
// change with everything else on the machine, so exact-delta statfs scenarios cannot hold.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace fusecheck {

struct StatfsCounts {
  unsigned long long frsize = 0, blocks = 0, files = 0, bfree = 0, ffree = 0;
};

// The mountpoint of a local filesystem, shared with the rest of the machine, whose statfs
// shows what the target's shows: the same totals and, in one of a few reads of both, the same
// free counts, before and after `change_target(true)` makes a file on the target
// (`change_target(false)` removes it). Equal counts alone are not enough: memfs sizes itself
// as a default tmpfs would, so an empty default-sized tmpfs elsewhere on the machine shows
// exactly its counts until the target changes. Not compared: FUSE mounts, fusecheck's own
// private {src} tmpfs mounts, and the filesystem holding `target_root` (a dir: target's own).
// nullopt if none.
std::optional<std::string> shared_filesystem_with(const std::function<std::optional<StatfsCounts>()>& target_statfs,
                                                  const std::string& target_root,
                                                  const std::function<bool(bool make)>& change_target);

// The mount source fusecheck gives its private {src} tmpfs mounts.
inline constexpr const char* kPrivateSourceName = "fusecheck-src";

}  // namespace fusecheck
