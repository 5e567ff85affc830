// fusecheck-memfs: mounts memfs on MOUNTPOINT and serves it in the foreground until
// SIGINT/SIGTERM or an external unmount. Options follow tmpfs (size=, nr_inodes=, mode=...)
// plus FUSE's cache timeouts; exit codes tell a harness exactly what went wrong.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "fusepp/mountinfo.hpp"
#include "memfs/memfs.hpp"
#include "memfs/mount_options.hpp"
#include "memfs/serve.hpp"

namespace {

enum ExitCode : int {
  kOk = 0,
  kMountFailed = 1,
  kUsage = 2,  // unknown option or bad value
  kMountpointMissing = 3,
  kMountpointNotDirectory = 4,
  kMountpointBusy = 5,  // something is already mounted there
};

constexpr const char* kUsageText =
    "usage: fusecheck-memfs MOUNTPOINT [-o opt[,opt...]] [--threads N] [--control SOCKET] [--debug]\n"
    "  memfs options: size=BYTES[k|m|g|%] nr_inodes=N[k|m|g] mode=OCTAL uid=N gid=N\n"
    "                 entry_timeout=SECONDS attr_timeout=SECONDS no_default_permissions\n"
    "                 writeback_cache (kernel-buffered writes, for speed), no_writeback_cache\n"
    "                 auto_inval_data (default), no_auto_inval_data\n"
    "                 readdirplus=on|off|auto\n"
    "                 unmount_keeps_lookup_counts (a bug on purpose, for a kernel scenario)\n"
    "  --control SOCKET: trace, fault rules, notifications and backend changes over a Unix\n"
    "                 socket (line-delimited JSON, docs/control-protocol.md)\n"
    "  passed to FUSE: default_permissions (on by default) allow_other allow_root fsname=\n"
    "                 subtype= ro rw nosuid suid nodev dev noexec exec sync async dirsync\n"
    "  atime policy, applied by memfs: relatime (default) atime strictatime noatime nodiratime\n"
    "                 diratime\n";

struct CommandLine {
  std::filesystem::path mountpoint;
  memfs::MountConfig mount{"memfs"};
  unsigned threads = 1;
  std::filesystem::path control_socket;  // empty: no control channel
};

using memfs::UsageError;

CommandLine parse_command_line(int argc, char** argv) {
  CommandLine cmd;
  bool have_mountpoint = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto next = [&]() -> std::string_view {
      if (i + 1 >= argc) throw UsageError(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "-o") {
      memfs::apply_mount_option_list(cmd.mount, next());
    } else if (arg == "--threads" || arg.starts_with("--threads=")) {
      std::string_view value = arg == "--threads" ? next() : arg.substr(strlen("--threads="));
      cmd.threads = memfs::parse_number<unsigned>(value, "--threads");
      if (cmd.threads == 0) throw UsageError("--threads must be at least 1");
    } else if (arg == "--control" || arg.starts_with("--control=")) {
      std::string_view value = arg == "--control" ? next() : arg.substr(strlen("--control="));
      if (value.empty()) throw UsageError("--control needs a socket path");
      cmd.control_socket = value;
    } else if (arg == "--debug" || arg == "-d") {
      cmd.mount.mount_options.insert("debug");
    } else if (arg == "-h" || arg == "--help") {
      std::cout << kUsageText;
      std::exit(kOk);
    } else if (arg.starts_with("-")) {
      throw UsageError("unknown argument '" + std::string(arg) + "'");
    } else if (!have_mountpoint) {
      cmd.mountpoint = arg;
      have_mountpoint = true;
    } else {
      throw UsageError("unexpected argument '" + std::string(arg) + "'");
    }
  }
  if (!have_mountpoint) throw UsageError("missing MOUNTPOINT");
  return cmd;
}

int check_mountpoint(const std::filesystem::path& mountpoint) {
  struct stat st;
  if (::stat(mountpoint.c_str(), &st) != 0) {
    int err = errno;
    std::cerr << "fusecheck-memfs: mountpoint " << mountpoint << ": " << std::strerror(err) << "\n";
    return err == ENOENT ? kMountpointMissing : kMountFailed;
  }
  if (!S_ISDIR(st.st_mode)) {
    std::cerr << "fusecheck-memfs: mountpoint " << mountpoint << " is not a directory\n";
    return kMountpointNotDirectory;
  }
  if (fusepp::mount_at(std::filesystem::canonical(mountpoint).string())) {
    std::cerr << "fusecheck-memfs: mountpoint " << mountpoint << " is busy: something is already mounted there\n";
    return kMountpointBusy;
  }
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine cmd;
  try {
    cmd = parse_command_line(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "fusecheck-memfs: " << e.what() << "\n" << kUsageText;
    return kUsage;
  }
  if (int code = check_mountpoint(cmd.mountpoint); code != kOk) return code;
  cmd.mount.fs.root_uid = cmd.mount.fs.root_uid ? cmd.mount.fs.root_uid : getuid();
  cmd.mount.fs.root_gid = cmd.mount.fs.root_gid ? cmd.mount.fs.root_gid : getgid();

  memfs::StopSignals stop_signals;  // before any thread starts
  memfs::MemFs fs(cmd.mount.fs);
  fs.readdirplus = cmd.mount.readdirplus;
  return memfs::serve_until_stopped(fs,
                                    {cmd.mountpoint, cmd.mount.mount_options, cmd.control_socket,
                                     fusepp::MainOptions{.threads = cmd.threads}, "fusecheck-memfs"},
                                    stop_signals) == 0
             ? kOk
             : kMountFailed;
}
