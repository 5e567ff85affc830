// Fast JSON text for actor messages (see message_json.hpp): a writer and a recursive-descent
// reader for what the messages hold (objects, arrays, integers, plain ASCII strings), each
// handing anything else to nlohmann, so the results never differ from nlohmann's own.
#include "fusecheck/message_json.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>

namespace fusecheck {
namespace {

using nlohmann::json;

std::string nlohmann_text(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

// Printable ASCII without a quote or backslash: written as it is, with no escape.
bool plain(const std::string& text) {
  for (unsigned char c : text)
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
  return true;
}

void append_string(std::string& out, const std::string& text) {
  if (!plain(text)) {
    out += nlohmann_text(json(text));
    return;
  }
  out += '"';
  out += text;
  out += '"';
}

template <typename Number>
void append_number(std::string& out, Number number) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, number).ptr;
  out.append(digits, end);
}

void append_value(std::string& out, const json& value) {
  switch (value.type()) {
    case json::value_t::null: out += "null"; return;
    case json::value_t::boolean: out += value.get<bool>() ? "true" : "false"; return;
    case json::value_t::number_integer: append_number(out, value.get<json::number_integer_t>()); return;
    case json::value_t::number_unsigned: append_number(out, value.get<json::number_unsigned_t>()); return;
    case json::value_t::string: append_string(out, value.get_ref<const std::string&>()); return;
    case json::value_t::array: {
      out += '[';
      for (size_t i = 0; i < value.size(); ++i) {
        if (i > 0) out += ',';
        append_value(out, value[i]);
      }
      out += ']';
      return;
    }
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, member] : value.get_ref<const json::object_t&>()) {
        if (!first) out += ',';
        first = false;
        append_string(out, key);
        out += ':';
        append_value(out, member);
      }
      out += '}';
      return;
    }
    default: out += nlohmann_text(value);  // floats, binary, discarded: rare, and nlohmann's own format
  }
}

// Reads `text` when it holds only what the fast path knows; parse() is false otherwise (also
// for text that is not JSON at all), and nlohmann then reads it or says what is wrong.
class FastReader {
 public:
  explicit FastReader(const std::string& text) : at_(text.data()), end_(text.data() + text.size()) {}

  bool parse(json& out) {
    skip_space();
    if (!value(out, 0)) return false;
    skip_space();
    return at_ == end_;
  }

 private:
  static constexpr int kDeepest = 64;  // deeper nesting is left to nlohmann

  void skip_space() {
    while (at_ < end_ && (*at_ == ' ' || *at_ == '\n' || *at_ == '\r' || *at_ == '\t')) ++at_;
  }

  bool take(char c) {
    skip_space();
    if (at_ == end_ || *at_ != c) return false;
    ++at_;
    return true;
  }

  bool value(json& out, int depth) {
    if (at_ == end_ || depth > kDeepest) return false;
    switch (*at_) {
      case '{': return object(out, depth);
      case '[': return array(out, depth);
      case '"': {
        std::string text;
        if (!string(text)) return false;
        out = std::move(text);
        return true;
      }
      case 't': return word("true", json(true), out);
      case 'f': return word("false", json(false), out);
      case 'n': return word("null", json(nullptr), out);
      default: return number(out);
    }
  }

  bool word(const char* spelled, json meaning, json& out) {
    const size_t size = std::strlen(spelled);
    if (static_cast<size_t>(end_ - at_) < size || std::memcmp(at_, spelled, size) != 0) return false;
    at_ += size;
    out = std::move(meaning);
    return true;
  }

  // Printable ASCII up to the closing quote; an escape, a control character or a byte of a
  // multi-byte character (which nlohmann checks as UTF-8) is left to nlohmann.
  bool string(std::string& text) {
    const char* start = ++at_;
    while (at_ < end_ && *at_ != '"') {
      const auto c = static_cast<unsigned char>(*at_);
      if (c < 0x20 || c >= 0x80 || c == '\\') return false;
      ++at_;
    }
    if (at_ == end_) return false;
    text.assign(start, at_++);
    return true;
  }

  // An integer as nlohmann reads it: unsigned when not negative, else signed; a fraction, an
  // exponent or a value beyond 64 bits (nlohmann makes it a float) is left to nlohmann.
  bool number(json& out) {
    const bool negative = *at_ == '-';
    if (negative) ++at_;
    if (at_ == end_ || *at_ < '0' || *at_ > '9') return false;
    if (*at_ == '0' && at_ + 1 < end_ && at_[1] >= '0' && at_[1] <= '9') return false;
    uint64_t magnitude = 0;
    for (; at_ < end_ && *at_ >= '0' && *at_ <= '9'; ++at_) {
      const auto digit = static_cast<uint64_t>(*at_ - '0');
      if (magnitude > (UINT64_MAX - digit) / 10) return false;
      magnitude = magnitude * 10 + digit;
    }
    if (at_ < end_ && (*at_ == '.' || *at_ == 'e' || *at_ == 'E')) return false;
    if (!negative) {
      out = static_cast<json::number_unsigned_t>(magnitude);
      return true;
    }
    if (magnitude > uint64_t{1} << 63) return false;
    out = static_cast<json::number_integer_t>(0 - magnitude);
    return true;
  }

  // The elements of an array or the members of an object, read by `read_one` each, up to
  // `close`.
  template <typename ReadOne>
  bool sequence(char close, ReadOne read_one) {
    ++at_;
    if (take(close)) return true;
    do {
      skip_space();
      if (!read_one()) return false;
    } while (take(','));
    return take(close);
  }

  bool array(json& out, int depth) {
    out = json(json::value_t::array);
    auto& elements = out.get_ref<json::array_t&>();
    return sequence(']', [&] {
      json element;
      if (!value(element, depth + 1)) return false;
      elements.push_back(std::move(element));
      return true;
    });
  }

  // A repeated key keeps its last value, as in nlohmann.
  bool object(json& out, int depth) {
    out = json(json::value_t::object);
    auto& members = out.get_ref<json::object_t&>();
    return sequence('}', [&] {
      std::string key;
      if (at_ == end_ || *at_ != '"' || !string(key) || !take(':')) return false;
      skip_space();
      json member;
      if (!value(member, depth + 1)) return false;
      members.insert_or_assign(members.end(), std::move(key), std::move(member));  // keys come sorted
      return true;
    });
  }

  const char* at_;
  const char* end_;
};

}  // namespace

std::string message_text(const json& message) {
  std::string text;
  text.reserve(256);
  append_value(text, message);
  return text;
}

json parse_message(const std::string& text) {
  json value;
  if (FastReader(text).parse(value)) return value;
  return json::parse(text);
}

}  // namespace fusecheck
