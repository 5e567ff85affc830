// Test support: runs syscalls against a mount in a forked child process, so the kernel never
// waits on the test's own serving thread, and returns what the child printed. A child that
// does not finish within its deadline is killed and reported as timed out.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <exception>
#include <functional>
#include <string>

namespace fusepp::test {

struct ChildResult {
  bool timed_out = false;
  int exit_code = -1;  // -1 when killed by a signal
  std::string output;  // what the child function returned, or its exception text
  bool ok() const { return !timed_out && exit_code == 0; }
};

inline ChildResult run_in_child(const std::function<std::string()>& body,
                                std::chrono::milliseconds deadline = std::chrono::seconds(30)) {
  int fds[2];
  if (::pipe(fds) != 0) return {false, -1, "pipe failed"};
  pid_t pid = ::fork();
  if (pid == 0) {
    // Drop every inherited descriptor but the result pipe: a child holding a copy of the
    // daemon's /dev/fuse fd would keep the connection alive after the daemon closed it.
    if (::dup2(fds[1], 3) != 3) ::_exit(125);
    ::close_range(4, ~0U, 0);
    fds[1] = 3;
    int code = 0;
    std::string out;
    try {
      out = body();
    } catch (const std::exception& e) {
      out = std::string("exception: ") + e.what();
      code = 1;
    }
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  ChildResult result;
  auto until = std::chrono::steady_clock::now() + deadline;
  char buf[65536];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  // A child stuck in a FUSE request ignores SIGKILL until the connection is aborted (the
  // ScopedMount's destructor does that), so reap it without blocking the test forever.
  int status = 0;
  pid_t reaped = 0;
  for (int i = 0; i < 200 && reaped == 0; ++i) {
    reaped = ::waitpid(pid, &status, WNOHANG);
    if (reaped == 0) ::usleep(i < 20 ? 1000 : 10'000);
    if (reaped == 0 && i == 100) ::kill(pid, SIGKILL);
  }
  if (reaped != pid) {
    result.timed_out = true;
    return result;
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// errno of a failed call as a short string ("ok" on success), for readable expectations.
inline std::string errno_name(int rc) { return rc == 0 ? "ok" : std::string(strerrordesc_np(errno)); }

}  // namespace fusepp::test
