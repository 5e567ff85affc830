// A FUSE daemon the harness starts and owns (private to the harness library): the mount
// kind behind the memfs and exec: drivers. It waits until the mount shows in mountinfo,
// watches the daemon, and tears down in an order that cannot leave a stale mount.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "fusecheck/target.hpp"

namespace boost::process {
class child;
}

namespace fusecheck {

// Where one FUSE mount lives: a private temp dir holding the mountpoint, a backing
// directory for passthrough daemons ({src}) and the daemon's output.
struct FuseLayout {
  std::string tmpdir, mountpoint, source, log, control;
  bool source_is_tmpfs = false;  // a private tmpfs mounted on `source`, unmounted at the end
};

// The program and its arguments (no shell involved unless the driver asks for one).
struct DaemonCommand {
  std::string program;
  std::vector<std::string> argv;
  bool offers_control = false;  // the daemon was told to open FuseLayout::control
};

class FuseMount : public Mount {
 public:
  // Makes the layout, asks `command_for` for the daemon's command and starts it; returns
  // once the mount is listed. Throws HarnessError with the daemon's output otherwise.
  template <typename CommandFor>
  static std::unique_ptr<Mount> start(const TargetSpec& spec, const std::vector<std::string>& options,
                                      std::chrono::milliseconds ready_timeout, CommandFor command_for) {
    std::unique_ptr<FuseMount> mount(new FuseMount(spec));
    mount->make_layout();
    mount->command_ = command_for(mount->layout_, mount->mount_options(options));
    if (mount->command_.offers_control) mount->control_socket_ = mount->layout_.control;
    mount->launch(mount->command_);
    mount->wait_until_mounted(ready_timeout);
    mount->read_mount_features();
    return mount;
  }
  ~FuseMount() override;

  std::optional<std::string> trouble() override;
  bool daemon_running() const override;
  void abort_connection(const std::string& why) override;
  bool aborted() const override { return aborted_; }
  std::string daemon_log_tail(size_t lines = 15) const override;
  unsigned connection() const override { return conn_; }
  int daemon_pid() const override;
  bool remount(bool daemon_mounts_again) override;

 private:
  explicit FuseMount(const TargetSpec& spec);
  void make_layout();
  void make_source();
  void remove_source();
  std::string mount_options(const std::vector<std::string>& extra) const;
  void launch(const DaemonCommand& command);
  void wait_until_mounted(std::chrono::milliseconds ready_timeout);
  void read_mount_features();
  void unmount();
  void stop_daemon();
  std::string exit_description() const;

  FuseLayout layout_;
  DaemonCommand command_;  // kept to start the daemon again (remount)
  std::unique_ptr<boost::process::child> daemon_;
  unsigned conn_ = 0;
  bool aborted_ = false;
  std::string abort_reason_;
};

}  // namespace fusecheck
