// Framing of the harness <-> actor protocol: each message is a 4-byte little-endian length
// followed by that many bytes of JSON. Reads take a deadline so that a hung actor can never
// hang the harness.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>

namespace fusecheck {

using Clock = std::chrono::steady_clock;

enum class FrameStatus { ok, eof, timeout, error };

// Writes the whole frame; false if the peer is gone (EPIPE) or the write failed.
bool write_frame(int fd, const std::string& payload);

// The frame of `payload` (length prefix and payload), to send several in one write.
std::string frame_of(const std::string& payload);
// Writes frames made by frame_of() at once; false as write_frame.
bool write_frames(int fd, const std::string& frames);

// Reads one frame; with no deadline it blocks (the actor side).
FrameStatus read_frame(int fd, std::string& payload, std::optional<Clock::time_point> deadline = std::nullopt);

// Reads frames from one descriptor through a buffer: what one read(2) brings beyond the frame
// asked for (a batch of frames written at once) is kept for the next, so a batch costs one
// read instead of two per frame.
class FrameReader {
 public:
  explicit FrameReader(int fd = -1) : fd_(fd) {}
  // As read_frame; with no deadline it blocks.
  FrameStatus read(std::string& payload, std::optional<Clock::time_point> deadline = std::nullopt);

 private:
  FrameStatus fill(std::optional<Clock::time_point> deadline);
  int fd_;
  std::string buffer_;
  size_t start_ = 0;  // where the unread bytes of buffer_ begin
};

// When the flag is set (Ctrl-C), reads with a deadline give up early as if timed out.
void set_interrupt_flag(const std::atomic<bool>* flag);
// Whether that flag is set; long work (parsing a file) checks it to stop early.
bool interrupt_requested();

// Bytes <-> lower-case hex, the encoding of byte strings inside JSON messages.
std::string to_hex(const std::string& bytes);
std::optional<std::string> from_hex(const std::string& hex);

}  // namespace fusecheck
