// memfs filesystem-wide operations: statfs with tmpfs's accounting (pages of data and long
// symlinks against size=, "inode space" of inodes, extra hard links and xattrs against
// nr_inodes=). An unlinked inode that nothing open keeps counts as free at once, as on tmpfs,
// even while the kernel's lookup count keeps its storage alive until FORGET (State::holds_space).
#include <algorithm>

#include "state.hpp"

namespace memfs {

fusepp::Reply<fusepp::StatvfsData> MemFs::statfs(const fusepp::RequestContext&) {
  State& state = *state_;
  std::lock_guard lock(state.mutex);
  fusepp::StatvfsData stat;
  stat.f_bsize = kPageSize;
  stat.f_frsize = kPageSize;
  stat.f_blocks = state.max_pages;
  // Saturating: an unlinked file reopened through /proc/PID/fd is charged again, which
  // can go past the limit.
  uint64_t pages = std::min(state.pages_in_use(), state.max_pages);
  uint64_t ispace = std::min(state.ispace_in_use(), state.max_ispace);
  stat.f_bfree = stat.f_bavail = state.max_pages - pages;
  stat.f_files = state.max_ispace / kInodeSpaceUnit;
  stat.f_ffree = stat.f_favail = (state.max_ispace - ispace) / kInodeSpaceUnit;
  stat.f_namemax = kNameMax;
  co_return stat;
}

}  // namespace memfs
