// Length-prefixed frames over pipes, with poll()-based deadlines on the reading side.
#include "fusecheck/protocol.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <algorithm>

namespace fusecheck {
namespace {

std::atomic<const std::atomic<bool>*> interrupt_flag{nullptr};

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t done = ::write(fd, data, size);
    if (done < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += done;
    size -= static_cast<size_t>(done);
  }
  return true;
}

FrameStatus read_all(int fd, char* data, size_t size, std::optional<Clock::time_point> deadline) {
  while (size > 0) {
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
      if (left.count() < 0) return FrameStatus::timeout;
      const std::atomic<bool>* interrupted = interrupt_flag.load();
      if (interrupted != nullptr && interrupted->load()) return FrameStatus::timeout;
      // Wait in slices so that an interruption is noticed within 100 ms.
      int slice = static_cast<int>(std::min<long long>(left.count() + 1, 100));
      pollfd pfd{fd, POLLIN, 0};
      int ready = ::poll(&pfd, 1, slice);
      if (ready < 0) {
        if (errno == EINTR) continue;
        return FrameStatus::error;
      }
      if (ready == 0) continue;
    }
    ssize_t got = ::read(fd, data, size);
    if (got < 0) {
      if (errno == EINTR) continue;
      return FrameStatus::error;
    }
    if (got == 0) return FrameStatus::eof;
    data += got;
    size -= static_cast<size_t>(got);
  }
  return FrameStatus::ok;
}

}  // namespace

void set_interrupt_flag(const std::atomic<bool>* flag) { interrupt_flag = flag; }

bool interrupt_requested() {
  const std::atomic<bool>* flag = interrupt_flag.load();
  return flag != nullptr && flag->load();
}

bool write_frame(int fd, const std::string& payload) {
  uint32_t size = static_cast<uint32_t>(payload.size());
  unsigned char header[4] = {static_cast<unsigned char>(size), static_cast<unsigned char>(size >> 8),
                             static_cast<unsigned char>(size >> 16), static_cast<unsigned char>(size >> 24)};
  std::string frame(reinterpret_cast<char*>(header), 4);
  frame += payload;
  return write_all(fd, frame.data(), frame.size());
}

FrameStatus read_frame(int fd, std::string& payload, std::optional<Clock::time_point> deadline) {
  unsigned char header[4];
  FrameStatus status = read_all(fd, reinterpret_cast<char*>(header), 4, deadline);
  if (status != FrameStatus::ok) return status;
  uint32_t size = header[0] | (header[1] << 8) | (header[2] << 16) | (uint32_t(header[3]) << 24);
  if (size > (256u << 20)) return FrameStatus::error;  // no legitimate message is this large
  payload.assign(size, '\0');
  return read_all(fd, payload.data(), size, deadline);
}

std::string to_hex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char byte : bytes) {
    hex += digits[byte >> 4];
    hex += digits[byte & 15];
  }
  return hex;
}

std::optional<std::string> from_hex(const std::string& hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string bytes;
  bytes.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int high = nibble(hex[i]), low = nibble(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes += static_cast<char>((high << 4) | low);
  }
  return bytes;
}

}  // namespace fusecheck
