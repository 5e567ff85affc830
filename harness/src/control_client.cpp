// The control channel client (see control_client.hpp): a blocking Unix stream socket, one
// request line out, one answer line back, each read bounded by a deadline with poll().
#include "fusecheck/control_client.hpp"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <thread>

#include "fusecheck/errors.hpp"

namespace fusecheck {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxAnswer = 64 << 20;  // a full trace is large, but never this large

int connect_once(const std::string& path, std::string& why) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    why = "socket path too long";
    return -1;
  }
  memcpy(address.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why = strerror(errno);
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) return fd;
  why = strerror(errno);
  ::close(fd);
  return -1;
}

}  // namespace

ControlClient::ControlClient(std::string socket_path, std::chrono::milliseconds deadline)
    : path_(std::move(socket_path)) {
  auto until = SteadyClock::now() + deadline;
  std::string why;
  while ((fd_ = connect_once(path_, why)) < 0) {
    if (SteadyClock::now() > until)
      throw HarnessError(fmt::format("cannot connect to the control socket {}: {}", path_, why));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

ControlClient::~ControlClient() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<std::string> ControlClient::read_line(SteadyClock::time_point until) {
  for (;;) {
    size_t newline = pending_.find('\n');
    if (newline != std::string::npos) {
      std::string line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      return line;
    }
    if (pending_.size() > kMaxAnswer) return std::nullopt;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now()).count();
    if (left < 0) return std::nullopt;
    pollfd waiting{fd_, POLLIN, 0};
    int ready = ::poll(&waiting, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    char buffer[65536];
    ssize_t got = ::read(fd_, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return std::nullopt;
    pending_.append(buffer, static_cast<size_t>(got));
  }
}

json ControlClient::call(const json& request, std::chrono::milliseconds deadline) {
  std::string cmd = request.value("cmd", "?");
  if (fd_ < 0) throw HarnessError(fmt::format("control channel {} is closed (command {})", path_, cmd));
  auto fail = [&](const std::string& what) -> json {
    ::close(fd_);
    fd_ = -1;
    throw HarnessError(fmt::format("control channel {}: {} (command {})", path_, what, cmd));
  };
  std::string line = request.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  for (size_t sent = 0; sent < line.size();) {
    ssize_t n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(std::string("send: ") + strerror(errno));
    sent += static_cast<size_t>(n);
  }
  auto answer = read_line(SteadyClock::now() + deadline);
  if (!answer) return fail(fmt::format("no answer within {} ms", deadline.count()));
  json parsed = json::parse(*answer, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("ok")) return fail("the answer is not a JSON object with \"ok\"");
  return parsed;
}

json ControlClient::must(const json& request, std::chrono::milliseconds deadline) {
  json answer = call(request, deadline);
  if (!answer.value("ok", false))
    throw HarnessError(fmt::format("control command {} failed: {}", request.dump(), answer.value("error", "?")));
  return answer;
}

bool ControlClient::offers(const std::string& cmd, std::string& why, std::chrono::milliseconds deadline) {
  json answer = call({{"cmd", cmd}}, deadline);
  if (answer.value("ok", false)) return true;
  why = answer.value("error", "");
  return why.rfind("unknown command", 0) != 0;
}

}  // namespace fusecheck
