// State records: every mount a run makes is written to a per-user state dir before it is
// started, so a later run can clear what a SIGKILLed run left (mounts, daemons, temp dirs).
// Records are untrusted input: another user's, or one naming foreign paths, is ignored.
#pragma once

#include <string>
#include <vector>

namespace fusecheck {

class StateRecord {
 public:
  static StateRecord& instance();
  // Clears what earlier, dead fusecheck processes left behind; returns one line per action.
  std::vector<std::string> clear_stale();
  void add(const std::string& mountpoint, const std::string& tmpdir, int daemon_pid, unsigned conn);
  void remove(const std::string& key);  // a mountpoint, or the tmpdir of a dir: target
  // $FUSECHECK_STATE_DIR, else /run/fusecheck for root, else $XDG_RUNTIME_DIR/fusecheck or
  // /tmp/fusecheck-state-UID.
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

}  // namespace fusecheck
