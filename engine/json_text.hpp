// engine/json_text.hpp — writing JSON strings that are always valid, whatever the input bytes.
//
// Log lines may hold NUL bytes, control characters and invalid UTF-8; the machine output must
// still be one valid JSON object per line. Invalid UTF-8 sequences become U+FFFD; control
// characters, C1 (U+0080..U+009F) included, are escaped as \u00XX.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

namespace klaxon {

/// Appends `text` as a quoted JSON string. Returns false when invalid UTF-8 had to be replaced.
bool append_json_string(std::string& out, std::string_view text);

/// Appends {"key":value,...} from pairs (a vector of pairs or a map) whose values are text
/// (written as JSON strings) or numbers.
template <typename Pairs>
void append_json_object(std::string& out, const Pairs& pairs) {
  out += '{';
  bool first = true;
  for (const auto& [key, value] : pairs) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, key);
    out += ':';
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(value)>>) out += std::to_string(value);
    else append_json_string(out, value);
  }
  out += '}';
}

/// True when `text` is valid UTF-8.
bool is_valid_utf8(std::string_view text) noexcept;

}  // namespace klaxon
