#include "engine/json_text.hpp"

#include <cstdint>
#include <cstring>

namespace klaxon {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid (RFC 3629:
// no overlongs, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  auto cont = [&](std::size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    const unsigned char c1 = byte(i + 1);
    if (c == 0xE0 && c1 < 0xA0) return 0;  // overlong
    if (c == 0xED && c1 > 0x9F) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    const unsigned char c1 = byte(i + 1);
    if (c == 0xF0 && c1 < 0x90) return 0;
    if (c == 0xF4 && c1 > 0x8F) return 0;
    return 4;
  }
  return 0;
}

// Eight bytes at a time: a log line is mostly printable ASCII, which needs neither escaping nor
// UTF-8 checks, so both loops skip such words whole. Bit 7 of byte k of the result is set when
// byte k of `x` is below 0x20, a quote, a backslash, or 0x7F and above (no false negatives, no
// carries between bytes).
constexpr std::uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;

std::uint64_t load8(const char* p) {
  std::uint64_t x;
  std::memcpy(&x, p, 8);
  return x;
}
// Flags the zero bytes of x (and may flag a 0x01 above one: harmless, the slow loop decides).
std::uint64_t zero_bytes(std::uint64_t x) { return (x - kOnes) & ~x & kHigh; }
std::uint64_t needs_a_look(std::uint64_t x) {
  const std::uint64_t low7 = x & ~kHigh;
  const std::uint64_t control = ~(low7 + (0x80 - 0x20) * kOnes) & kHigh;  // below 0x20 (7-bit part)
  const std::uint64_t del = (low7 + kOnes) & kHigh;                       // 0x7F
  return control | del | (x & kHigh) | zero_bytes(x ^ (kOnes * '"')) | zero_bytes(x ^ (kOnes * '\\'));
}

}  // namespace

bool is_valid_utf8(std::string_view s) noexcept {
  std::size_t ascii = 0;
  while (ascii + 8 <= s.size() && (load8(s.data() + ascii) & kHigh) == 0) ascii += 8;
  for (std::size_t i = ascii; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  bool valid = true;
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    // Runs of plain ASCII are copied whole; only what JSON or UTF-8 cares about is looked at.
    std::size_t run = i;
    while (run + 8 <= s.size() && needs_a_look(load8(s.data() + run)) == 0) run += 8;
    while (run < s.size()) {
      const unsigned char r = static_cast<unsigned char>(s[run]);
      if (r < 0x20 || r == '"' || r == '\\' || r >= 0x7F) break;
      ++run;
    }
    out.append(s.data() + i, run - i);
    i = run;
    if (i >= s.size()) break;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence(s, i);
      if (n == 0) {
        out.append("\xEF\xBF\xBD");
        valid = false;
        ++i;
      } else if (n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
        // U+0080..U+009F, the C1 controls (U+009B is CSI): valid JSON raw, but a terminal that
        // shows `jq -r`'s output would act on them, so they are escaped like C0.
        const unsigned char cp = static_cast<unsigned char>(s[i + 1]);
        out.append("\\u00");
        out.push_back(kHex[cp >> 4]);
        out.push_back(kHex[cp & 15]);
        i += 2;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(char(c));
        }
    }
    ++i;
  }
  out.push_back('"');
  return valid;
}

}  // namespace klaxon
