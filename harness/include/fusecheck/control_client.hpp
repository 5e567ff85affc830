// The harness's client of a target's control channel (docs/control-protocol.md): one JSON
// object per line over a Unix stream socket, each answered in order. The one home for that
// protocol on the harness side; it knows the framing and the commands, never a target kind,
// so memfs, any fusepp daemon and a relay in front of another daemon all use it alike.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace fusecheck {

class ControlClient {
 public:
  // Connects to the socket, retrying until `deadline` (a daemon binds it while it mounts).
  // Throws HarnessError saying why it could not.
  ControlClient(std::string socket_path, std::chrono::milliseconds deadline);
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // One request and its answer, `ok` true or false (the server's error then in "error").
  // Throws HarnessError when the channel fails (closed, no answer within `deadline`, not JSON):
  // after that the client is unusable.
  nlohmann::json call(const nlohmann::json& request, std::chrono::milliseconds deadline);
  // call(), and a HarnessError naming the command when the answer is not ok.
  nlohmann::json must(const nlohmann::json& request, std::chrono::milliseconds deadline);
  // Whether the daemon knows `cmd`: false when it answers "unknown command" (e.g. `backend`
  // on a daemon that adds no filesystem commands), with that answer in `why`.
  bool offers(const std::string& cmd, std::string& why, std::chrono::milliseconds deadline);

  const std::string& socket_path() const { return path_; }

 private:
  std::optional<std::string> read_line(std::chrono::steady_clock::time_point until);
  std::string path_;
  int fd_ = -1;
  std::string pending_;  // bytes received past the last answer's newline
};

// Writes to /proc/sys/vm/drop_caches (1 pages, 2 dentries and inodes, 3 both), twice with
// `between_passes` between them: an inode whose last user (an asynchronous RELEASE) lets go
// while the first pass runs survives it. Then, with a control channel (may be null), waits
// until the FORGETs it caused have arrived. "" or why it failed. The scenario step drop_caches
// and the fuzzer's "forget" operation both use it (the fuzzer with a shorter pause: it drops
// hundreds of times per run, and its actors are idle when it does).
std::string drop_kernel_caches(int what, ControlClient* control,
                               std::chrono::milliseconds between_passes = std::chrono::milliseconds(20));
// The level a drop_caches step's `what` names: pages 1, dentries 2, all 3.
int drop_caches_level(const std::string& what);
// How often other processes have dropped the kernel's caches (/proc/vmstat's drop_pagecache
// plus drop_slab, less this process's own drops): a difference between two calls says that a
// test's cached state may have been emptied between its steps by someone else.
uint64_t foreign_cache_drops();

}  // namespace fusecheck
