// fusecheck::data_dir() and helper_executable(): the scenarios and expectations directory
// and fusecheck's own executables, relative to the running executable (see data_dir.hpp).
#include "fusecheck/data_dir.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

namespace fusecheck {

std::string executable_dir() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

std::string data_dir() {
  if (const char* env = std::getenv("FUSECHECK_DATA_DIR"); env && *env) return env;
  return (std::filesystem::path(executable_dir()) / ".." / "share" / "fusecheck").lexically_normal().string();
}

std::string helper_executable(const std::string& name) {
  std::filesystem::path beside = std::filesystem::path(executable_dir()) / name;
  if (::access(beside.c_str(), X_OK) == 0) return beside.string();
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  for (size_t start = 0; start <= dirs.size();) {
    size_t end = std::min(dirs.find(':', start), dirs.size());
    std::filesystem::path candidate = std::filesystem::path(dirs.substr(start, end - start)) / name;
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return beside.string();
}

}  // namespace fusecheck
