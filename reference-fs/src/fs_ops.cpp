// memfs filesystem-wide operations: statfs with tmpfs's accounting (pages of data and long
// symlinks against size=, "inode space" of inodes, extra hard links and xattrs against
// nr_inodes=).
#include "state.hpp"

namespace memfs {

fusepp::Reply<fusepp::StatvfsData> MemFs::statfs(const fusepp::RequestContext&) {
  State& state = *state_;
  std::lock_guard lock(state.mutex);
  fusepp::StatvfsData stat;
  stat.f_bsize = kPageSize;
  stat.f_frsize = kPageSize;
  stat.f_blocks = state.max_pages;
  stat.f_bfree = stat.f_bavail = state.max_pages - state.used_pages;
  stat.f_files = state.max_ispace / kInodeSpaceUnit;
  stat.f_ffree = stat.f_favail = (state.max_ispace - state.used_ispace) / kInodeSpaceUnit;
  stat.f_namemax = kNameMax;
  co_return stat;
}

}  // namespace memfs
