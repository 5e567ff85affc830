// Private to the binding: a FUSE mount's connection in /sys/fs/fuse/connections, found through
// /proc/self/mountinfo, and aborting it: every pending and future request fails with ENOTCONN,
// which ends even a request the daemon will never answer. For ScopedMount and fusecheck-relay.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "fusepp/mountinfo.hpp"

namespace fusepp {

// The FUSE connection of the mount at mountpoint (its directory in /sys/fs/fuse/connections
// is the kernel's internal encoding of the mount's device number); empty while the path is
// not a mountpoint.
inline std::string connection_id(const std::filesystem::path& mountpoint) {
  auto mount = mount_at(mountpoint.string());
  if (!mount) return {};
  return std::to_string((mount->major << 20) | mount->minor);
}

inline void abort_connection(const std::string& connection) {
  if (connection.empty()) return;
  std::ofstream abort("/sys/fs/fuse/connections/" + connection + "/abort");
  abort << "1";
}

}  // namespace fusepp
