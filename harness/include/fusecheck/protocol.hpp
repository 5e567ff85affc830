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

// Reads one frame; with no deadline it blocks (the actor side).
FrameStatus read_frame(int fd, std::string& payload, std::optional<Clock::time_point> deadline = std::nullopt);

// When the flag is set (Ctrl-C), reads with a deadline give up early as if timed out.
void set_interrupt_flag(const std::atomic<bool>* flag);
// Whether that flag is set; long work (parsing a file) checks it to stop early.
bool interrupt_requested();

// Bytes <-> lower-case hex, the encoding of byte strings inside JSON messages.
std::string to_hex(const std::string& bytes);
std::optional<std::string> from_hex(const std::string& hex);

}  // namespace fusecheck
