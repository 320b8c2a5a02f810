#include "engine/printable.hpp"

#include <fmt/format.h>

namespace klaxon {
namespace {

// What a lead byte says of its sequence: its length (0: not a lead byte) and the range of the
// second byte (Unicode table 3-7, well-formed byte sequences: no overlong forms, no surrogates,
// nothing past U+10FFFF).
struct Lead {
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;
};

Lead lead_of(unsigned char b) {
  if (b < 0x80) return {1};
  if (b >= 0xC2 && b <= 0xDF) return {2};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {3};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {};
}

// The bytes at the start of `s` that could begin a valid sequence: all of it when it is one
// (`code` then holds its code point), else its maximal subpart, at least one byte (Unicode's
// "substitution of maximal subparts": one U+FFFD for each).
std::size_t utf8_prefix(std::string_view s, bool& valid, char32_t& code) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const Lead lead = lead_of(byte(0));
  valid = false;
  if (lead.length == 0) return 1;
  code = lead.length == 1 ? byte(0) : byte(0) & (0xFF >> (lead.length + 1));
  std::size_t i = 1;
  for (; i < lead.length && i < s.size(); ++i) {
    const unsigned char low = i == 1 ? lead.low : 0x80, high = i == 1 ? lead.high : 0xBF;
    if (byte(i) < low || byte(i) > high) break;
    code = (code << 6) | (byte(i) & 0x3F);
  }
  valid = i == lead.length;
  return i;
}

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    bool valid;
    char32_t code = 0;
    const std::size_t n = utf8_prefix(text, valid, code);
    if (valid && code >= 0x20 && code != 0x7F && !(code >= 0x80 && code <= 0x9F)) {
      out.append(text.substr(0, n));
    } else {
      for (std::size_t i = 0; i < n; ++i) out += fmt::format("\\x{:02X}", unsigned(static_cast<unsigned char>(text[i])));
    }
    text.remove_prefix(n);
  }
  return out;
}

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    bool valid;
    char32_t code;
    const std::size_t n = utf8_prefix(text, valid, code);
    if (valid) out.append(text.substr(0, n));
    else out += "\xEF\xBF\xBD";  // U+FFFD
    text.remove_prefix(n);
  }
  return out;
}

std::string redact_url(std::string_view url) {
  std::string out;
  if (const std::size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    out = std::string(url.substr(0, scheme + 3));
    url.remove_prefix(scheme + 3);
  }
  const std::size_t end = url.find_first_of("/?#");
  std::string_view authority = url.substr(0, end);
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  out += printable(authority);
  if (end != std::string_view::npos && end + 1 < url.size()) out += "/…";
  return out;
}

}  // namespace klaxon
