// fusecheck-relay: runs any libfuse 3 daemon behind fusepp's trace and fault rules. It mounts
// MOUNTPOINT itself, starts the daemon with /dev/fd/N (one end of a SOCK_SEQPACKET pair) in
// place of the mountpoint, relays every message (fusepp::Relay) and serves the control
// protocol (docs/control-protocol.md) on --control SOCKET. Ends when either side does.
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fusepp/control.hpp"
#include "fusepp/fuse_connection.hpp"
#include "fusepp/relay.hpp"

namespace {

constexpr const char* kUsage =
    "usage: fusecheck-relay [-o MOUNT_OPTIONS] [--control SOCKET] MOUNTPOINT -- DAEMON [ARG...]\n"
    "  mounts MOUNTPOINT, then runs DAEMON with every ARG equal to MOUNTPOINT replaced by /dev/fd/N\n";

struct Options {
  std::string mount_options;
  std::optional<std::string> control;
  std::string mountpoint;
  std::vector<std::string> daemon;  // argv
};

std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
    std::string arg = argv[i];
    if ((arg == "-o" || arg == "--control") && i + 1 < argc) {
      std::string value = argv[++i];
      if (arg == "--control")
        o.control = value;
      else
        o.mount_options += (o.mount_options.empty() ? "" : ",") + value;
    } else if (o.mountpoint.empty() && arg[0] != '-') {
      o.mountpoint = arg;
    } else {
      return std::nullopt;
    }
  }
  for (++i; i < argc; ++i) o.daemon.emplace_back(argv[i]);
  if (o.mountpoint.empty() || o.daemon.empty()) return std::nullopt;
  return o;
}

// Mounts through libfuse, so that the options and the non-root path (fusermount3) are
// libfuse's own; the session only ever holds the /dev/fuse descriptor.
fuse_session* mount_fuse(const Options& o, const char* argv0) {
  std::vector<char*> args{const_cast<char*>(argv0)};
  if (!o.mount_options.empty()) {
    args.push_back(const_cast<char*>("-o"));
    args.push_back(const_cast<char*>(o.mount_options.c_str()));
  }
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(args.size()), args.data());
  fuse_lowlevel_ops none{};
  fuse_session* se = fuse_session_new(&fargs, &none, sizeof none, nullptr);
  fuse_opt_free_args(&fargs);  // libfuse copied what it parsed
  if (se != nullptr && fuse_session_mount(se, o.mountpoint.c_str()) != 0) {
    fuse_session_destroy(se);
    se = nullptr;
  }
  return se;
}

// A SOCK_SEQPACKET pair whose sender buffers hold the largest FUSE message (a 1 MiB WRITE):
// a datagram longer than the sender's buffer is refused (EMSGSIZE).
bool make_channel(int fds[2]) {
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) return false;
  int size = static_cast<int>(2 * fusepp::Relay::max_message_size());
  for (int i = 0; i < 2; ++i)
    if (::setsockopt(fds[i], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0 &&
        ::setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size) != 0)
      return false;
  return true;
}

// Everything the child needs is prepared before fork: the control thread runs already, so
// the child may only make system calls until exec.
pid_t start_daemon(const Options& o, int daemon_fd, const sigset_t& blocked) {
  std::string device = "/dev/fd/" + std::to_string(daemon_fd);
  std::vector<std::string> argv = o.daemon;
  for (std::string& arg : argv)
    if (arg == o.mountpoint) arg = device;
  std::vector<char*> cargv;
  for (std::string& arg : argv) cargv.push_back(arg.data());
  cargv.push_back(nullptr);
  std::string failed = "fusecheck-relay: cannot run " + argv[0] + "\n";
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::sigprocmask(SIG_UNBLOCK, &blocked, nullptr);
  ::signal(SIGPIPE, SIG_DFL);  // the relay ignores it; the daemon decides for itself
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  ::fcntl(daemon_fd, F_SETFD, 0);  // the one descriptor the daemon inherits
  ::execvp(cargv[0], cargv.data());
  (void)!::write(STDERR_FILENO, failed.data(), failed.size());
  ::_exit(127);
}

// Ends the daemon the way an unmount would (libfuse's SIGTERM handler ends its loop), then
// by closing its device (libfuse then reports a short read), then SIGKILL; its wait status.
int stop_daemon(pid_t pid, int relay_end) {
  using namespace std::chrono_literals;
  int status = 0;
  auto ended_within = [&](auto limit) {
    for (auto until = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < until;) {
      if (::waitpid(pid, &status, WNOHANG) == pid) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  };
  ::kill(pid, SIGTERM);
  if (ended_within(2s)) return status;
  ::shutdown(relay_end, SHUT_RDWR);
  if (ended_within(2s)) return status;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return status;
}

// The daemon's status, except that ending on the SIGTERM the relay sent it is a clean end.
int exit_code_of(int status, bool stopped_by_relay) {
  if (stopped_by_relay && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) return 0;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  std::fprintf(stderr, "fusecheck-relay: the daemon was killed by signal %d (%s)\n", WTERMSIG(status),
               strsignal(WTERMSIG(status)));
  return 128 + WTERMSIG(status);
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parse_args(argc, argv);
  if (!options) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  sigset_t handled;  // taken with sigwaitinfo below, so blocked before any thread starts
  sigemptyset(&handled);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1}) sigaddset(&handled, s);
  ::sigprocmask(SIG_BLOCK, &handled, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  fusepp::Observer observer;
  std::atomic<fusepp::Relay*> relay_for_notify{nullptr};
  boost::asio::io_context io;
  std::optional<fusepp::ControlServer> control;
  if (options->control) {  // before mounting: the socket exists once the mount does
    control.emplace(io, observer, *options->control, [&](fusepp::Notification n, std::function<void(int)> done) {
      fusepp::Relay* relay = relay_for_notify.load();
      if (relay != nullptr)
        relay->notify(std::move(n), std::move(done));
      else
        done(-ENOTCONN);
    });
  }
  std::thread control_thread([&] { io.run(); });

  // Resolved before mounting: a stat of the mountpoint afterwards would wait for the daemon.
  std::error_code ignored;
  std::filesystem::path mounted = std::filesystem::weakly_canonical(options->mountpoint, ignored);
  int channel[2] = {-1, -1};
  fuse_session* se = make_channel(channel) ? mount_fuse(*options, argv[0]) : nullptr;
  if (se == nullptr) {
    std::fprintf(stderr, "fusecheck-relay: cannot mount %s%s%s\n", options->mountpoint.c_str(),
                 channel[0] < 0 ? ": " : "", channel[0] < 0 ? std::strerror(errno) : "");
    io.stop();
    control_thread.join();
    return 1;
  }
  std::string connection = fusepp::connection_id(mounted);
  pid_t daemon = start_daemon(*options, channel[1], handled);
  ::close(channel[1]);

  fusepp::Relay relay(fuse_session_fd(se), channel[0], observer);
  std::mutex why_mutex;
  std::string why;  // the first reason to end; the teardown causes others
  auto ending = [&](const std::string& reason) {
    std::lock_guard lock(why_mutex);
    if (why.empty()) why = reason;
  };
  relay.start([&](const std::string& reason) {
    ending(reason);
    ::kill(::getpid(), SIGUSR1);
  });
  relay_for_notify = &relay;

  std::optional<int> daemon_status;
  for (;;) {
    siginfo_t info{};
    int signal = ::sigwaitinfo(&handled, &info);
    if (signal == SIGCHLD) {
      int status = 0;
      if (::waitpid(daemon, &status, WNOHANG) != daemon) continue;
      daemon_status = status;
      ending("the daemon ended");
    } else if (signal != SIGUSR1 && signal > 0) {
      ending(std::string("stopped by ") + sigabbrev_np(signal));
    }
    if (signal > 0) break;
  }
  relay_for_notify = nullptr;
  // Aborting first ends whatever waits in the kernel (a held request, a notification stuck
  // on a directory lock) and the relay's read of /dev/fuse; the daemon goes before the
  // relay's threads, which a daemon that stopped reading could block.
  fusepp::abort_connection(connection);
  bool stopped_by_relay = !daemon_status;
  if (stopped_by_relay) daemon_status = stop_daemon(daemon, channel[0]);
  relay.stop();
  fuse_session_unmount(se);  // closes /dev/fuse; after an abort libfuse leaves the mount
  ::umount2(mounted.c_str(), MNT_DETACH);
  ::close(channel[0]);
  fuse_session_destroy(se);
  io.stop();
  control_thread.join();
  std::lock_guard lock(why_mutex);
  if (!why.empty()) std::fprintf(stderr, "fusecheck-relay: %s\n", why.c_str());
  return exit_code_of(*daemon_status, stopped_by_relay);
}
