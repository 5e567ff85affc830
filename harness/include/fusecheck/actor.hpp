// Client side of an actor process (fusecheck-actor): spawns it with Boost.Process under a
// given identity and exchanges request/response frames with deadlines. A pool keeps idle
// actors per identity, because spawning one per test would dominate a full run's time.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fusecheck/errors.hpp"
#include "fusecheck/protocol.hpp"
#include "fusecheck/identity.hpp"

namespace boost::process {
class child;
}

namespace fusecheck {

// Serialises every fork the harness makes, so pipe ends made non-inheritable right after a
// spawn never leak into a child another thread starts at the same moment.
std::mutex& spawn_mutex();

// Runs in a forked child before exec: empty signal mask, default SIGPIPE.
void reset_signals_for_child();

// Describes a wait status: "exited with status 3", "killed by signal 9 (Killed)".
std::string describe_wait_status(int status);

class ActorProcess {
 public:
  struct Reply {
    enum class Status { ok, timeout, died, protocol } status = Status::ok;
    nlohmann::json body;  // {"ok":true,"r":{...}}, {"ok":false,"errno":N} or {"ok":false,"signal":N}
    std::string detail;   // for timeout/died/protocol: what happened
  };

  // Starts an actor and checks its identity; throws HarnessError saying why it could not.
  static std::unique_ptr<ActorProcess> start(const std::string& executable, const Identity& identity);
  ~ActorProcess();
  ActorProcess(const ActorProcess&) = delete;
  ActorProcess& operator=(const ActorProcess&) = delete;

  bool send(const nlohmann::json& request);
  // Several requests in one write (answered in order, one reply each), so that the actor
  // wakes once for all of them.
  bool send_batch(const std::vector<nlohmann::json>& requests);
  Reply receive(Clock::time_point deadline);
  Reply call(const nlohmann::json& request, Clock::time_point deadline);

  // SIGKILL, then reap for up to `grace`; false if it is still there (stuck in the kernel).
  bool kill_and_reap(std::chrono::milliseconds grace);
  bool usable() const { return usable_; }
  const Identity& identity() const { return identity_; }
  int pid() const;

 private:
  ActorProcess() = default;
  std::string exit_text();
  Identity identity_;
  std::unique_ptr<boost::process::child> child_;
  int to_actor_ = -1;
  int from_actor_ = -1;
  FrameReader replies_;  // reads from_actor_
  bool usable_ = true;
};

// Idle actors by identity. take() hands out an idle one or spawns; give_back() keeps it
// for the next test if it is still healthy.
class ActorPool {
 public:
  explicit ActorPool(std::string executable) : executable_(std::move(executable)) {}
  // Throws HarnessError when a new actor cannot start.
  std::unique_ptr<ActorProcess> take(const Identity& identity);
  void give_back(std::unique_ptr<ActorProcess> actor);
  void clear();  // ends all idle actors (before an unmount: their cwd may be on the mount)
  int spawned() const { return spawned_; }

 private:
  std::string executable_;
  std::vector<std::unique_ptr<ActorProcess>> idle_;
  int spawned_ = 0;
};

}  // namespace fusecheck
