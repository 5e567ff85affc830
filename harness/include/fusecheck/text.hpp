// Text that leaves the harness: words quoted for a POSIX shell (rerun commands, exec:
// targets' {mnt}/{src}/{opts}), and names made safe to print (terminal, JUnit XML) or to
// store in JSON without losing a byte (docs/architecture.md, "Errors in the harness").
#pragma once

#include <string>
#include <string_view>

namespace fusecheck {

// `word` as one shell word: unchanged when it has only safe characters, else in single
// quotes ('it'\''s').
std::string shell_quote(std::string_view word);

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or bytes past U+10FFFF).
bool valid_utf8(std::string_view text);

// For a terminal or XML: valid UTF-8 and newlines (when kept) stay; every other control
// character, DEL and each byte that is not valid UTF-8 becomes \xHH, and a backslash that
// could be read as such an escape stays a plain backslash (display only, not reversible).
std::string printable(std::string_view text, bool keep_newlines = true);

// Hex digits of every byte, for JSON's "_hex" companions of strings that are not UTF-8.
std::string hex_bytes(std::string_view bytes);

}  // namespace fusecheck
