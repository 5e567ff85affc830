// Actor processes and their pool (see actor.hpp). Boost.Process starts them; the pipes are
// read with poll() deadlines so that nothing an actor does can block the harness.
#include "fusecheck/actor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>  // before Boost.Process/Asio headers: Boost 1.74 needs std::exchange
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <filesystem>
#include <mutex>
#include <fmt/format.h>
#include <thread>

#include "fusecheck/deadlines.hpp"
#include "fusecheck/message_json.hpp"

namespace bp = boost::process;
using nlohmann::json;

namespace fusecheck {

using nlohmann::json;

std::mutex& spawn_mutex() {
  static std::mutex mutex;
  return mutex;
}

void reset_signals_for_child() {
  // The harness blocks SIGINT/SIGTERM for its signal thread and ignores SIGPIPE; a child
  // must start with neither, or a daemon would never see the SIGTERM meant to stop it.
  // Dispositions too: a harness started in the background inherits ignored SIGINT/SIGQUIT.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
}

// In the forked child, before exec: SIGKILL when the harness goes, armed here because a check
// after exec could only guess from getppid() == 1, which is also the answer when the harness
// is itself pid 1 (a container's first process). Exits if the harness is already gone.
void die_with_parent(pid_t harness) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != harness) ::_exit(3);
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("ended with wait status {}", status);
}

// A write to an actor that has just died must come back as EPIPE (a BROKEN verdict), not kill
// the whole harness: callers that left SIGPIPE at its default get it ignored on first use.
void ignore_default_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
  });
}

std::unique_ptr<ActorProcess> ActorProcess::start(const std::string& executable, const Identity& requested) {
  ignore_default_sigpipe();
  std::unique_ptr<ActorProcess> actor(new ActorProcess());
  Identity identity = requested;
  if (::geteuid() != 0 && identity.uid == 0 && identity.gid == 0) {
    // Without root, the scenario's root actor is the harness's own user; scenarios that need
    // real root powers say so with `requires: [root]` and are skipped.
    identity.uid = ::geteuid();
    identity.gid = ::getegid();
    identity.groups.clear();
  }
  actor->identity_ = requested;
  std::string groups;
  for (gid_t group : identity.groups) groups += fmt::format("{},", group);
  if (groups.empty()) groups = ",";
  try {
    std::lock_guard lock(spawn_mutex());
    bp::pipe to_child, from_child;
    actor->child_ = std::make_unique<bp::child>(executable,
                                                bp::args({std::to_string(identity.uid), std::to_string(identity.gid),
                                                          groups, fmt::format("{:o}", identity.umask)}),
                                                bp::std_in<to_child, bp::std_out> from_child,
                                                bp::extend::on_exec_setup([harness = ::getpid()](auto&) {
                                                  reset_signals_for_child();
                                                  die_with_parent(harness);
                                                }));
    // Keep our ends as plain fds with close-on-exec; the pipe objects would close them.
    actor->to_actor_ = ::dup(to_child.native_sink());
    actor->from_actor_ = ::dup(from_child.native_source());
    to_child.close();
    from_child.close();
    ::fcntl(actor->to_actor_, F_SETFD, FD_CLOEXEC);
    ::fcntl(actor->from_actor_, F_SETFD, FD_CLOEXEC);
    actor->replies_ = FrameReader(actor->from_actor_);
  } catch (const std::exception& failure) {
    throw HarnessError(fmt::format("cannot start actor {} for uid {}: {}", executable, identity.uid, failure.what()));
  }
  // The first exchange proves the identity switch worked.
  Reply hello = actor->call(json{{"op", "identity"}}, Clock::now() + deadline::actor_start);
  if (hello.status != Reply::Status::ok || !hello.body.value("ok", false)) {
    actor->kill_and_reap(deadline::actor_reap);
    throw HarnessError(fmt::format("actor for uid {} gid {} did not start: {}", identity.uid, identity.gid,
                                   hello.detail.empty() ? hello.body.dump() : hello.detail));
  }
  return actor;
}

ActorProcess::~ActorProcess() {
  if (child_ && usable_) {
    write_frame(to_actor_, json{{"op", "exit"}}.dump());
  }
  if (to_actor_ >= 0) ::close(to_actor_);
  if (from_actor_ >= 0) ::close(from_actor_);
  if (child_) {
    // Give a healthy actor a moment to leave by itself, then make sure.
    for (int i = 0; i < 100 && usable_; ++i) {
      std::error_code ec;
      if (!child_->running(ec)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    kill_and_reap(std::chrono::milliseconds(200));
    child_->detach();  // reaped (or stuck in the kernel); never let ~child block
  }
}

int ActorProcess::pid() const { return child_ ? child_->id() : -1; }

bool ActorProcess::send(const json& request) { return send_batch({request}); }

bool ActorProcess::send_batch(const std::vector<json>& requests) {
  if (!usable_) return false;
  std::string frames;
  for (const auto& request : requests) frames += frame_of(message_text(request));
  if (!write_frames(to_actor_, frames)) {
    usable_ = false;
    return false;
  }
  return true;
}

std::string ActorProcess::exit_text() {
  for (int i = 0; i < 50; ++i) {
    std::error_code ec;
    if (!child_->running(ec)) return describe_wait_status(child_->native_exit_code());
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return "closed its pipe but is still running";
}

ActorProcess::Reply ActorProcess::receive(Clock::time_point deadline) {
  Reply reply;
  if (!usable_) {
    reply.status = Reply::Status::died;
    reply.detail = "actor is no longer usable";
    return reply;
  }
  std::string payload;
  switch (replies_.read(payload, deadline)) {
    case FrameStatus::ok: try { reply.body = parse_message(payload);
      } catch (const std::exception& error) {
        usable_ = false;
        reply.status = Reply::Status::protocol;
        reply.detail = std::string("unreadable reply: ") + error.what();
        return reply;
      }
      if (reply.body.contains("protocol_error")) {
        reply.status = Reply::Status::protocol;
        reply.detail = reply.body["protocol_error"].get<std::string>();
      }
      return reply;
    case FrameStatus::timeout:
      usable_ = false;
      reply.status = Reply::Status::timeout;
      reply.detail = "no answer before the deadline";
      return reply;
    case FrameStatus::eof:
    case FrameStatus::error:
      usable_ = false;
      reply.status = Reply::Status::died;
      reply.detail = "actor " + exit_text();
      return reply;
  }
  return reply;
}

ActorProcess::Reply ActorProcess::call(const json& request, Clock::time_point deadline) {
  if (!send(request)) {
    Reply reply;
    reply.status = Reply::Status::died;
    reply.detail = "actor " + exit_text() + " (could not send the request)";
    return reply;
  }
  return receive(deadline);
}

bool ActorProcess::kill_and_reap(std::chrono::milliseconds grace) {
  usable_ = false;
  if (!child_) return true;
  std::error_code ec;
  if (!child_->running(ec)) return true;
  ::kill(child_->id(), SIGKILL);
  auto until = Clock::now() + grace;
  while (Clock::now() < until) {
    if (!child_->running(ec)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

std::unique_ptr<ActorProcess> ActorPool::take(const Identity& identity) {
  for (auto it = idle_.begin(); it != idle_.end(); ++it) {
    if ((*it)->identity().key() == identity.key()) {
      auto actor = std::move(*it);
      idle_.erase(it);
      return actor;
    }
  }
  ++spawned_;
  return ActorProcess::start(executable_, identity);
}

void ActorPool::give_back(std::unique_ptr<ActorProcess> actor) {
  if (!actor || !actor->usable()) return;
  // Back to a neutral state: every handle closed, cwd off the test's directory.
  auto reply = actor->call(json{{"op", "reset"}}, Clock::now() + deadline::actor_reset);
  if (reply.status == ActorProcess::Reply::Status::ok && reply.body.value("ok", false))
    idle_.push_back(std::move(actor));
}

void ActorPool::clear() { idle_.clear(); }

}  // namespace fusecheck
