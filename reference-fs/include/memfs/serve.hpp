// Serving a mounted memfs in the foreground until SIGINT, SIGTERM or SIGHUP, or until it is
// unmounted from outside: the one loop behind fusecheck-memfs and fusecheck-memfs-variant,
// and the control channel both of them offer with --control.
#pragma once

#include <signal.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "fusepp/control.hpp"
#include "fusepp/session.hpp"

namespace memfs {

class MemFs;

// The control channel (docs/control-protocol.md) on `socket`: fusepp's commands plus memfs's
// "backend", and memfs's own lookup counts in the balance. Attaches `observer` to the
// session; throws std::system_error when the socket cannot be bound.
std::unique_ptr<fusepp::ControlServer> start_control(fusepp::Session& session, fusepp::Observer& observer, MemFs& fs,
                                                     const std::filesystem::path& socket);

// Signals are taken by one thread with sigwait(), so no handler runs inside the serving
// threads and terminate() is called from plain code. Construct this before the session or
// any other thread: threads started afterwards inherit the blocked mask.
class StopSignals {
 public:
  StopSignals();
  // Runs session.main(options) until a stop signal or an external unmount. False when the
  // loop failed; the reason is on stderr, after "program: ".
  bool serve(fusepp::Session& session, const fusepp::MainOptions& options, std::string_view program);
  // A stop signal came (as opposed to an unmount ending the loop).
  bool stopped() const { return stopped_; }

 private:
  sigset_t signals_;
  std::atomic<bool> stopped_{false};
};

// Where and how a memfs executable serves.
struct ServeConfig {
  std::filesystem::path mountpoint;
  std::set<std::string> mount_options;
  std::filesystem::path control_socket;  // empty: no control channel
  fusepp::MainOptions main_options;
  std::string program;  // for messages
};

// Mounts fs and serves it until a stop signal or an unmount; returns the exit code (0, or 1
// when mounting or serving failed, with the reason on stderr). With a control channel the
// client may send `remount_after_unmount` (docs/control-protocol.md): the next unmount then
// ends only this mount, and memfs mounts the same tree again at the same place with the same
// options, its lookup counts reset (the kernel forgot everything) and a fresh control socket;
// the Observer (trace, rules, balance) carries on. See docs/kernel-interaction.md, "Remount".
int serve_until_stopped(MemFs& fs, const ServeConfig& config, StopSignals& stop_signals);

}  // namespace memfs
