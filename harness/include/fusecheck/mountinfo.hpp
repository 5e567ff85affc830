// /proc/self/mountinfo, parsed in one place for every layer above the binding (runner,
// targets, state records, fuzz, the harness's tests): which mounts exist, their device,
// type and superblock options. Paths come back unescaped (the kernel writes ' ' as \040).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace fusecheck {

struct MountEntry {
  unsigned major = 0, minor = 0;  // st_dev of the mount's root
  std::string root;               // the subtree of the filesystem mounted here
  std::string mountpoint;
  std::string fstype;  // "tmpfs", "fuse.memfs", ...
  std::string source;
  std::string super_options;  // "rw,user_id=0,allow_other"
};

// Every line, in the kernel's order (later lines are mounted on top of earlier ones).
std::vector<MountEntry> read_mountinfo(const std::string& file = "/proc/self/mountinfo");

// The mount whose mountpoint is exactly `path` (the top one if several are stacked).
std::optional<MountEntry> mount_at(const std::string& path);

// The mount that holds `path`: the longest mountpoint that is `path` or one of its parents.
std::optional<MountEntry> mount_holding(const std::string& path);

}  // namespace fusecheck
