// Whether a target's statfs is shared with the machine (see statfs_probe.hpp): its totals
// are compared with those of every local disk or memory filesystem mounted here.
#include "statfs_probe.hpp"

#include <sys/statvfs.h>

#include <set>
#include <vector>

#include "fusepp/mountinfo.hpp"

namespace fusecheck {

namespace {

StatfsCounts counts_of(const struct statvfs& st) {
  return {st.f_frsize, st.f_blocks, st.f_files, st.f_bfree, st.f_ffree};
}

bool same_totals(const StatfsCounts& a, const StatfsCounts& b) {
  return a.frsize == b.frsize && a.blocks == b.blocks && a.files == b.files;
}

// Local filesystems only: statvfs on a network mount may block.
std::vector<std::string> candidates_with_totals(const StatfsCounts& target, const std::string& target_root) {
  static const std::set<std::string> local{"ext2", "ext3",  "ext4", "xfs",     "btrfs", "f2fs",    "tmpfs",
                                           "vfat", "exfat", "zfs",  "overlay", "jfs",   "reiserfs"};
  std::vector<std::string> found;
  auto own = fusepp::mount_holding(target_root);
  for (const auto& mount : fusepp::read_mountinfo()) {
    if (!local.count(mount.fstype) || mount.source == kPrivateSourceName) continue;
    if (own && own->major == mount.major && own->minor == mount.minor) continue;
    struct statvfs host {};
    if (::statvfs(mount.mountpoint.c_str(), &host) == 0 && same_totals(counts_of(host), target))
      found.push_back(mount.mountpoint);
  }
  return found;
}

// The first candidate whose free counts equal the target's in one of a few reads of both: a
// busy shared disk may change between the two reads, and three tries find a quiet moment.
std::optional<std::string> same_free_counts(const std::function<std::optional<StatfsCounts>()>& target_statfs,
                                            const std::vector<std::string>& candidates) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto target = target_statfs();
    if (!target) return std::nullopt;
    for (const auto& mountpoint : candidates) {
      struct statvfs host {};
      if (::statvfs(mountpoint.c_str(), &host) != 0) continue;
      auto seen = counts_of(host);
      if (same_totals(seen, *target) && seen.bfree == target->bfree && seen.ffree == target->ffree) return mountpoint;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> shared_filesystem_with(const std::function<std::optional<StatfsCounts>()>& target_statfs,
                                                  const std::string& target_root,
                                                  const std::function<bool(bool make)>& change_target) {
  auto first = target_statfs();
  if (!first || first->blocks == 0) return std::nullopt;
  auto candidates = candidates_with_totals(*first, target_root);
  auto shared = candidates.empty() ? std::nullopt : same_free_counts(target_statfs, candidates);
  if (!shared || !change_target(true)) return shared;
  // A filesystem that merely looks like the target stays as it was while the target changes.
  auto still = same_free_counts(target_statfs, {*shared});
  change_target(false);
  return still;
}

}  // namespace fusecheck
