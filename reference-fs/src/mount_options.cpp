// memfs's mount option parser (memfs/mount_options.hpp): tmpfs's options and FUSE's cache
// timeouts go to Options, atime flags to both (memfs keeps atime itself), and a fixed list of
// FUSE's own options passes through to the mount.
#include "memfs/mount_options.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <sstream>

namespace memfs {
namespace {

double parse_seconds(std::string_view text, std::string_view option) {
  std::string copy(text);
  char* end = nullptr;
  double value = std::strtod(copy.c_str(), &end);
  if (copy.empty() || *end != '\0' || !(value >= 0)) {
    throw UsageError("invalid value for " + std::string(option) + ": '" + copy + "'");
  }
  return value;
}

// The kernel never tells a FUSE daemon its mount's atime flags, and memfs keeps atime
// itself, so memfs applies them. libfuse passes only noatime and atime on to the mount.
void apply_atime_option(MountConfig& config, std::string_view key) {
  config.fs.atime = key == "noatime"       ? AtimePolicy::noatime
                    : key == "strictatime" ? AtimePolicy::strictatime
                                           : AtimePolicy::relatime;
  config.mount_options.erase("noatime");
  config.mount_options.erase("atime");
  if (key == "noatime" || key == "atime") config.mount_options.insert(std::string(key));
}

void apply_readdirplus_option(MountConfig& config, std::string_view value) {
  using Mode = fusepp::Operations::Readdirplus;
  if (value == "on")
    config.readdirplus = Mode::on;
  else if (value == "off")
    config.readdirplus = Mode::off;
  else if (value == "auto")
    config.readdirplus = Mode::automatic;
  else
    throw UsageError("invalid value for readdirplus: '" + std::string(value) + "' (on, off or auto)");
}

// The options that take a value and only set a field of Options; false if key is none of them.
bool apply_valued_option(MountConfig& config, std::string_view key, std::string_view value) {
  if (key == "size") {
    auto bytes = parse_size(value);
    if (!bytes || *bytes == 0) throw UsageError("invalid value for size: '" + std::string(value) + "'");
    config.fs.size_bytes = *bytes;
  } else if (key == "nr_inodes") {
    auto count = parse_size(value);
    if (!count || *count == 0 || value.back() == '%') {
      throw UsageError("invalid value for nr_inodes: '" + std::string(value) + "'");
    }
    config.fs.max_inodes = *count;
  } else if (key == "mode") {
    config.fs.root_mode = parse_number<mode_t>(value, key, 8) & 07777;
  } else if (key == "uid") {
    config.fs.root_uid = parse_number<uid_t>(value, key);
  } else if (key == "gid") {
    config.fs.root_gid = parse_number<gid_t>(value, key);
  } else if (key == "entry_timeout" || key == "attr_timeout") {
    (key == "entry_timeout" ? config.fs.entry_timeout : config.fs.attr_timeout) = parse_seconds(value, key);
  } else if (key == "readdirplus") {
    apply_readdirplus_option(config, value);
  } else {
    return false;
  }
  return true;
}

}  // namespace

void apply_mount_option(MountConfig& config, std::string_view option) {
  static const std::set<std::string_view> valued{"size", "nr_inodes",     "mode",         "uid",
                                                 "gid",  "entry_timeout", "attr_timeout", "readdirplus"};
  static const std::set<std::string_view> passthrough{
      "allow_other", "allow_root", "ro",   "rw",   "nosuid", "suid",    "nodev",
      "dev",         "noexec",     "exec", "sync", "async",  "dirsync", "default_permissions"};
  auto eq = option.find('=');
  std::string_view key = option.substr(0, eq);
  std::string_view value = eq == std::string_view::npos ? std::string_view{} : option.substr(eq + 1);
  bool has_value = eq != std::string_view::npos;
  if (valued.count(key)) {
    if (!has_value || value.empty()) throw UsageError("option " + std::string(key) + " needs a value");
    apply_valued_option(config, key, value);
  } else if ((key == "noatime" || key == "strictatime" || key == "relatime" || key == "atime") && !has_value) {
    apply_atime_option(config, key);
  } else if ((key == "nodiratime" || key == "diratime") && !has_value) {
    config.fs.nodiratime = key == "nodiratime";
  } else if ((key == "writeback_cache" || key == "no_writeback_cache") && !has_value) {
    config.fs.writeback_cache = key == "writeback_cache";  // the last one given wins
  } else if ((key == "auto_inval_data" || key == "no_auto_inval_data") && !has_value) {
    config.fs.auto_inval_data = key == "auto_inval_data";
  } else if (key == "unmount_keeps_lookup_counts" && !has_value) {
    config.fs.unmount_keeps_lookup_counts = true;
  } else if (key == "coarse_clock" && !has_value) {
    config.fs.coarse_clock = true;
  } else if (key == "no_default_permissions" && !has_value) {
    config.mount_options.erase("default_permissions");
  } else if ((key == "fsname" || key == "subtype") && has_value) {
    std::erase_if(config.mount_options, [&](const std::string& o) { return o.starts_with(std::string(key) + "="); });
    config.mount_options.insert(std::string(option));
  } else if (passthrough.count(key) && !has_value) {
    config.mount_options.insert(std::string(key));
  } else {
    throw UsageError("unknown mount option '" + std::string(option) + "'");
  }
}

void apply_mount_option_list(MountConfig& config, std::string_view list) {
  std::stringstream options{std::string(list)};
  for (std::string option; std::getline(options, option, ',');) {
    if (!option.empty()) apply_mount_option(config, option);
  }
}

}  // namespace memfs
