// Read-ahead of a mount above the kernel's 128 KiB default. FUSE's INIT can only lower it
// (the kernel keeps min(bdi read-ahead, INIT's max_readahead)); the mount's backing device
// (/sys/class/bdi/MAJOR:MINOR/read_ahead_kb, writable by root) can raise it.
#include <filesystem>
#include <fstream>

#include "fusepp/mountinfo.hpp"
#include "session_impl.hpp"

namespace fusepp {

bool raise_read_ahead(const std::filesystem::path& canonical_mountpoint, size_t bytes) {
  // Read from mountinfo, not stat(): a stat of the mountpoint would wait for this daemon.
  std::optional<MountEntry> mount = mount_at(canonical_mountpoint.string());
  if (!mount || mount->fstype.rfind("fuse", 0) != 0) return false;
  std::ofstream knob("/sys/class/bdi/" + std::to_string(mount->major) + ":" + std::to_string(mount->minor) +
                     "/read_ahead_kb");
  knob << bytes / 1024 << '\n';
  knob.flush();
  return knob.good();
}

}  // namespace fusepp
