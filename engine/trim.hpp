// engine/trim.hpp — text without what surrounds it.
//
// One trim for the whole tree: a header value, a line of a credentials file, a rule's
// condition, kubectl's stderr, an instant quoted in a log line. They differ only in what counts
// as padding, so that is the argument (blanks unless said), not a sixth copy of the loop.
#pragma once

#include <string_view>

namespace klaxon {

/// Space, tab, and the line ends a file or a peer leaves.
inline constexpr std::string_view kBlanks = " \t\r\n";

/// `text` without leading and trailing characters of `padding`.
constexpr std::string_view trim(std::string_view text, std::string_view padding = kBlanks) noexcept {
  const std::size_t first = text.find_first_not_of(padding);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(padding) - first + 1);
}

/// `text` without trailing characters of `padding`.
constexpr std::string_view trim_right(std::string_view text, std::string_view padding = kBlanks) noexcept {
  const std::size_t last = text.find_last_not_of(padding);
  return last == std::string_view::npos ? std::string_view() : text.substr(0, last + 1);
}

}  // namespace klaxon
