// memfs's mount options (-o size=...,mode=...,noatime,...) read into Options plus the option
// set handed to FUSE. The one parser behind fusecheck-memfs and its test variants, so both
// accept exactly the same options and reject bad ones with the same words.
#pragma once

#include <charconv>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

#include "memfs/memfs.hpp"

namespace memfs {

// A bad command line; what() is the one-line reason, without the program's name.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct MountConfig {
  explicit MountConfig(std::string_view fsname)
      // mountinfo then shows fsname as the source and "fuse.memfs" as the type.
      : mount_options{"default_permissions", "fsname=" + std::string(fsname), "subtype=memfs"} {}
  Options fs;
  std::set<std::string> mount_options;
  fusepp::Operations::Readdirplus readdirplus = fusepp::Operations::Readdirplus::on;
};

// One option ("size=1m", "noatime"); throws UsageError for an unknown option or bad value.
void apply_mount_option(MountConfig& config, std::string_view option);
// The argument of -o: options separated by commas, empty ones skipped.
void apply_mount_option_list(MountConfig& config, std::string_view list);

template <class T>
T parse_number(std::string_view text, std::string_view option, int base = 10) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw UsageError("invalid value for " + std::string(option) + ": '" + std::string(text) + "'");
  }
  return value;
}

}  // namespace memfs
