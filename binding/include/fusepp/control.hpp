// fusepp::ControlServer: an opt-in control channel for any daemon built on fusepp. A Unix
// socket speaking line-delimited JSON (docs/control-protocol.md), served on the session's
// io_context: read the Observer's trace, set fault rules and release holds, send kernel
// notifications, query the lookup balance, plus commands the filesystem adds itself.
#pragma once

#include <utility>  // before Asio (Boost 1.74)

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "fusepp/observe.hpp"
#include "fusepp/session.hpp"

namespace fusepp {

// A command's answer to a request it cannot carry out; the client gets {"ok": false,
// "error": what()}.
struct ControlError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class ControlServer {
 public:
  // Runs on a serving thread; returns the result object ("ok": true is added) or throws
  // ControlError. It must not block: the serving thread answers the kernel too.
  using Command = std::function<nlohmann::json(const nlohmann::json& request)>;

  // Binds socket_path (replacing a stale socket file) and starts accepting on the session's
  // io_context; the session must have observer attached (Session::observe). Throws
  // std::system_error when the socket cannot be bound.
  ControlServer(Session& session, Observer& observer, const std::filesystem::path& socket_path);
  // Sends a notification without blocking; done(0 or -errno) may run on any thread.
  using Notifier = std::function<void(Notification, std::function<void(int)> done)>;
  // For a process that serves the kernel without a Session (fusecheck-relay): accepts on io,
  // and the notify command goes through notifier.
  ControlServer(asio::io_context& io, Observer& observer, const std::filesystem::path& socket_path, Notifier notifier);
  // Closes the socket and removes its file. Destroy it after main() returned: the acceptor
  // belongs to the serving threads while they run.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // A filesystem's own command (memfs: "backend"). Built-in names cannot be replaced.
  void add_command(const std::string& name, Command command);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// The JSON forms of the Observer's types, as docs/control-protocol.md specifies them; the
// parsers throw ControlError naming the offending key.
nlohmann::json to_json(const TraceRecord& record);
FaultRule fault_rule_from_json(const nlohmann::json& j, const Observer& observer);
Notification notification_from_json(const nlohmann::json& j, const Observer& observer);
int errno_from_json(const nlohmann::json& j);  // a number or a name ("EIO")

}  // namespace fusepp
