// engine/duration.hpp — durations as emitters print them, to seconds.
//
// Dapr prints `2 days and 15 hours` (and, truncated, `1 days and 0 hours`), others print
// `1 day, 2 hours and 3 minutes`, `in 29 days`, `23 hours`, or Go's time.Duration.String()
// (`62h59m59.9s`, `720h0m0s`). Rule files write thresholds as `30s`, `15m`, `2h`, `7d`.
// One parser takes all of them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace klaxon {

/// The longest duration a line may state: 50 years (added to any instant klaxon accepts, before
/// 2200, it stays within int64 nanoseconds). Longer is no duration (nullopt).
inline constexpr std::int64_t kMaxDurationSeconds = 50LL * 36525 * 864;

/// Parses a duration; fractions of a second are dropped. Returns nullopt when `text` holds no
/// duration at all, or something other than a duration before its end (trailing punctuation
/// and words after at least one component are ignored: `2 days and 15 hours.` is fine).
std::optional<std::int64_t> parse_duration_seconds(std::string_view text) noexcept;

/// Seconds as the two largest units, as kubectl prints ages: `2d15h`, `23h5m`, `45s`.
std::string format_duration(std::int64_t seconds);

}  // namespace klaxon
