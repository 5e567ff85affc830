// A FUSE mount's connection in /sys/fs/fuse/connections, and aborting it: every pending and
// future request fails with ENOTCONN, which ends even a request the daemon will never answer.
// Header-only like mountinfo.hpp (CMake target fusepp-mountinfo): the one home for the
// binding's ScopedMount and fusecheck-relay and for the harness.
#pragma once

#include <sys/mount.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "fusepp/mountinfo.hpp"

namespace fusepp {

// The connection's directory name: the kernel's internal encoding of the mount's device
// number (MKDEV: major << 20 | minor), which is not glibc's makedev() once major is not 0.
inline unsigned long connection_number(const MountEntry& mount) {
  return (static_cast<unsigned long>(mount.major) << 20) | mount.minor;
}

// The connection of the mount at `mountpoint`; empty while the path is not a mountpoint.
inline std::string connection_id(const std::filesystem::path& mountpoint) {
  auto mount = mount_at(mountpoint.string());
  return mount ? std::to_string(connection_number(*mount)) : std::string();
}

// Writes the connection's abort file, mounting fusectl on /sys/fs/fuse/connections first when
// nothing has (a container, or a machine without systemd): without it a deadlocked request
// could never end. False when it could not (not root, no such connection).
inline bool abort_connection(const std::string& connection) {
  if (connection.empty()) return false;
  const char* connections = "/sys/fs/fuse/connections";
  if (!mount_at(connections)) ::mount("fusectl", connections, "fusectl", 0, nullptr);
  // Appended, not std::string's operator+: GCC 12 warns falsely (-Wrestrict) on that chain.
  std::string path(connections);
  path.append("/").append(connection).append("/abort");
  std::ofstream abort(path);
  abort << "1";
  return static_cast<bool>(abort);
}

}  // namespace fusepp
