// JSON strings from any bytes: what a line holds must come out escaped, whatever its length and
// wherever the byte that needs escaping sits (the fast path looks at 8 bytes at a time).
#include "engine/json_text.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace klaxon {
namespace {

// One byte at a time, as JSON (RFC 8259) says: the reference for ASCII input.
std::string escaped_slowly(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else out += char(c);
  }
  return out + "\"";
}

TEST(JsonText, EveryByteThatNeedsEscapingIsEscapedWhereverItSits) {
  // Plain text with one special byte (or a few) at every offset of lines of every length.
  const std::string specials = std::string("\"\\\n\r\t\x01\x1f\x7f", 8) + std::string(1, '\0');
  std::mt19937 rng(5);
  for (std::size_t size = 0; size < 40; ++size)
    for (std::size_t at = 0; at <= size; ++at)
      for (char special : specials) {
        std::string text(size, 'a');
        for (char& c : text) c = char(' ' + rng() % 95);  // printable ASCII, quotes and backslashes included
        if (at < size) text[at] = special;
        std::string out;
        EXPECT_TRUE(append_json_string(out, text));
        ASSERT_EQ(out, escaped_slowly(text)) << "size " << size << ", byte " << int(special) << " at " << at;
      }
}

TEST(JsonText, InvalidUtf8BecomesTheReplacementCharacterAndValidUtf8StaysAsItIs) {
  for (std::size_t at = 0; at < 20; ++at) {
    const std::string pad(at, 'x');
    std::string out;
    EXPECT_TRUE(append_json_string(out, pad + "caf\xC3\xA9 \xE2\x80\xBC" + pad));
    EXPECT_EQ(out, "\"" + pad + "caf\xC3\xA9 \xE2\x80\xBC" + pad + "\"");
    EXPECT_TRUE(is_valid_utf8(pad + "\xF0\x9F\x94\x92" + pad));
    out.clear();
    EXPECT_FALSE(append_json_string(out, pad + "\xFF" + pad + "\xC3"));
    EXPECT_EQ(out, "\"" + pad + "\xEF\xBF\xBD" + pad + "\xEF\xBF\xBD\"");
    EXPECT_FALSE(is_valid_utf8(pad + "\xED\xA0\x80" + pad));  // a surrogate
    EXPECT_FALSE(is_valid_utf8(pad + "\xC0\xAF"));            // overlong
  }
}

TEST(JsonText, C1ControlsAreEscapedAndTheCharactersAroundThemStay) {
  // U+009B is an 8-bit CSI: `jq -r` would hand it to the terminal raw. U+00A0 (no-break space),
  // the first character past C1, stays as it is.
  for (std::size_t at = 0; at < 12; ++at) {
    const std::string pad(at, 'x');
    std::string out;
    EXPECT_TRUE(append_json_string(out, pad + "\xC2\x80\xC2\x9B" "31m\xC2\x9F\xC2\xA0\xC3\xA9" + pad));
    EXPECT_EQ(out, "\"" + pad + "\\u0080\\u009b31m\\u009f\xC2\xA0\xC3\xA9" + pad + "\"");
  }
}

}  // namespace
}  // namespace klaxon
