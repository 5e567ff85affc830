// Serving a mounted memfs in the foreground until SIGINT, SIGTERM or SIGHUP, or until it is
// unmounted from outside: the one loop behind fusecheck-memfs and fusecheck-memfs-variant,
// and the control channel both of them offer with --control.
#pragma once

#include <signal.h>

#include <filesystem>
#include <memory>
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

 private:
  sigset_t signals_;
};

}  // namespace memfs
