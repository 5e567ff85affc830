// Length-prefixed frames over pipes, with poll()-based deadlines on the reading side.
#include "fusecheck/protocol.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <array>

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

// Waits until `fd` is readable: ok, or timeout (the deadline passed or Ctrl-C), or error.
FrameStatus wait_readable(int fd, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() < 0) return FrameStatus::timeout;
    const std::atomic<bool>* interrupted = interrupt_flag.load();
    if (interrupted != nullptr && interrupted->load()) return FrameStatus::timeout;
    // Wait in slices so that an interruption is noticed within 100 ms.
    int slice = static_cast<int>(std::min<long long>(left.count() + 1, 100));
    pollfd pfd{fd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, slice);
    if (ready < 0 && errno != EINTR) return FrameStatus::error;
    if (ready > 0) return FrameStatus::ok;
  }
}

FrameStatus read_all(int fd, char* data, size_t size, std::optional<Clock::time_point> deadline) {
  while (size > 0) {
    if (deadline) {
      FrameStatus ready = wait_readable(fd, *deadline);
      if (ready != FrameStatus::ok) return ready;
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

std::string frame_of(const std::string& payload) {
  uint32_t size = static_cast<uint32_t>(payload.size());
  unsigned char header[4] = {static_cast<unsigned char>(size), static_cast<unsigned char>(size >> 8),
                             static_cast<unsigned char>(size >> 16), static_cast<unsigned char>(size >> 24)};
  std::string frame(reinterpret_cast<char*>(header), 4);
  frame += payload;
  return frame;
}

bool write_frames(int fd, const std::string& frames) { return write_all(fd, frames.data(), frames.size()); }

bool write_frame(int fd, const std::string& payload) { return write_frames(fd, frame_of(payload)); }

namespace {

constexpr uint32_t kLargestFrame = 256u << 20;  // no legitimate message is this large

uint32_t frame_size(const unsigned char* header) {
  return header[0] | (header[1] << 8) | (header[2] << 16) | (uint32_t(header[3]) << 24);
}

}  // namespace

FrameStatus read_frame(int fd, std::string& payload, std::optional<Clock::time_point> deadline) {
  unsigned char header[4];
  FrameStatus status = read_all(fd, reinterpret_cast<char*>(header), 4, deadline);
  if (status != FrameStatus::ok) return status;
  uint32_t size = frame_size(header);
  if (size > kLargestFrame) return FrameStatus::error;
  payload.assign(size, '\0');
  return read_all(fd, payload.data(), size, deadline);
}

FrameStatus FrameReader::read(std::string& payload, std::optional<Clock::time_point> deadline) {
  for (;;) {
    const size_t have = buffer_.size() - start_;
    if (have >= 4) {
      const uint32_t size = frame_size(reinterpret_cast<const unsigned char*>(buffer_.data() + start_));
      if (size > kLargestFrame) return FrameStatus::error;
      if (have >= 4 + size_t{size}) {
        payload.assign(buffer_, start_ + 4, size);
        start_ += 4 + size_t{size};
        return FrameStatus::ok;
      }
    }
    FrameStatus status = fill(deadline);
    if (status != FrameStatus::ok) return status;
  }
}

FrameStatus FrameReader::fill(std::optional<Clock::time_point> deadline) {
  if (start_ > 0) {  // what was consumed goes before the buffer grows
    buffer_.erase(0, start_);
    start_ = 0;
  }
  if (deadline) {
    FrameStatus ready = wait_readable(fd_, *deadline);
    if (ready != FrameStatus::ok) return ready;
  }
  char chunk[65536];
  for (;;) {
    ssize_t got = ::read(fd_, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return FrameStatus::error;
    if (got == 0) return FrameStatus::eof;
    buffer_.append(chunk, static_cast<size_t>(got));
    return FrameStatus::ok;
  }
}

std::string to_hex(const std::string& bytes) {
  // Both digits of a byte from one table entry, written in place: loading the scenarios
  // encodes tens of megabytes of generated data (digit by digit this was 7% of it, appending
  // per character twice that).
  static const auto pairs = [] {
    const char digits[] = "0123456789abcdef";
    std::array<std::array<char, 2>, 256> table{};
    for (size_t byte = 0; byte < table.size(); ++byte) table[byte] = {digits[byte >> 4], digits[byte & 15]};
    return table;
  }();
  std::string hex(bytes.size() * 2, '\0');
  char* out = hex.data();
  for (unsigned char byte : bytes) {
    std::memcpy(out, pairs[byte].data(), 2);
    out += 2;
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
