// engine/json_text.hpp — writing JSON strings that are always valid, whatever the input bytes.
//
// Log lines may hold NUL bytes, control characters and invalid UTF-8; the machine output must
// still be one valid JSON object per line. Invalid UTF-8 sequences become U+FFFD.
#pragma once

#include <string>
#include <string_view>

namespace klaxon {

/// Appends `text` as a quoted JSON string. Returns false when invalid UTF-8 had to be replaced.
bool append_json_string(std::string& out, std::string_view text);

/// True when `text` is valid UTF-8.
bool is_valid_utf8(std::string_view text) noexcept;

}  // namespace klaxon
