// fusecheck-memfs-variant: a test fixture that mounts memfs with one named bug
// (memfs/variants.hpp) and serves it in the foreground until SIGINT/SIGTERM/SIGHUP or an
// external unmount. Never installed or used as a real filesystem.

#include <iostream>
#include <string>

#include "memfs/mount_options.hpp"
#include "memfs/serve.hpp"
#include "memfs/variants.hpp"

namespace {

constexpr const char* kUsage =
    "usage: fusecheck-memfs-variant --bug NAME [-f] [-o opt[,opt...]] [--control SOCKET] MOUNTPOINT\n"
    "       fusecheck-memfs-variant --list\n"
    "  -o: the mount options of fusecheck-memfs (see fusecheck-memfs --help)\n"
    "  --control SOCKET: the control channel, as fusecheck-memfs offers it\n";

struct CommandLine {
  std::string bug;
  std::string mountpoint;
  memfs::MountConfig mount{"memfs-variant"};
  std::string control_socket;  // empty: none
};

using memfs::UsageError;

CommandLine parse_command_line(int argc, char** argv) {
  CommandLine cmd;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) throw UsageError(arg + " needs a value");
      return std::string(argv[++i]);
    };
    if (arg == "--list") {
      for (const auto& variant : memfs::variants::all()) {
        std::cout << variant.name << "\t" << variant.bug_class << "\t" << variant.bug << "\n";
      }
      std::exit(0);
    } else if (arg == "--bug") {
      cmd.bug = next();
    } else if (arg == "-o") {
      memfs::apply_mount_option_list(cmd.mount, next());
    } else if (arg == "--control") {
      cmd.control_socket = next();
    } else if (arg == "-f") {
      // always in the foreground
    } else if (arg.starts_with("-") || !cmd.mountpoint.empty()) {
      throw UsageError("unexpected argument '" + arg + "'");
    } else {
      cmd.mountpoint = arg;
    }
  }
  if (cmd.bug.empty() || cmd.mountpoint.empty()) throw UsageError("--bug NAME and MOUNTPOINT are required");
  if (!memfs::variants::find(cmd.bug)) throw UsageError("unknown variant '" + cmd.bug + "' (see --list)");
  return cmd;
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine cmd;
  try {
    cmd = parse_command_line(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "fusecheck-memfs-variant: " << e.what() << "\n" << kUsage;
    return 2;
  }
  cmd.mount.fs.root_uid = cmd.mount.fs.root_uid ? cmd.mount.fs.root_uid : getuid();
  cmd.mount.fs.root_gid = cmd.mount.fs.root_gid ? cmd.mount.fs.root_gid : getgid();
  memfs::StopSignals stop_signals;  // before any thread starts

  auto fs = memfs::variants::make(cmd.bug, cmd.mount.fs);
  fs->readdirplus = cmd.mount.readdirplus;
  return memfs::serve_until_stopped(
      *fs, {cmd.mountpoint, cmd.mount.mount_options, cmd.control_socket, {}, "fusecheck-memfs-variant"}, stop_signals);
}
