// The foreground serving loop of memfs's executables (memfs/serve.hpp): a signal thread
// turns SIGINT/SIGTERM/SIGHUP into Session::terminate() while the calling thread serves.
#include "memfs/serve.hpp"

#include <pthread.h>

#include <atomic>
#include <exception>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

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
    if (served) return;
    stopped_ = true;
    session.terminate();
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

int serve_until_stopped(MemFs& fs, const ServeConfig& config, StopSignals& stop_signals) {
  fusepp::Observer observer;  // attached only with a control channel: unobserved serving pays nothing
  std::atomic<bool> remount_armed{false};
  for (;;) {
    std::unique_ptr<fusepp::Session> session;
    std::unique_ptr<fusepp::ControlServer> control;
    try {
      session = std::make_unique<fusepp::Session>(fs, config.mountpoint, config.mount_options);
      if (!config.control_socket.empty()) {
        control = start_control(*session, observer, fs, config.control_socket);
        control->add_command("remount_after_unmount", [&remount_armed](const nlohmann::json& request) {
          remount_armed = !request.value("cancel", false);
          return nlohmann::json::object();
        });
      }
    } catch (const std::exception& e) {
      std::cerr << config.program << ": cannot mount " << config.mountpoint << ": " << e.what() << "\n";
      return 1;
    }
    bool served = stop_signals.serve(*session, config.main_options, config.program);
    control.reset();
    // The Observer settled its balance when the connection ended (Session); memfs settles its
    // own counts after that comparison, as the kernel sends no FORGET at unmount.
    if (!fs.options().unmount_keeps_lookup_counts) fs.forget_all_references();
    bool again = served && remount_armed.exchange(false) && !stop_signals.stopped();
    session->close(true);  // already unmounted from outside: libfuse only closes the device
    if (!again) return served ? 0 : 1;
  }
}

}  // namespace memfs
