// fusepp::testing's child helpers: fork a process that runs syscalls against a mount and
// report what it printed, with deadlines on both the output and the exit, so a filesystem
// that hangs turns into a failed test instead of a hung one.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <stdexcept>

#include "fusepp/kernel_tick.hpp"
#include "fusepp/testing.hpp"

namespace fusepp::testing {

RunningChild start_child(const std::function<std::string()>& body) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::runtime_error(std::string("fork: ") + std::strerror(err));
  }
  if (pid == 0) {
    // A fixed descriptor number keeps the numbers the body's syscalls get the same in every
    // run (the differential tests compare them).
    constexpr int kResultFd = 100;
    if (::dup2(fds[1], kResultFd) != kResultFd) ::_exit(125);
    ::close_range(3, kResultFd - 1, 0);
    ::close_range(kResultFd + 1, ~0U, 0);
    int code = 0;
    std::string out;
    try {
      out = body();
    } catch (const std::exception& e) {
      out = std::string("exception: ") + e.what();
      code = 1;
    }
    for (size_t done = 0; done < out.size();) {
      ssize_t n = ::write(kResultFd, out.data() + done, out.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  return RunningChild{pid, fds[0]};
}

ChildResult finish_child(RunningChild child, std::chrono::milliseconds deadline) {
  ChildResult result;
  auto until = std::chrono::steady_clock::now() + deadline;
  char buf[65536];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(child.pid, SIGKILL);
      break;
    }
    pollfd p{child.output_fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::read(child.output_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  ::close(child.output_fd);
  // The output pipe closes when the body is done, but the child may still sit in close()'s
  // FLUSH or in exit; give it 10 s, then SIGKILL, then give up waiting (reported as timed out).
  std::optional<int> status = wait_for_exit(child.pid, std::chrono::seconds(10));
  if (!status) {
    ::kill(child.pid, SIGKILL);
    status = wait_for_exit(child.pid, std::chrono::seconds(1));
  }
  if (!status) {
    result.timed_out = true;
    return result;
  }
  result.exit_code = WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  return result;
}

std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (int polls = 0;; ++polls) {
    int status = 0;
    pid_t reaped = ::waitpid(pid, &status, WNOHANG);
    if (reaped == pid) return status;
    if (reaped < 0 && errno != EINTR) return std::nullopt;  // not a child of ours (or reaped already)
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    ::usleep(polls < 20 ? 1000 : 10'000);
  }
}

void wait_for_tick(clockid_t coarse_clock) {
  if (!kernel_tick::sleep_as_the_tick_sees(coarse_clock, std::chrono::nanoseconds(0), std::chrono::seconds(5)))
    throw std::runtime_error("the kernel's tick stood still for 5 s");
}

std::string errno_name(int rc) { return rc == 0 ? "ok" : std::string(strerrordesc_np(errno)); }

}  // namespace fusepp::testing
