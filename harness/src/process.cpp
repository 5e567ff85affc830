// Process helpers (see process.hpp), read from /proc.
#include "process.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fusecheck {
namespace {

// The fields of /proc/PID/stat after the command name (which may hold spaces and parens).
std::vector<std::string> stat_fields(int pid) {
  std::vector<std::string> fields;
  if (pid <= 0) return fields;
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = content.rfind(')');
  if (close == std::string::npos || close + 2 > content.size()) return fields;
  std::istringstream words(content.substr(close + 2));
  for (std::string word; words >> word;) fields.push_back(word);
  return fields;  // fields[0] is field 3 (state)
}

}  // namespace

unsigned long long process_start_time(int pid) {
  auto fields = stat_fields(pid);
  return fields.size() > 19 ? std::stoull(fields[19]) : 0;
}

bool process_alive(int pid, unsigned long long start) {
  auto fields = stat_fields(pid);
  if (fields.size() <= 19) return false;
  if (fields[0] == "Z" || fields[0] == "X") return false;
  return std::stoull(fields[19]) == start;
}

long process_uid(int pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("Uid:", 0) == 0) return std::stol(line.substr(4));
  return -1;
}

std::string process_program(int pid) {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink(fmt::format("/proc/{}/exe", pid), ec);
  if (ec) return "";
  std::string name = exe.filename().string();
  // A program replaced on disk while it runs shows as "NAME (deleted)".
  if (auto deleted = name.rfind(" (deleted)"); deleted != std::string::npos && deleted + 10 == name.size())
    name.resize(deleted);
  return name;
}

}  // namespace fusecheck
