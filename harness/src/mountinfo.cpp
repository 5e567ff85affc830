// Parsing /proc/self/mountinfo (see mountinfo.hpp). Field layout: proc(5), "mountinfo":
// id parent major:minor root mountpoint options [optional fields...] - fstype source super.
#include "fusecheck/mountinfo.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fusecheck {
namespace {

// The kernel escapes space, tab, newline and backslash in paths as \ooo (octal).
std::string unescape_octal(const std::string& field) {
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

std::optional<MountEntry> parse_line(const std::string& line) {
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

}  // namespace

std::vector<MountEntry> read_mountinfo(const std::string& file) {
  std::vector<MountEntry> mounts;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (auto entry = parse_line(line)) mounts.push_back(std::move(*entry));
  return mounts;
}

std::optional<MountEntry> mount_at(const std::string& path) {
  std::optional<MountEntry> found;
  for (auto& entry : read_mountinfo())
    if (entry.mountpoint == path) found = std::move(entry);  // the last one is on top
  return found;
}

std::optional<MountEntry> mount_holding(const std::string& path) {
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

}  // namespace fusecheck
