// fusepp::testing::ControlClient: the test side of a control channel (docs/control-protocol.md),
// one JSON request per line and one answer per line over a Unix stream socket.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <thread>

#include "fusepp/testing.hpp"

namespace fusepp::testing {

ControlClient::ControlClient(const std::filesystem::path& socket_path) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
  for (int i = 0; i < 500; ++i) {
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::close(fd_);
  throw std::runtime_error("cannot connect to " + socket_path.string());
}

ControlClient::~ControlClient() { ::close(fd_); }

nlohmann::json ControlClient::send_line(const std::string& line) {
  std::string out = line + "\n";
  if (::write(fd_, out.data(), out.size()) != static_cast<ssize_t>(out.size()))
    throw std::runtime_error("control socket: write failed");
  std::string answer;
  char c = 0;
  while (::read(fd_, &c, 1) == 1 && c != '\n') answer += c;
  if (c != '\n') throw std::runtime_error("control socket: the daemon closed the connection");
  return nlohmann::json::parse(answer);
}

}  // namespace fusepp::testing
