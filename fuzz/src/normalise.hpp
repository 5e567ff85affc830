// The comparable form of a system call's result on one side (target or tmpfs), and what it
// is compared against: earlier observations of the same inode (which times changed), the
// identity labels of inode numbers (same inode under every name, d_ino == st_ino) and the
// previous statvfs (counter deltas). docs/fuzzing.md describes every rule.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
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
};

// One side's memory within a test case: feed it every call in order.
class SideObserver {
 public:
  explicit SideObserver(CompareOptions options = {}) : options_(options) {}
  Observed observe(const json& request, const json& reply_body, int status, const std::string& detail);

 private:
  struct InodeSeen {
    json stat;
    size_t step;
    uint64_t reads;        // reads_ when it was seen
    int64_t coarse_after;  // the coarse clock just after: every later call is at least here
  };
  json stat_fields(const json& stat, Links& links, int64_t coarse_after);
  json readdir_fields(const json& entry, Links& links);
  json statvfs_fields(const json& result, Links& links);
  std::string label(uint64_t ino, Links& links, bool may_introduce);

  CompareOptions options_;
  size_t step_ = 0;
  uint64_t reads_ = 0;  // calls so far that may mark atime at the filesystem's discretion
  std::map<uint64_t, std::pair<std::string, std::optional<size_t>>> labels_;  // ino -> label, savable source
  std::map<uint64_t, InodeSeen> seen_;
  std::optional<std::pair<json, size_t>> last_statvfs_;
};

// A time the oracle could not tell (changed within its clock tick) is not compared: removed
// from the target's stat result too.
void drop_unknown_times(const json& oracle, json& target);

struct KnownDifference;
// Removes what the known differences say to look past from both normalised results of a
// call (known.cpp); a `result` entry makes both results equal.
void forgive_known(const std::vector<KnownDifference>& known, const json& request, json& expected, json& got);

// Whether a call may update atime in a way FUSE leaves to the kernel's page cache.
bool is_read_call(const std::string& op);

}  // namespace fusecheck::fuzz
