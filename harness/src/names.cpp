// Flag and errno name tables for scenarios and the actor (see names.hpp). Values come
// from the system headers at build time, so they are right for the kernel we run on.
#include "fusecheck/names.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/file.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace fusecheck {
namespace {

struct NamedFlag {
  std::string_view name;
  long value;
};

const std::vector<NamedFlag>& table(FlagFamily family) {
  static const std::vector<NamedFlag> open_flags = {
      {"O_RDONLY", O_RDONLY},       {"O_WRONLY", O_WRONLY},     {"O_RDWR", O_RDWR},     {"O_CREAT", O_CREAT},
      {"O_EXCL", O_EXCL},           {"O_TRUNC", O_TRUNC},       {"O_APPEND", O_APPEND}, {"O_NOFOLLOW", O_NOFOLLOW},
      {"O_DIRECTORY", O_DIRECTORY}, {"O_NONBLOCK", O_NONBLOCK}, {"O_SYNC", O_SYNC},     {"O_DSYNC", O_DSYNC},
      {"O_NOATIME", O_NOATIME},     {"O_CLOEXEC", O_CLOEXEC},   {"O_PATH", O_PATH},     {"O_TMPFILE", O_TMPFILE},
      {"O_NOCTTY", O_NOCTTY},       {"O_DIRECT", O_DIRECT},
  };
  static const std::vector<NamedFlag> at_flags = {
      {"AT_SYMLINK_NOFOLLOW", AT_SYMLINK_NOFOLLOW},
      {"AT_EACCESS", AT_EACCESS},
      {"AT_EMPTY_PATH", AT_EMPTY_PATH},
      {"AT_SYMLINK_FOLLOW", AT_SYMLINK_FOLLOW},
      {"AT_STATX_FORCE_SYNC", AT_STATX_FORCE_SYNC},
      {"AT_STATX_DONT_SYNC", AT_STATX_DONT_SYNC},
  };
  static const std::vector<NamedFlag> rename_flags = {
      {"RENAME_NOREPLACE", RENAME_NOREPLACE},
      {"RENAME_EXCHANGE", RENAME_EXCHANGE},
      {"RENAME_WHITEOUT", RENAME_WHITEOUT},
  };
  static const std::vector<NamedFlag> xattr_flags = {
      {"XATTR_CREATE", XATTR_CREATE},
      {"XATTR_REPLACE", XATTR_REPLACE},
  };
  static const std::vector<NamedFlag> fallocate_flags = {
      {"FALLOC_FL_KEEP_SIZE", FALLOC_FL_KEEP_SIZE},       {"FALLOC_FL_PUNCH_HOLE", FALLOC_FL_PUNCH_HOLE},
      {"FALLOC_FL_ZERO_RANGE", FALLOC_FL_ZERO_RANGE},     {"FALLOC_FL_COLLAPSE_RANGE", FALLOC_FL_COLLAPSE_RANGE},
      {"FALLOC_FL_INSERT_RANGE", FALLOC_FL_INSERT_RANGE},
  };
  static const std::vector<NamedFlag> access_flags = {{"F_OK", F_OK}, {"R_OK", R_OK}, {"W_OK", W_OK}, {"X_OK", X_OK}};
  static const std::vector<NamedFlag> whence_flags = {
      {"SEEK_SET", SEEK_SET},   {"SEEK_CUR", SEEK_CUR},   {"SEEK_END", SEEK_END},
      {"SEEK_DATA", SEEK_DATA}, {"SEEK_HOLE", SEEK_HOLE},
  };
  static const std::vector<NamedFlag> prot_flags = {
      {"PROT_NONE", PROT_NONE}, {"PROT_READ", PROT_READ}, {"PROT_WRITE", PROT_WRITE}, {"PROT_EXEC", PROT_EXEC}};
  static const std::vector<NamedFlag> map_flags = {{"MAP_SHARED", MAP_SHARED},
                                                   {"MAP_PRIVATE", MAP_PRIVATE},
                                                   {"MAP_SHARED_VALIDATE", MAP_SHARED_VALIDATE},
                                                   {"MAP_POPULATE", MAP_POPULATE},
                                                   {"MAP_NORESERVE", MAP_NORESERVE}};
  static const std::vector<NamedFlag> msync_flags = {
      {"MS_ASYNC", MS_ASYNC}, {"MS_SYNC", MS_SYNC}, {"MS_INVALIDATE", MS_INVALIDATE}};
  static const std::vector<NamedFlag> flock_ops = {
      {"LOCK_SH", LOCK_SH}, {"LOCK_EX", LOCK_EX}, {"LOCK_UN", LOCK_UN}, {"LOCK_NB", LOCK_NB}};
  static const std::vector<NamedFlag> inode_flags = {
      {"FS_APPEND_FL", FS_APPEND_FL},   {"FS_IMMUTABLE_FL", FS_IMMUTABLE_FL}, {"FS_NODUMP_FL", FS_NODUMP_FL},
      {"FS_NOATIME_FL", FS_NOATIME_FL}, {"FS_SYNC_FL", FS_SYNC_FL},           {"FS_COMPR_FL", FS_COMPR_FL},
      {"FS_NOCOW_FL", FS_NOCOW_FL},     {"FS_DIRSYNC_FL", FS_DIRSYNC_FL}};
  switch (family) {
    case FlagFamily::open: return open_flags;
    case FlagFamily::at: return at_flags;
    case FlagFamily::rename: return rename_flags;
    case FlagFamily::xattr: return xattr_flags;
    case FlagFamily::fallocate: return fallocate_flags;
    case FlagFamily::access: return access_flags;
    case FlagFamily::whence: return whence_flags;
    case FlagFamily::prot: return prot_flags;
    case FlagFamily::map: return map_flags;
    case FlagFamily::msync: return msync_flags;
    case FlagFamily::flock: return flock_ops;
    case FlagFamily::inode: return inode_flags;
  }
  return open_flags;
}

}  // namespace

std::optional<long> flag_value(FlagFamily family, std::string_view name) {
  for (const auto& flag : table(family))
    if (flag.name == name) return flag.value;
  return std::nullopt;
}

std::vector<std::string> flag_names(FlagFamily family) {
  std::vector<std::string> names;
  for (const auto& flag : table(family)) names.emplace_back(flag.name);
  return names;
}

std::string_view family_name(FlagFamily family) {
  switch (family) {
    case FlagFamily::open: return "open flag";
    case FlagFamily::at: return "AT_* flag";
    case FlagFamily::rename: return "rename flag";
    case FlagFamily::xattr: return "xattr flag";
    case FlagFamily::fallocate: return "fallocate mode";
    case FlagFamily::access: return "access mode";
    case FlagFamily::whence: return "whence";
    case FlagFamily::prot: return "PROT_* flag";
    case FlagFamily::map: return "MAP_* flag";
    case FlagFamily::msync: return "msync flag";
    case FlagFamily::flock: return "flock operation";
    case FlagFamily::inode: return "FS_*_FL inode flag";
  }
  return "flag";
}

std::optional<int> errno_from_name(std::string_view name) {
  // glibc knows the names; scanning its range once per lookup is cheap next to a syscall.
  for (int err = 1; err < 200; ++err) {
    const char* known = strerrorname_np(err);
    if (known != nullptr && name == known) return err;
  }
  if (name == "ENOTSUP") return ENOTSUP;
  return std::nullopt;
}

std::string errno_name(int err) {
  const char* known = strerrorname_np(err);
  return known != nullptr ? std::string(known) : "errno " + std::to_string(err);
}

std::optional<int> signal_from_name(std::string_view name) {
  if (name.substr(0, 3) != "SIG") return std::nullopt;
  for (int signal = 1; signal < NSIG; ++signal) {
    const char* known = sigabbrev_np(signal);
    if (known != nullptr && name.substr(3) == known) return signal;
  }
  return std::nullopt;
}

std::string signal_name(int signal) {
  const char* known = sigabbrev_np(signal);
  return known != nullptr ? "SIG" + std::string(known) : "signal " + std::to_string(signal);
}

}  // namespace fusecheck
