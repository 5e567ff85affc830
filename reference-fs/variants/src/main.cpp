// fusecheck-memfs-variant: a test fixture that mounts memfs with one named bug
// (memfs/variants.hpp) and serves it in the foreground until SIGINT/SIGTERM/SIGHUP or an
// external unmount. Never installed or used as a real filesystem.
#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "fusepp/session.hpp"
#include "memfs/variants.hpp"

namespace {

constexpr const char* kUsage =
    "usage: fusecheck-memfs-variant --bug NAME [-f] [-o opt[,opt...]] MOUNTPOINT\n"
    "       fusecheck-memfs-variant --list\n"
    "  memfs options: size= nr_inodes= mode= entry_timeout= attr_timeout= noatime strictatime\n"
    "                 relatime atime nodiratime no_default_permissions; others go to FUSE\n";

struct CommandLine {
  std::string bug;
  std::string mountpoint;
  memfs::Options fs;
  std::set<std::string> mount_options{"default_permissions", "fsname=memfs-variant", "subtype=memfs"};
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

uint64_t parse_count(std::string_view key, std::string_view value) {
  auto parsed = memfs::parse_size(value);
  if (!parsed || *parsed == 0) throw UsageError("invalid value for " + std::string(key));
  return *parsed;
}

// The memfs options conformance scenarios use; fusecheck-memfs documents each one.
void apply_option(CommandLine& cmd, const std::string& option) {
  auto eq = option.find('=');
  std::string key = option.substr(0, eq);
  std::string value = eq == std::string::npos ? "" : option.substr(eq + 1);
  if (key == "size") {
    cmd.fs.size_bytes = parse_count(key, value);
  } else if (key == "nr_inodes") {
    cmd.fs.max_inodes = parse_count(key, value);
  } else if (key == "mode") {
    cmd.fs.root_mode = static_cast<mode_t>(std::stoul(value, nullptr, 8)) & 07777;
  } else if (key == "entry_timeout" || key == "attr_timeout") {
    (key == "entry_timeout" ? cmd.fs.entry_timeout : cmd.fs.attr_timeout) = std::stod(value);
  } else if (key == "noatime" || key == "atime" || key == "relatime" || key == "strictatime") {
    cmd.fs.atime = key == "noatime"       ? memfs::AtimePolicy::noatime
                   : key == "strictatime" ? memfs::AtimePolicy::strictatime
                                          : memfs::AtimePolicy::relatime;
    if (key == "noatime" || key == "atime") cmd.mount_options.insert(key);
  } else if (key == "nodiratime" || key == "diratime") {
    cmd.fs.nodiratime = key == "nodiratime";
  } else if (key == "no_default_permissions") {
    cmd.mount_options.erase("default_permissions");
  } else {
    cmd.mount_options.insert(option);
  }
}

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
      std::stringstream list(next());
      for (std::string option; std::getline(list, option, ',');) {
        if (!option.empty()) apply_option(cmd, option);
      }
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
  cmd.fs.root_uid = getuid();
  cmd.fs.root_gid = getgid();
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop_signals, signal);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto fs = memfs::variants::make(cmd.bug, cmd.fs);
  std::unique_ptr<fusepp::Session> session;
  try {
    session = std::make_unique<fusepp::Session>(*fs, cmd.mountpoint, cmd.mount_options);
  } catch (const std::exception& e) {
    std::cerr << "fusecheck-memfs-variant: cannot mount " << cmd.mountpoint << ": " << e.what() << "\n";
    return 1;
  }
  std::atomic<bool> served{false};
  std::thread signal_thread([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    if (!served) session->terminate();
  });
  int code = 0;
  try {
    session->main();
  } catch (const std::exception& e) {
    std::cerr << "fusecheck-memfs-variant: " << e.what() << "\n";
    code = 1;
  }
  served = true;
  pthread_kill(signal_thread.native_handle(), SIGTERM);  // wakes sigwait() after an external unmount
  signal_thread.join();
  session->close(true);
  return code;
}
