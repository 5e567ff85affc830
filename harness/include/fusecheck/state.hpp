// State records: every mount a run makes is written to a per-user state dir before it is
// started, so a later run can clear what a SIGKILLed run left (mounts, daemons, temp dirs).
// Records are untrusted input: another user's, or one naming foreign paths, is ignored.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace fusecheck {

class StateRecord {
 public:
  static StateRecord& instance();
  // Clears what earlier, dead fusecheck processes left behind; returns one line per action.
  // Acts only on records this user owns whose run is dead (a zombie is dead), and only on
  // fusecheck's own temp dirs and mountpoints; kills only a daemon of this user that is the
  // recorded process. Throws HarnessError (exit 77) when the state dir is not this user's
  // (a directory this user owns; its mode is set to 0700).
  std::vector<std::string> clear_stale();
  void add(const std::string& mountpoint, const std::string& tmpdir, int daemon_pid, unsigned conn);
  void remove(const std::string& key);  // a mountpoint, or the tmpdir of a dir: target
  // $FUSECHECK_STATE_DIR, else /run/fusecheck for root, else $XDG_RUNTIME_DIR/fusecheck or
  // /tmp/fusecheck-state-UID.
  std::string dir() const;

 private:
  void write();
  void clear_leftovers(const nlohmann::json& mount, int pid, std::vector<std::string>& actions);
  struct Entry {
    std::string mountpoint, tmpdir;
    int daemon_pid;
    unsigned long long daemon_start;
    unsigned conn;
  };
  std::vector<Entry> entries_;
};

}  // namespace fusecheck
