// Normalisation of actor replies for the differential comparison: keeps what two POSIX
// filesystems must agree on and turns what they may not (inode numbers, absolute times,
// statfs totals, readdir order) into relations: labels, changed/same, deltas, sets.
#include "normalise.hpp"

#include <fcntl.h>
#include <time.h>

#include <algorithm>
#include <vector>

#include "fusecheck/names.hpp"

namespace fusecheck::fuzz {
namespace {

int64_t coarse_now() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
  return int64_t(now.tv_sec) * 1000000000 + now.tv_nsec;
}

json sorted_names(const json& names) {
  auto list = names.get<std::vector<std::string>>();
  std::sort(list.begin(), list.end());  // readdir and listxattr order are unspecified
  return list;
}

// listdir: names and d_type, in name order; a name listed twice stays twice.
json listing(const json& entries) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& entry : entries) pairs.emplace_back(entry.at("name"), entry.at("type"));
  std::sort(pairs.begin(), pairs.end());
  json list = json::array();
  for (const auto& [name, type] : pairs) list.push_back({name, type});
  return list;
}

// The data path's results: where lseek went, the inode flags, and a lock as F_GETLK reports
// it, without its pid (each side's holder is its own process).
json data_path_fields(const std::string& op, const json& result) {
  if (op == "lseek") return {{"offset", result.at("offset")}};
  if (op == "ioctl_getflags") return {{"flags", result.at("flags")}};
  if (op == "fcntl_lock")
    return {{"type", result.at("type")}, {"start", result.at("start")}, {"len", result.at("len")}};
  return json::object();
}

}  // namespace

bool is_read_call(const std::string& op) {
  return op == "read_file" || op == "read" || op == "pread" || op == "listdir" || op == "readdir" || op == "getdents" ||
         op == "readlink" || op == "readdir_many" || op == "map_read" || op == "map_write" || op == "copy_file_range" ||
         op == "open_by_handle_at";
}

std::vector<std::string> names_changed_by(const json& request) {
  const std::string op = request.at("op");
  if (op == "create_many" || op == "unlink_many") {
    std::vector<std::string> names;
    const std::string prefix = request.at("prefix");
    const long start = request.value("start", 0L), count = request.value("count", 0L);
    for (long i = start; i < start + count; ++i) names.push_back(prefix + std::to_string(i));
    return names;
  }
  auto arg = [&](const char* key) { return request.at(key).get<std::string>(); };
  if (op == "rename" || op == "renameat2") return {arg("from"), arg("to")};
  if (op == "link") return {arg("to")};
  static const std::set<std::string> one_name = {"create_file", "mkdir", "rmdir", "unlink",
                                                 "symlink",     "mknod", "mkfifo"};
  const bool creates = (op == "open" && (request.value("flags", 0L) & O_CREAT)) || op == "creat";
  if (one_name.count(op) || creates) return {arg("path")};
  return {};
}

void SideObserver::track_streams(const json& request, bool succeeded) {
  const std::string op = request.at("op");
  if (op == "opendir") {
    if (succeeded) streams_[request.at("dir")] = {request.at("path").get<std::string>(), {}};
  } else if (op == "closedir") {
    streams_.erase(request.at("dir").get<std::string>());
  } else if (op == "rewinddir") {
    auto found = streams_.find(request.at("dir").get<std::string>());
    if (found != streams_.end()) found->second.touched.clear();
  }
  for (const auto& path : names_changed_by(request)) {
    const auto slash = path.rfind('/');
    const std::string parent = slash == std::string::npos ? "." : path.substr(0, slash);
    for (auto& [name, stream] : streams_)
      if (stream.dir == parent) stream.touched.insert(path.substr(slash + 1));
  }
}

// readdir_many: before the end, how many entries it read; at the end, the stream's whole
// listing without the names changed since opendir, sorted, duplicates kept: every name that
// was there throughout must be listed exactly once, wherever the listing paused or resumed.
json SideObserver::listing_fields(const json& request, const json& result) const {
  if (!result.at("end").get<bool>()) return {{"end", false}, {"count", result.at("count")}};
  auto stream = streams_.find(request.at("dir").get<std::string>());
  std::vector<std::string> listed;
  for (const auto& name : result.at("listed"))
    if (stream == streams_.end() || !stream->second.touched.count(name.get<std::string>())) listed.push_back(name);
  std::sort(listed.begin(), listed.end());
  return {{"end", true}, {"listed", listed}};
}

std::string SideObserver::label(uint64_t ino, Links& links, bool may_introduce) {
  auto found = labels_.find(ino);
  if (found != labels_.end()) {
    links.ino_source = found->second.second;
    return found->second.first;
  }
  std::string name = "i" + std::to_string(labels_made_++);
  labels_[ino] = {name, may_introduce ? std::optional<size_t>(step_) : std::nullopt};
  introduced_ = true;
  return name;
}

std::optional<std::string> SideObserver::label_of(uint64_t ino) const {
  auto found = labels_.find(ino);
  return found == labels_.end() ? std::nullopt : std::optional(found->second.first);
}

std::optional<uint64_t> SideObserver::inode_labelled(const std::string& label) const {
  for (const auto& [ino, named] : labels_)
    if (named.first == label) return ino;
  return std::nullopt;
}

void SideObserver::retire(uint64_t ino) {
  labels_.erase(ino);
  seen_.erase(ino);  // the new inode's times are not the old one's
}

void accept_reused_number(const SideObserver& oracle, const Observed& oracle_seen, SideObserver& target,
                          const json& target_reply, const std::function<bool(uint64_t)>& oracle_in_use) {
  if (!oracle_seen.new_inode || !target_reply.is_object() || !target_reply.value("ok", false)) return;
  const json& result = target_reply.at("r");
  if (!result.is_object() || !result.contains("ino") || result.value("end", false)) return;
  const uint64_t ino = result.at("ino");
  const auto label = target.label_of(ino);
  if (!label) return;
  const auto oracle_ino = oracle.inode_labelled(*label);
  if (oracle_ino && !oracle_in_use(*oracle_ino)) target.retire(ino);
}

json SideObserver::stat_fields(const json& stat, Links& links, int64_t coarse_after) {
  const std::string type = stat.at("type");
  json fields = {{"type", type},
                 {"perm", stat.at("perm")},
                 {"nlink", stat.at("nlink")},
                 {"uid", stat.at("uid")},
                 {"gid", stat.at("gid")}};
  // A directory's st_size is filesystem-specific (tmpfs counts entries, ext4 blocks).
  if (type != "dir") fields["size"] = stat.at("size");
  if (type == "chr" || type == "blk") fields["rdev"] = {stat.at("rdev_major"), stat.at("rdev_minor")};
  if (options_.blocks && type == "file") fields["blocks"] = stat.at("blocks");
  const uint64_t ino = stat.at("ino");
  fields["ino"] = label(ino, links, true);
  auto previous = seen_.find(ino);
  bool atime_apart = false;
  if (previous != seen_.end()) {
    links.previous_observation = previous->second.step;
    const InodeSeen& before = previous->second;
    // A read since then may or may not have reached a FUSE daemon (page cache), so atime is
    // compared only across calls that cannot mark it, and from a value no read has marked.
    atime_apart = before.atime_apart || before.reads != reads_;
    for (const char* time : {"atime", "mtime", "ctime"}) {
      if (std::string(time) == "atime" && atime_apart) continue;
      // Every path resolved through a symlink reads it: a FUSE daemon sees that (READLINK)
      // only when the kernel does not hold the link, so its atime is the page cache's call.
      if (std::string(time) == "atime" && type == "symlink") continue;
      if (before.stat.at(time) != stat.at(time)) {
        fields[time] = "changed";
      } else if (!options_.coarse_times || before.stat.at(time).get<int64_t>() < before.coarse_after) {
        // With a coarse clock an update in the tick of the old value leaves it unchanged, so
        // "same" is only known when the old value is from an earlier tick than any call since.
        fields[time] = "same";
      }
    }
  }
  // The fuzzer stats the name whose atime it set right after setting it: both sides agree again.
  if (atime_set_step_ && *atime_set_step_ + 1 == step_) atime_apart = false;
  seen_[ino] = {stat, step_, reads_, coarse_after, atime_apart};
  return fields;
}

json SideObserver::readdir_fields(const json& entry, Links& links) {
  if (entry.at("end").get<bool>()) return {{"end", true}};
  return {{"name", entry.at("name")}, {"type", entry.at("type")}, {"ino", label(entry.at("ino"), links, true)}};
}

json SideObserver::statvfs_fields(const json& result, Links& links) {
  json fields = {{"namemax", result.at("namemax")}};
  if (options_.statfs && last_statvfs_) {
    links.previous_statvfs = last_statvfs_->second;
    const json& before = last_statvfs_->first;
    for (const char* counter : {"ffree", "bfree"})
      fields[std::string(counter) + "_delta"] = result.at(counter).get<int64_t>() - before.at(counter).get<int64_t>();
  }
  last_statvfs_ = {result, step_};
  return fields;
}

Observed SideObserver::observe(const json& request, const json& reply_body, int status, const std::string& detail) {
  Observed observed;
  const std::string op = request.at("op");
  if (is_read_call(op)) ++reads_;
  const bool sets_atime =
      (op == "utimensat" || op == "futimens") && request.value("atime", json::object()).value("kind", "now") != "omit";
  if (sets_atime && status == 0 && reply_body.value("ok", false)) atime_set_step_ = step_;
  track_streams(request, status == 0 && reply_body.is_object() && reply_body.value("ok", false));
  introduced_ = false;
  if (status != 0) {
    observed.result = {{"broken", detail}};
  } else if (reply_body.contains("protocol_error")) {
    observed.result = {{"broken", reply_body.at("protocol_error")}};
  } else if (reply_body.contains("signal")) {  // an access through a mapping, caught
    observed.result = {{"signal", signal_name(reply_body.at("signal").get<int>())}};
  } else if (!reply_body.value("ok", false)) {
    observed.result = {{"errno", errno_name(reply_body.at("errno").get<int>())}};
  } else {
    const json& result = reply_body.at("r");
    json fields = json::object();
    if (op == "lstat" || op == "stat" || op == "fstat") {
      // The actor's clock after the call when it says (the batch's later calls ran already).
      fields =
          stat_fields(result, observed.links, reply_body.contains("t") ? reply_body["t"].get<int64_t>() : coarse_now());
    } else if (op == "readdir") {
      fields = readdir_fields(result, observed.links);
    } else if (op == "statvfs") {
      fields = statvfs_fields(result, observed.links);
    } else if (op == "readdir_many") {
      fields = listing_fields(request, result);
    } else if (op == "listdir") {
      fields["entries"] = listing(result.at("entries"));
    } else if (op == "listxattr") {
      fields["names"] = sorted_names(result.at("names"));
    } else if (op == "read_file" || op == "getxattr" || op == "read" || op == "pread" || op == "map_read") {
      fields["data"] = result.at("data");
    } else if (op == "pwrite" || op == "write" || op == "map_write" || op == "copy_file_range") {
      fields["size"] = result.at("size");
    } else if (op == "create_many" || op == "unlink_many") {
      fields["count"] = result.at("count");
    } else {
      fields = data_path_fields(op, result);
    }
    observed.result = {{"ok", fields}};
    observed.new_inode = introduced_;
  }
  ++step_;
  return observed;
}

void drop_unknown_times(const json& told, json& other) {
  if (!told.contains("ok") || !other.contains("ok") || !told.at("ok").contains("type")) return;
  for (const char* time : {"atime", "mtime", "ctime"})
    if (!told.at("ok").contains(time) && other.at("ok").is_object()) other.at("ok").erase(time);
}

std::vector<std::string> drop_oracle_repeats(json& oracle_result) {
  std::vector<std::string> repeated;
  if (!oracle_result.contains("ok") || !oracle_result.at("ok").is_object()) return repeated;
  json& fields = oracle_result.at("ok");
  if (!fields.contains("listed")) return repeated;
  auto listed = fields.at("listed").get<std::vector<std::string>>();  // sorted by listing_fields
  for (size_t i = 1; i < listed.size(); ++i)
    if (listed[i] == listed[i - 1] && (repeated.empty() || repeated.back() != listed[i])) repeated.push_back(listed[i]);
  if (repeated.empty()) return repeated;
  listed.erase(std::unique(listed.begin(), listed.end()), listed.end());
  fields.at("listed") = listed;
  return repeated;
}

}  // namespace fusecheck::fuzz
