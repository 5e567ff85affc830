// Whether a target's statfs is shared with the machine (see statfs_probe.hpp): its totals
// are compared with those of every local disk or memory filesystem mounted here.
#include "statfs_probe.hpp"

#include <sys/statvfs.h>

#include <set>

#include "fusepp/mountinfo.hpp"

namespace fusecheck {

std::optional<std::string> shared_filesystem_with(const StatfsTotals& totals, const std::string& target_root) {
  // Local filesystems only: statvfs on a network mount may block.
  static const std::set<std::string> local{"ext2", "ext3",  "ext4", "xfs",     "btrfs", "f2fs",    "tmpfs",
                                           "vfat", "exfat", "zfs",  "overlay", "jfs",   "reiserfs"};
  if (totals.blocks == 0) return std::nullopt;
  auto own = fusepp::mount_holding(target_root);
  for (const auto& mount : fusepp::read_mountinfo()) {
    if (!local.count(mount.fstype) || mount.source == kPrivateSourceName) continue;
    if (own && own->major == mount.major && own->minor == mount.minor) continue;
    struct statvfs host {};
    if (::statvfs(mount.mountpoint.c_str(), &host) != 0) continue;
    if (host.f_frsize == totals.frsize && host.f_blocks == totals.blocks && host.f_files == totals.files)
      return mount.mountpoint;
  }
  return std::nullopt;
}

}  // namespace fusecheck
