// Private to the binding: the few parts of the FUSE wire format (linux/fuse.h) that the relay
// (relay.cpp) reads and writes in raw kernel messages: headers, FORGET lists, INTERRUPT
// targets, what a reply tells the trace (and a fault rule's changes to it), and the replies
// the relay answers itself. Everything else in a message passes through untouched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "observe_impl.hpp"

namespace fusepp::wire {

// How the relay treats a request from the kernel.
enum class RequestKind {
  recorded,   // a named opcode (LOOKUP, GETATTR...): traced, fault rules apply
  forget,     // FORGET, BATCH_FORGET: traced, never answered
  interrupt,  // INTERRUPT: may concern a request the relay holds
  passed,     // INIT, DESTROY, NOTIFY_REPLY, unknown opcodes: passed on untouched, not traced
};

struct RequestHeader {
  uint32_t opcode = 0;
  uint64_t unique = 0;
};
// False when the message is shorter than a header.
bool read_request_header(const char* message, size_t length, RequestHeader* out);
RequestKind classify(uint32_t opcode);
// The unique of the request an INTERRUPT is about (0 when the message is short).
uint64_t interrupt_target(const char* message, size_t length);
// FORGET's or BATCH_FORGET's (node, nlookup) pairs.
std::vector<std::pair<uint64_t, uint64_t>> forget_list(const char* message, size_t length);

// The length a reply's header announces (0 when the message is shorter than a header).
size_t reply_length(const char* message, size_t length);
// A reply's unique (0 for a notification from the daemon; also 0 when the message is short).
uint64_t reply_unique(const char* message, size_t length);
// What the reply to a request of `opcode` tells the trace and the balance; first applies the
// rule's reply changes to a successful reply in place.
ReplyFacts describe_reply(uint32_t opcode, char* message, size_t length, const ReplyOverride& change);
// True for LOOKUP answered ENOENT: a rule's negative_timeout turns it into a negative entry.
bool is_lookup_enoent(uint32_t opcode, const char* message, size_t length);

bool is_opendir(uint32_t opcode);

// A FORGET of nlookup references to node, and a RELEASE (RELEASEDIR) of an open handle, as
// the kernel would send them.
std::vector<char> forget_request(uint64_t unique, uint64_t node, uint64_t nlookup);
std::vector<char> release_request(uint64_t unique, bool dir, uint64_t node, uint64_t fh);
// A timeout in seconds as a reply's whole seconds and nanoseconds, rounded as libfuse 3.14
// rounds it (negative and NaN: 0; beyond 2^64 s: the most there is).
void split_timeout(double seconds, uint64_t* whole, uint32_t* nsec);

// Replies the relay sends the kernel itself.
std::vector<char> error_reply(uint64_t unique, int err);
std::vector<char> negative_entry_reply(uint64_t unique, double timeout);

}  // namespace fusepp::wire
