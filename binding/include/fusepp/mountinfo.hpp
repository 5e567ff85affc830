// /proc/self/mountinfo, parsed in one place for every layer (fusepp's ScopedMount, memfs,
// the harness, fuzz, benchmarks, tests): which mounts exist, their device, type and
// superblock options. Header-only (CMake target fusepp-mountinfo), so the harness uses it
// without linking fusepp. Paths come back unescaped (the kernel writes ' ' as \040).
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace fusepp {

struct MountEntry {
  unsigned major = 0, minor = 0;  // st_dev of the mount's root
  std::string root;               // the subtree of the filesystem mounted here
  std::string mountpoint;
  std::string fstype;  // "tmpfs", "fuse.memfs", ...
  std::string source;
  std::string super_options;  // "rw,user_id=0,allow_other"
};

namespace mountinfo_detail {

// The kernel escapes space, tab, newline and backslash in paths as \ooo (octal).
inline std::string unescape_octal(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    auto is_octal = [&](size_t at) { return field[at] >= '0' && field[at] <= '7'; };
    bool octal = field[i] == '\\' && i + 3 < field.size() && is_octal(i + 1) && is_octal(i + 2) && is_octal(i + 3);
    if (octal) {
      out += static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

// Field layout, proc(5) "mountinfo":
// id parent major:minor root mountpoint options [optional fields...] - fstype source super.
inline std::optional<MountEntry> parse_line(const std::string& line) {
  std::istringstream fields(line);
  std::string id, parent, devno, root, mountpoint, options, word;
  if (!(fields >> id >> parent >> devno >> root >> mountpoint >> options)) return std::nullopt;
  MountEntry entry;
  if (std::sscanf(devno.c_str(), "%u:%u", &entry.major, &entry.minor) != 2) return std::nullopt;
  entry.root = unescape_octal(root);
  entry.mountpoint = unescape_octal(mountpoint);
  while (fields >> word && word != "-") {
  }
  fields >> entry.fstype >> entry.source >> entry.super_options;
  entry.source = unescape_octal(entry.source);
  return entry;
}

}  // namespace mountinfo_detail

// Every line, in the kernel's order (later lines are mounted on top of earlier ones).
inline std::vector<MountEntry> read_mountinfo(const std::string& file = "/proc/self/mountinfo") {
  std::vector<MountEntry> mounts;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (auto entry = mountinfo_detail::parse_line(line)) mounts.push_back(std::move(*entry));
  return mounts;
}

// The mount whose mountpoint is exactly `path` (the top one if several are stacked).
inline std::optional<MountEntry> mount_at(const std::string& path) {
  std::optional<MountEntry> found;
  for (auto& entry : read_mountinfo())
    if (entry.mountpoint == path) found = std::move(entry);  // the last one is on top
  return found;
}

// The mount that holds `path`: the longest mountpoint that is `path` or one of its parents.
inline std::optional<MountEntry> mount_holding(const std::string& path) {
  std::error_code ec;
  std::string canonical = std::filesystem::weakly_canonical(path, ec).string();
  if (ec) canonical = path;
  std::optional<MountEntry> best;
  for (auto& entry : read_mountinfo()) {
    const std::string& point = entry.mountpoint;
    bool holds = canonical == point || point == "/" ||
                 (canonical.rfind(point, 0) == 0 && canonical.size() > point.size() && canonical[point.size()] == '/');
    if (holds && (!best || point.size() >= best->mountpoint.size())) best = std::move(entry);
  }
  return best;
}

}  // namespace fusepp
