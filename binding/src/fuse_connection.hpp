// Private to the binding: a FUSE mount's connection in /sys/fs/fuse/connections, found through
// /proc/self/mountinfo, and aborting it: every pending and future request fails with ENOTCONN,
// which ends even a request the daemon will never answer. For ScopedMount and fusecheck-relay.
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace fusepp {

// The kernel's device number of the mount ("major:minor" in mountinfo), which names its
// directory in /sys/fs/fuse/connections; empty while the path is not a mountpoint.
inline std::string mount_device(const std::filesystem::path& mountpoint) {
  std::ifstream info("/proc/self/mountinfo");
  std::string line;
  while (std::getline(info, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point;
    fields >> id >> parent >> dev >> root >> point;
    if (point == mountpoint.string()) return dev;
  }
  return {};
}

inline std::string connection_id(const std::string& dev) {
  unsigned major = 0, minor = 0;
  if (std::sscanf(dev.c_str(), "%u:%u", &major, &minor) != 2) return {};
  return std::to_string((major << 20) | minor);  // the kernel's internal dev_t encoding
}

inline void abort_connection(const std::string& connection) {
  if (connection.empty()) return;
  std::ofstream abort("/sys/fs/fuse/connections/" + connection + "/abort");
  abort << "1";
}

}  // namespace fusepp
