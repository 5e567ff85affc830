// FUSE mounts the harness owns (see fuse_mount.hpp): start, readiness from mountinfo,
// health, and teardown (unmount; the daemon's own exit; SIGTERM; SIGKILL; abort + detach).
#include "fuse_mount.hpp"

#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>  // before Boost.Process/Asio headers (Boost 1.74's process needs it first)
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <deque>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <thread>

#include "fusecheck/actor.hpp"
#include "fusecheck/deadlines.hpp"
#include "fusepp/fuse_connection.hpp"
#include "fusepp/mountinfo.hpp"
#include "fusecheck/state.hpp"
#include "statfs_probe.hpp"

namespace bp = boost::process;
namespace fs = std::filesystem;

namespace fusecheck {
namespace {

template <typename Done>
bool wait_until(Done done, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace

FuseMount::FuseMount(const TargetSpec& spec) : Mount(spec) {}

int FuseMount::daemon_pid() const { return daemon_ ? daemon_->id() : -1; }

void FuseMount::make_layout() {
  char templ[] = "/tmp/fusecheck-XXXXXX";
  if (::mkdtemp(templ) == nullptr) throw HarnessError(fmt::format("cannot create a temp dir: {}", strerror(errno)));
  layout_.tmpdir = templ;
  ::chmod(templ, 0755);  // actors with other uids must traverse it to reach the mount
  layout_.mountpoint = layout_.tmpdir + "/mnt";
  layout_.source = layout_.tmpdir + "/src";
  layout_.log = layout_.tmpdir + "/daemon.log";
  layout_.control = layout_.tmpdir + "/control.sock";
  ::mkdir(layout_.mountpoint.c_str(), 0755);
  ::mkdir(layout_.source.c_str(), 0755);
  root_ = layout_.mountpoint;
  if (spec_.driver && spec_.driver->uses_source()) make_source();
}

// {src}: by default a fresh private tmpfs, so that a passthrough daemon's statfs counts and
// semantics are its own and tmpfs's, not those of a disk every process on the machine uses.
// --src-dir makes it a directory there instead; without root (no tmpfs) it stays in /tmp.
// Either way the statfs probe decides whether the counts are the target's own.
void FuseMount::make_source() {
  if (!spec_.source_parent.empty()) {
    std::string templ = spec_.source_parent + "/fusecheck-src-XXXXXX";
    std::vector<char> buffer(templ.begin(), templ.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) == nullptr)
      throw HarnessError(
          fmt::format("--src-dir {}: cannot make a directory there: {}", spec_.source_parent, strerror(errno)),
          exit_code::usage);
    layout_.source = buffer.data();
    ::chmod(layout_.source.c_str(), 0755);
    return;
  }
  // 256 MiB like the conformance tmpfs; a fixed inode count keeps ffree exact and tells this
  // tmpfs's totals apart from the machine's other tmpfs mounts.
  layout_.source_is_tmpfs = ::mount(kPrivateSourceName, layout_.source.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                                    "size=256m,nr_inodes=65536,mode=0755") == 0;
}

void FuseMount::remove_source() {
  std::error_code ec;
  if (layout_.source_is_tmpfs) layout_.source_is_tmpfs = ::umount2(layout_.source.c_str(), MNT_DETACH) != 0;
  if (!spec_.source_parent.empty()) fs::remove_all(layout_.source, ec);
}

std::string FuseMount::mount_options(const std::vector<std::string>& extra) const {
  std::vector<std::string> all;
  if (::geteuid() == 0) all.push_back("allow_other");  // actors of other uids reach the mount
  all.insert(all.end(), extra.begin(), extra.end());
  return fmt::format("{}", fmt::join(all, ","));
}

void FuseMount::launch(const DaemonCommand& command) {
  // Record before starting, so that even a SIGKILL while waiting leaves a trace.
  StateRecord::instance().add(layout_.mountpoint, layout_.tmpdir, 0, 0);
  try {
    std::lock_guard lock(spawn_mutex());
    daemon_ = std::make_unique<bp::child>(
        command.program, bp::args(command.argv), (bp::std_out & bp::std_err) > layout_.log, bp::std_in < bp::null,
        bp::extend::on_exec_setup([](auto&) {
          reset_signals_for_child();
          ::setpgid(0, 0);  // a terminal's Ctrl-C reaches the harness, which unmounts in order
          ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        }));
  } catch (const std::exception& error) {
    throw HarnessError(fmt::format("cannot start {}: {}", command.program, error.what()));
  }
  StateRecord::instance().add(layout_.mountpoint, layout_.tmpdir, daemon_->id(), 0);
}

std::string FuseMount::exit_description() const {
  int status = daemon_->native_exit_code();
  std::string hint =
      WIFEXITED(status) && WEXITSTATUS(status) == 0 ? " (the daemon must stay in the foreground: give it -f)" : "";
  return describe_wait_status(status) + hint;
}

void FuseMount::wait_until_mounted(std::chrono::milliseconds ready_timeout) {
  auto deadline = std::chrono::steady_clock::now() + ready_timeout;
  for (;;) {
    if (auto entry = fusepp::mount_at(layout_.mountpoint)) {
      conn_ = static_cast<unsigned>(fusepp::connection_number(*entry));
      device_ = makedev(entry->major, entry->minor);
      break;
    }
    std::error_code ec;
    if (!daemon_->running(ec))
      throw HarnessError(fmt::format("{} {} before mounting {}; its output:\n{}", spec_.text, exit_description(),
                                     layout_.mountpoint, daemon_log_tail()));
    if (std::chrono::steady_clock::now() > deadline)
      throw HarnessError(fmt::format("{} did not mount {} within {} s; its output:\n{}", spec_.text, layout_.mountpoint,
                                     deadline::seconds(ready_timeout), daemon_log_tail()));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  StateRecord::instance().add(layout_.mountpoint, layout_.tmpdir, daemon_->id(), conn_);
}

void FuseMount::read_mount_features() {
  bool root = ::geteuid() == 0;
  auto entry = fusepp::mount_at(layout_.mountpoint);
  std::string super = "," + (entry ? entry->super_options : "") + ",";
  features_.set("root", root, "the harness does not run as root");
  features_.set("fuse", true);
  features_.set("mount_options", true);
  features_.set("other_users", super.find(",allow_other,") != std::string::npos && root,
                root ? "the FUSE mount lacks allow_other" : "the harness does not run as root");
  features_.set("default_permissions", super.find(",default_permissions,") != std::string::npos,
                "the FUSE mount lacks default_permissions (the daemon checks permissions itself)");
  features_.set("exclusive_statfs", true);
}

std::optional<std::string> FuseMount::trouble() {
  std::error_code ec;
  if (aborted_) return fmt::format("the harness aborted FUSE connection {}: {}", conn_, abort_reason_);
  if (daemon_ && !daemon_->running(ec)) {
    int status = daemon_->native_exit_code();
    std::string hint = WIFEXITED(status) && WEXITSTATUS(status) == 0
                           ? " (if it went to the background, run it in the foreground: -f)"
                           : "";
    return fmt::format("the filesystem daemon {}{}; its output ends:\n{}", describe_wait_status(status), hint,
                       daemon_log_tail());
  }
  if (!fusepp::mount_at(layout_.mountpoint))
    return fmt::format("the mount at {} disappeared; the daemon's output ends:\n{}", layout_.mountpoint,
                       daemon_log_tail());
  return std::nullopt;
}

bool FuseMount::daemon_running() const {
  std::error_code ec;
  return daemon_ && daemon_->running(ec);
}

void FuseMount::abort_connection(const std::string& why) {
  if (aborted_) return;
  aborted_ = true;
  abort_reason_ = why;
  if (conn_ != 0) fusepp::abort_connection(std::to_string(conn_));
}

std::string FuseMount::daemon_log_tail(size_t lines) const {
  std::ifstream in(layout_.log);
  std::deque<std::string> tail;
  for (std::string line; std::getline(in, line);) {
    tail.push_back(line);
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out;
  for (const auto& kept : tail) out += "    | " + kept + "\n";
  return out.empty() ? "    | (no output)\n" : out;
}

bool FuseMount::remount(bool daemon_mounts_again) {
  if (::umount2(layout_.mountpoint.c_str(), 0) != 0)
    throw HarnessError(fmt::format("cannot unmount {} to mount it again: {} (a process still uses the mount)",
                                   layout_.mountpoint, strerror(errno)));
  if (!daemon_mounts_again) {
    stop_daemon();
    daemon_->detach();  // reaped by stop_daemon
    launch(command_);
  }
  wait_until_mounted(deadline::mount_ready);
  return !daemon_mounts_again;
}

void FuseMount::unmount() {
  if (!fusepp::mount_at(layout_.mountpoint)) return;
  if (aborted_ || !daemon_running()) {
    ::umount2(layout_.mountpoint.c_str(), MNT_DETACH);
  } else if (::umount2(layout_.mountpoint.c_str(), 0) != 0) {
    // Busy (a stuck process) or not answering: abort, then detach.
    abort_connection("unmount failed");
    ::umount2(layout_.mountpoint.c_str(), MNT_DETACH);
  }
}

// The daemon leads its own process group (setpgid in launch()): signals go to the group, so
// a wrapper script's children (a `sleep`, a helper) end with it, and whatever of the group
// outlives the daemon is killed once it is gone.
void FuseMount::stop_daemon() {
  if (!daemon_) return;
  pid_t group = daemon_->id();
  auto gone = [this] { return !daemon_running(); };
  if (!wait_until(gone, deadline::daemon_exit)) {
    ::kill(-group, SIGTERM);
    if (!wait_until(gone, deadline::daemon_term)) {
      ::kill(-group, SIGKILL);
      wait_until(gone, deadline::daemon_kill);
    }
  }
  ::kill(-group, SIGKILL);
}

FuseMount::~FuseMount() {
  unmount();
  stop_daemon();
  if (fusepp::mount_at(layout_.mountpoint)) {
    abort_connection("still mounted after the daemon ended");
    ::umount2(layout_.mountpoint.c_str(), MNT_DETACH);
  }
  if (daemon_) daemon_->detach();  // reaped above, or unkillable: never block in ~child
  remove_source();
  if (!fusepp::mount_at(layout_.mountpoint)) {
    std::error_code ec;
    fs::remove_all(layout_.tmpdir, ec);
    StateRecord::instance().remove(layout_.mountpoint);
  }
}

}  // namespace fusecheck
