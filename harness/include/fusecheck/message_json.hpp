// The JSON text of the harness <-> actor messages, written and read quickly: every step is one
// request and one reply, and nlohmann's own dump() and parse() were most of a step's CPU
// (docs/architecture.md, "Actors"). Results are exactly nlohmann's; what the fast paths do not
// cover (floats, escaped or non-ASCII strings) goes through nlohmann itself.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace fusecheck {

// The same text as message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).
std::string message_text(const nlohmann::json& message);

// The same value as nlohmann::json::parse(text), and the same exception on bad input.
nlohmann::json parse_message(const std::string& text);

}  // namespace fusecheck
