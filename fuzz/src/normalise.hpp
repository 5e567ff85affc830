// The comparable form of a system call's result on one side (target or tmpfs), and what it
// is compared against: earlier observations of the same inode (which times changed), the
// identity labels of inode numbers (same inode under every name, d_ino == st_ino), the
// previous statvfs (counter deltas) and the names changed while a directory stream was open
// (left out of its listing). docs/fuzzing.md describes every rule.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace fusecheck::fuzz {

using nlohmann::json;

struct CompareOptions {
  bool blocks = true;         // st_blocks of regular files, when the target counts pages as tmpfs does
  bool statfs = true;         // statvfs deltas, when nothing else changes the target's counters
  bool coarse_times = false;  // this side's clock has ticks (tmpfs: CLOCK_REALTIME_COARSE)
};

// Earlier steps (indices in the case's call sequence) a result was compared against; the
// scenario writer turns them into saved results and references.
struct Links {
  std::optional<size_t> previous_observation;  // the last stat of the same inode (times)
  std::optional<size_t> ino_source;            // the stat or readdir that first showed this inode
  std::optional<size_t> previous_statvfs;      // the statvfs that deltas are relative to
};

struct Observed {
  json result;  // {"ok": {fields}}, {"errno": "ENOENT"} or {"broken": why}
  Links links;
  bool new_inode = false;  // it showed an inode number this side had not seen in the case
};

// One side's memory within a test case: feed it every call in order.
class SideObserver {
 public:
  explicit SideObserver(CompareOptions options = {}) : options_(options) {}
  Observed observe(const json& request, const json& reply_body, int status, const std::string& detail);

  // Identity labels: the label of an inode number, the number behind a label, and forgetting
  // a number (its next sight is a new inode: the number was freed and reused).
  std::optional<std::string> label_of(uint64_t ino) const;
  std::optional<uint64_t> inode_labelled(const std::string& label) const;
  void retire(uint64_t ino);

 private:
  struct InodeSeen {
    json stat;
    size_t step;
    uint64_t reads;        // reads_ when it was seen
    int64_t coarse_after;  // the coarse clock just after: every later call is at least here
    // A read since an earlier stat may have marked atime on one side only: until an explicit
    // atime brings both to one value, a change of it is not comparable.
    bool atime_apart = false;
  };
  json stat_fields(const json& stat, Links& links, int64_t coarse_after);
  json readdir_fields(const json& entry, Links& links);
  json statvfs_fields(const json& result, Links& links);
  json listing_fields(const json& request, const json& result) const;
  void track_streams(const json& request, bool succeeded);
  std::string label(uint64_t ino, Links& links, bool may_introduce);

  CompareOptions options_;
  size_t step_ = 0;
  uint64_t reads_ = 0;                    // calls so far that may mark atime at the filesystem's discretion
  std::optional<size_t> atime_set_step_;  // the last call that set atime (utimensat, futimens)
  std::map<uint64_t, std::pair<std::string, std::optional<size_t>>> labels_;  // ino -> label, savable source
  size_t labels_made_ = 0;
  bool introduced_ = false;  // the current call showed a new inode
  std::map<uint64_t, InodeSeen> seen_;
  std::optional<std::pair<json, size_t>> last_statvfs_;
  // Open directory streams (by dir name): the directory listed, and the names in it added,
  // removed or renamed since opendir, whose listing POSIX leaves unspecified.
  struct Stream {
    std::string dir;
    std::set<std::string> touched;
  };
  std::map<std::string, Stream> streams_;
};

// The names (paths) a call may add to or remove from their directory, whether or not it
// succeeds: its new or removed path, both names of a rename, create_many's and unlink_many's
// numbered names.
std::vector<std::string> names_changed_by(const json& request);

// Before the target's answer to a call is observed: when it shows an inode number the
// target showed before while tmpfs shows an inode it never saw, the target reused a freed
// number for a new inode, which POSIX allows once nothing uses the old one. Whether anything
// does is asked of tmpfs (`oracle_in_use`: a name or a descriptor still has its inode under
// that label); if nothing does, the target's observer forgets the number, so that both label
// the new inode alike. Two live inodes sharing a number, or a name whose inode changes, still
// get different labels.
void accept_reused_number(const SideObserver& oracle, const Observed& oracle_seen, SideObserver& target,
                          const json& target_reply, const std::function<bool(uint64_t)>& oracle_in_use);

// A time one side could not tell (changed within its clock's tick) is not compared: removed
// from the other side's stat result too (tmpfs's from the target's, and a coarse-clock
// target's from a copy of tmpfs's).
void drop_unknown_times(const json& told, json& other);

// tmpfs (Linux 6.18) lists a directory stream resumed at the cookie of a removed last entry
// again from its start (docs/kernel-bugs/README.md), so its finished listing can repeat names
// that existed throughout, which POSIX forbids. Such a result of the oracle's is held to
// POSIX instead: each of those names once. Returns the names it repeated (none: it kept the
// rule, and the result is untouched).
std::vector<std::string> drop_oracle_repeats(json& oracle_result);

struct KnownDifference;
// Removes what the known differences say to look past from both normalised results of a
// call (known.cpp); a `result` entry makes both results equal.
void forgive_known(const std::vector<KnownDifference>& known, const json& request, json& expected, json& got);

// Whether a call may update atime in a way FUSE leaves to the kernel's page cache (or, for
// open_by_handle_at, read a directory to reconnect a forgotten one: exportfs's get_name()).
bool is_read_call(const std::string& op);

}  // namespace fusecheck::fuzz
