// Targets: what fusecheck tests. A TargetSpec is parsed from --fs (memfs, exec:CMD, dir:PATH);
// a Mount is one live instance of it (a FUSE daemon owned by the harness, or a directory),
// with RAII teardown that never leaves a stale mount: SIGTERM, then abort the FUSE
// connection and detach. Runs record their mounts in a state dir so a killed harness's
// leftovers are cleared by the next run.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace boost::process {
class child;
}

namespace fusecheck {

struct TargetSpec {
  enum class Kind { memfs, exec, dir } kind = Kind::memfs;
  std::string text;     // as given to --fs
  std::string command;  // exec: the command template; memfs: the executable
  std::string path;     // dir: the directory
  bool exclusive = false;  // dir: nothing else changes the filesystem (statfs counts)
  bool is_fuse() const { return kind != Kind::dir; }
  std::string fs_name() const;  // for the default expectations file: memfs, bindfs, tmpfs
};

// Thrown for a --fs value that cannot work here; `exit_code` is 2 (bad value) or 77.
struct TargetError : std::runtime_error {
  TargetError(const std::string& message, int code) : std::runtime_error(message), exit_code(code) {}
  int exit_code;
};

// Parses --fs; checks what can be checked before mounting (executables, /dev/fuse, root).
TargetSpec parse_target(const std::string& text, bool exclusive);

// Features the target offers, each with the reason when it does not.
struct Features {
  std::set<std::string> have;
  std::map<std::string, std::string> missing;  // feature -> why not
  bool has(const std::string& feature) const { return have.count(feature) != 0; }
  void set(const std::string& feature, bool present, const std::string& why_not = "");
};

// Records this process's mounts under the state dir, and clears records of dead runs.
class StateRecord {
 public:
  static StateRecord& instance();
  // Clears what earlier, dead fusecheck processes left behind; returns one line per action.
  std::vector<std::string> clear_stale();
  void add(const std::string& mountpoint, const std::string& tmpdir, int daemon_pid, unsigned conn);
  void remove(const std::string& key);  // a mountpoint, or the tmpdir of a dir: target
  std::string dir() const;

 private:
  void write();
  struct Entry {
    std::string mountpoint, tmpdir;
    int daemon_pid;
    unsigned long long daemon_start;
    unsigned conn;
  };
  std::vector<Entry> entries_;
};

class Mount {
 public:
  // Mounts (or prepares) the target with extra options; throws std::runtime_error with the
  // daemon's stderr when it does not come up within `ready_timeout` seconds.
  static std::unique_ptr<Mount> create(const TargetSpec& spec, const std::vector<std::string>& options,
                                       double ready_timeout = 10);
  ~Mount();
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  const std::string& root() const { return root_; }  // where test workdirs are made
  const TargetSpec& spec() const { return spec_; }
  Features& features() { return features_; }
  const Features& features() const { return features_; }

  // For FUSE: the daemon runs and the mount is present. Otherwise says why not.
  bool healthy(std::string& why);
  // For FUSE: the daemon process has not exited (yet).
  bool daemon_running() const;
  // Aborts the FUSE connection (unblocks every request in flight; the mount is dead after).
  void abort_connection(const std::string& why);
  bool aborted() const { return aborted_; }
  std::string daemon_log_tail(size_t lines = 15) const;
  unsigned connection() const { return conn_; }
  // The device (st_dev) of root() as the mount came up: for FUSE the connection's anonymous
  // device from mountinfo, for dir: the directory's. A path whose st_dev differs is not on
  // this mount (a vanished FUSE mount leaves the bare mountpoint directory in its place).
  dev_t device() const { return device_; }
  int daemon_pid() const;

 private:
  Mount() = default;
  void teardown();
  TargetSpec spec_;
  std::string tmpdir_, mountpoint_, root_, log_path_;
  std::unique_ptr<boost::process::child> daemon_;
  unsigned conn_ = 0;
  dev_t device_ = 0;
  bool aborted_ = false;
  bool owns_root_dir_ = false;  // dir: targets get a per-run subdirectory we remove
  Features features_;
};

// Reads /proc/self/mountinfo: the "major:minor" of the mount at `path`, if mounted.
std::optional<std::pair<unsigned, unsigned>> mounted_device(const std::string& path);
std::string mount_fstype(const std::string& path);
std::string mount_super_options(const std::string& path);

}  // namespace fusecheck
