// Targets: what fusecheck tests. --fs names a target kind (memfs, exec:CMD, dir:PATH), each
// a TargetDriver: one class per kind, so a new kind is one new class (target_drivers.cpp).
// A Mount is one live instance (a FUSE daemon owned by the harness, or a directory) with
// RAII teardown that never leaves a stale mount, recorded in the state dir (state.hpp).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fusecheck/errors.hpp"

namespace fusecheck {

class Mount;
struct TargetSpec;

// Features the target offers, each with the reason when it does not.
struct Features {
  std::set<std::string> have;
  std::map<std::string, std::string> missing;  // feature -> why not
  bool has(const std::string& feature) const { return have.count(feature) != 0; }
  void set(const std::string& feature, bool present, const std::string& why_not = "");
};

// One kind of target. Drivers are stateless; a Mount made by one holds what it started.
class TargetDriver {
 public:
  virtual ~TargetDriver() = default;
  virtual bool is_fuse() const = 0;
  // The expectations file (expectations/NAME.yaml) used when --expectations is not given,
  // decided by what the target is, never by a program's file name.
  virtual std::optional<std::string> default_expectations() const = 0;
  // Whether its daemon is given a backing directory ({src} of exec: commands).
  virtual bool uses_source() const { return false; }
  // Mounts (or prepares) the target; throws HarnessError with the daemon's output when it
  // does not come up in time. `control`: start the daemon with its control channel if the
  // kind knows how (memfs: --control; exec: where the command says {control}).
  virtual std::unique_ptr<Mount> mount(const TargetSpec& spec, const std::vector<std::string>& options,
                                       std::chrono::milliseconds ready_timeout, bool control) const = 0;
};

struct TargetSpec {
  std::string text;        // as given to --fs
  bool exclusive = false;  // dir: nothing else changes the filesystem (statfs counts)
  // Where {src} directories are made (--src-dir); empty: each on a fresh private tmpfs.
  std::string source_parent;
  std::shared_ptr<const TargetDriver> driver;
  bool is_fuse() const { return driver && driver->is_fuse(); }
};

// Parses --fs and checks what can be checked before mounting (executables, /dev/fuse, a
// directory). Throws HarnessError: exit_code usage for a bad value, cannot_run for this machine.
TargetSpec parse_target(const std::string& text, bool exclusive);

class Mount {
 public:
  virtual ~Mount() = default;
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  // Mounts `spec` with extra options (see TargetDriver::mount).
  static std::unique_ptr<Mount> create(const TargetSpec& spec, const std::vector<std::string>& options,
                                       std::chrono::milliseconds ready_timeout, bool control = false);
  static std::unique_ptr<Mount> create(const TargetSpec& spec, const std::vector<std::string>& options,
                                       bool control = false);

  const std::string& root() const { return root_; }  // where test workdirs are made
  const TargetSpec& spec() const { return spec_; }
  Features& features() { return features_; }
  const Features& features() const { return features_; }
  // The device (st_dev) of root() as the mount came up: for FUSE the connection's anonymous
  // device from mountinfo, for dir: the directory's. A path whose st_dev differs is not on
  // this mount (a vanished FUSE mount leaves the bare mountpoint directory in its place).
  dev_t device() const { return device_; }
  // The Unix socket of the daemon's control channel (docs/control-protocol.md), if it was
  // started with one; whether it answers is probed (features `trace`, `backend`).
  const std::optional<std::string>& control_socket() const { return control_socket_; }

  // Why the mount cannot serve any more (daemon gone, unmounted, aborted); nullopt if it can.
  virtual std::optional<std::string> trouble() { return std::nullopt; }
  virtual bool daemon_running() const { return false; }
  // Aborts the FUSE connection (unblocks every request in flight; the mount is dead after).
  virtual void abort_connection(const std::string& /*why*/) {}
  virtual bool aborted() const { return false; }
  virtual std::string daemon_log_tail(size_t lines = 15) const;
  virtual unsigned connection() const { return 0; }
  virtual int daemon_pid() const { return -1; }
  // Unmounts and mounts the target again at the same place, so the kernel forgets every
  // dentry and inode of it (docs/kernel-interaction.md, "Remount"). `daemon_mounts_again`:
  // the daemon was asked over its control channel to mount its filesystem again after the
  // unmount; otherwise its command is started again (what survives is what it keeps in
  // {src}). Returns whether a new daemon was started (its trace, if any, begins anew).
  // Throws HarnessError when the mount cannot be unmounted (a process still uses it) or does
  // not come back. A directory (dir:) has nothing to unmount: false, nothing done.
  virtual bool remount(bool /*daemon_mounts_again*/) { return false; }

 protected:
  explicit Mount(TargetSpec spec) : spec_(std::move(spec)) {}
  TargetSpec spec_;
  std::string root_;
  dev_t device_ = 0;
  std::optional<std::string> control_socket_;
  Features features_;
};

}  // namespace fusecheck
