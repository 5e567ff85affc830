// Feature probes of the `handles` ops (locks, copy_file_range, file handles, inode flags) and
// of statx's birth time, run by the runner on every fresh mount with one root actor.
#pragma once

#include <functional>
#include <string>

#include "fusecheck/actor.hpp"
#include "fusecheck/target.hpp"

namespace fusecheck {

// The runner's way to one probe actor: a call that keeps the actor's descriptors, and how
// to read its reply.
struct ProbeChannel {
  std::function<ActorProcess::Reply(const nlohmann::json&)> call;
  std::function<bool(const ActorProcess::Reply&)> ok;
  std::function<std::string(const ActorProcess::Reply&)> text;
};

// The features probe_handle_features() decides.
inline constexpr const char* handle_features[] = {"locks", "copy_file_range", "file_handles", "ioctl_flags", "btime"};

// Probes each of handle_features in the directory `dir` (absolute, on the mount).
void probe_handle_features(const ProbeChannel& actor, const std::string& dir, Features& features);

}  // namespace fusecheck
