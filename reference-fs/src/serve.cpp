// The foreground serving loop of memfs's executables (memfs/serve.hpp): a signal thread
// turns SIGINT/SIGTERM/SIGHUP into Session::terminate() while the calling thread serves.
#include "memfs/serve.hpp"

#include <pthread.h>

#include <atomic>
#include <exception>
#include <iostream>
#include <thread>

#include "memfs/memfs.hpp"

namespace memfs {

std::unique_ptr<fusepp::ControlServer> start_control(fusepp::Session& session, fusepp::Observer& observer, MemFs& fs,
                                                     const std::filesystem::path& socket) {
  session.observe(&observer);
  observer.set_lookup_count_source([&fs](uint64_t ino) { return fs.lookup_count(ino); });
  auto control = std::make_unique<fusepp::ControlServer>(session, observer, socket);
  control->add_command("backend", [&fs](const nlohmann::json& q) { return fs.backend(q); });
  return control;
}

StopSignals::StopSignals() {
  sigemptyset(&signals_);
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals_, signal);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
}

bool StopSignals::serve(fusepp::Session& session, const fusepp::MainOptions& options, std::string_view program) {
  std::atomic<bool> served{false};
  std::thread signal_thread([&] {
    int signal = 0;
    sigwait(&signals_, &signal);
    if (!served) session.terminate();
  });
  bool ok = true;
  try {
    session.main(options);
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << "\n";
    ok = false;
  }
  served = true;
  pthread_kill(signal_thread.native_handle(), SIGTERM);  // wakes sigwait() after an external unmount
  signal_thread.join();
  return ok;
}

}  // namespace memfs
