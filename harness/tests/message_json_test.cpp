// message_text() and parse_message() against nlohmann's dump() and parse(): the same text, the
// same values with the same number types, the same errors, on chosen edge cases and on random
// values.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>

#include "fusecheck/message_json.hpp"

using nlohmann::json;
using namespace fusecheck;

namespace {

std::string nlohmann_text(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

// Equal and of the same type throughout: nlohmann's == calls 5 and 5u equal.
::testing::AssertionResult same(const json& a, const json& b) {
  if (a.type() != b.type())
    return ::testing::AssertionFailure() << "types " << static_cast<int>(a.type()) << " vs "
                                         << static_cast<int>(b.type());
  if (a.is_array()) {
    if (a.size() != b.size()) return ::testing::AssertionFailure() << "array sizes differ";
    for (size_t i = 0; i < a.size(); ++i)
      if (auto r = same(a[i], b[i]); !r) return r << " at [" << i << "]";
    return ::testing::AssertionSuccess();
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return ::testing::AssertionFailure() << "object sizes differ";
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!b.contains(it.key())) return ::testing::AssertionFailure() << "no " << it.key();
      if (auto r = same(it.value(), b[it.key()]); !r) return r << " at ." << it.key();
    }
    return ::testing::AssertionSuccess();
  }
  if (a.is_number_float() && std::isnan(a.get<double>()) && std::isnan(b.get<double>()))
    return ::testing::AssertionSuccess();
  return a == b ? ::testing::AssertionSuccess() : ::testing::AssertionFailure() << a << " vs " << b;
}

void expect_like_nlohmann(const std::string& text) {
  SCOPED_TRACE(text);
  json expected;
  try {
    expected = json::parse(text);
  } catch (const json::parse_error& error) {
    EXPECT_THROW(parse_message(text), json::parse_error);
    return;
  }
  EXPECT_TRUE(same(parse_message(text), expected));
}

json edge_values() {
  json stat{{"dev", 45ULL}, {"ino", 18446744073709551615ULL}, {"atime", -1000000000LL}, {"type", "file"}};
  return json::array({nullptr,
                      true,
                      false,
                      0,
                      -1,
                      1u,
                      std::numeric_limits<int64_t>::min(),
                      std::numeric_limits<int64_t>::max(),
                      std::numeric_limits<uint64_t>::max(),
                      1.5,
                      -0.0,
                      1e300,
                      "",
                      "plain text",
                      "quote \" and backslash \\",
                      "tab\tnewline\n",
                      std::string("nul\0in", 6),
                      "del \x7f",
                      "caf\xc3\xa9",
                      "bad \xff\xfe utf-8",
                      json::array(),
                      json::object(),
                      json{{"ok", true}, {"r", stat}},
                      json{{"names", {"a", "b", ".."}}, {"n", {1, -2, 3u}}}});
}

json random_value(std::mt19937& random, int depth) {
  const int kind = static_cast<int>(random() % (depth > 3 ? 7 : 9));
  auto text = [&] {
    std::string s;
    const size_t size = random() % 12;
    for (size_t i = 0; i < size; ++i) s += static_cast<char>(random() % 4 == 0 ? random() % 256 : 'a' + random() % 26);
    return s;
  };
  switch (kind) {
    case 0: return nullptr;
    case 1: return random() % 2 == 0;
    case 2: return static_cast<int64_t>(random()) - static_cast<int64_t>(random()) * 65536;
    case 3: return static_cast<uint64_t>(random()) << (random() % 33);
    case 4: return static_cast<double>(random()) / 7.0;
    case 5:
    case 6: return text();
    case 7: {
      json array = json::array();
      for (size_t i = random() % 5; i > 0; --i) array.push_back(random_value(random, depth + 1));
      return array;
    }
    default: {
      json object = json::object();
      for (size_t i = random() % 5; i > 0; --i) object[text()] = random_value(random, depth + 1);
      return object;
    }
  }
}

}  // namespace

TEST(MessageJson, WritesWhatNlohmannWrites) {
  for (const auto& value : edge_values()) EXPECT_EQ(message_text(value), nlohmann_text(value));
  EXPECT_EQ(message_text(edge_values()), nlohmann_text(edge_values()));
}

TEST(MessageJson, ReadsWhatNlohmannReads) {
  for (const auto& value : edge_values()) expect_like_nlohmann(nlohmann_text(value));
  expect_like_nlohmann(nlohmann_text(edge_values()));
  for (const char* text : {"-0",
                           "0",
                           "18446744073709551615",
                           "18446744073709551616",
                           "-9223372036854775808",
                           "-9223372036854775809",
                           "1.5",
                           "1e5",
                           "2E-3",
                           "-",
                           "01",
                           "-01",
                           "[1,]",
                           "[,1]",
                           "{\"a\":1,}",
                           "{\"a\":1,\"a\":2}",
                           "{\"b\":1,\"a\":2}",
                           "\"\\u00e9\\n\"",
                           " \t\r\n{ \"a\" : [ 1 , 2 ] }\n",
                           "",
                           "   ",
                           "nul",
                           "nulls",
                           "truex",
                           "[",
                           "]",
                           "{\"a\" 1}",
                           "{1:2}",
                           "\"a\x01\"",
                           "\"unterminated",
                           "[1 2]",
                           "{}{}",
                           "\"\xc3\"",
                           "\"\x7f\"",
                           "[true,false,null]",
                           "{\"\":\"\"}"})
    expect_like_nlohmann(text);
  expect_like_nlohmann(std::string(100, '[') + std::string(100, ']'));
}

TEST(MessageJson, RandomValuesRoundTripAsInNlohmann) {
  std::mt19937 random(12);
  for (int i = 0; i < 3000; ++i) {
    json value = random_value(random, 0);
    const std::string text = nlohmann_text(value);
    ASSERT_EQ(message_text(value), text);
    expect_like_nlohmann(text);
  }
}
