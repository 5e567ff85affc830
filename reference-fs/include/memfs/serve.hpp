// Serving a mounted memfs in the foreground until SIGINT, SIGTERM or SIGHUP, or until it is
// unmounted from outside: the one loop behind fusecheck-memfs and fusecheck-memfs-variant.
#pragma once

#include <signal.h>

#include <string_view>

#include "fusepp/session.hpp"

namespace memfs {

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
