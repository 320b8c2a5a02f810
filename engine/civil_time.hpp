// engine/civil_time.hpp — instants as log lines print them, to and from unix nanoseconds.
//
// Log lines carry time in a handful of shapes (RFC3339Nano from the kubelet and zap, Go's
// time.Time.String() in x509 errors, unix seconds in rustls errors, RFC1123 and OpenSSL's
// notAfter in CLI output, Java's Date.toString()). Everything in klaxon is UTC unix nanoseconds
// (`Nanos`); 0 means "unknown". Parsing is allocation-free and never throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace klaxon {

/// Unix time in nanoseconds, UTC. 0 = unknown.
using Nanos = std::int64_t;
inline constexpr Nanos kNanosPerSecond = 1'000'000'000;

/// The instants klaxon takes from a line lie in [1970, 2200): a log line's text is not trusted,
/// and an instant or a sum with one stays far from the end of int64 nanoseconds (2262).
inline constexpr Nanos kLatestInstant = 7'258'118'400LL * kNanosPerSecond;  // 2200-01-01T00:00:00Z

/// Now, by the system's wall clock: the one reading of it that live runs, the state directory
/// and the pages share (a replay's clock is its lines', never this).
Nanos wall_now() noexcept;

/// Days since 1970-01-01 of a proleptic Gregorian date.
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) noexcept;

/// Parses an RFC3339 instant at the start of `text` (`2023-06-19T13:19:51Z`,
/// `2024-04-01T23:43:35.931825236Z`, `...+02:00`; a space may stand for `T`).
/// On success returns the instant and sets `*consumed` (if given) to the bytes used; years
/// outside [1970, 2200) are refused.
std::optional<Nanos> parse_rfc3339_prefix(std::string_view text, std::size_t* consumed = nullptr) noexcept;

/// Parses a whole instant in any shape klaxon knows: RFC3339, Go's
/// `2023-06-16 12:31:17 +0000 UTC`, unix seconds (`1761177843`, 9-11 digits), RFC1123
/// (`Wed, 18 Jun 2025 13:37:30 UTC`), OpenSSL's `Jun 18 13:37:30 2025 GMT`, Java's
/// `Mon Jan 01 00:00:00 UTC 2024`, .NET's short date `5/29/2023` (month first; midnight UTC).
/// Leading and trailing blanks and punctuation are ignored. An instant outside [1970, 2200) is
/// no instant (nullopt).
std::optional<Nanos> parse_instant(std::string_view text) noexcept;

/// `2023-06-16T12:31:17Z` (whole seconds).
std::string format_rfc3339(Nanos t);
/// `2024-04-01T23:43:35.931825236Z` (nanoseconds, trailing zeros kept off).
std::string format_rfc3339_nano(Nanos t);
/// The same, appended to `out` (no string of its own: the output path's way).
void append_rfc3339(std::string& out, Nanos t);
void append_rfc3339_nano(std::string& out, Nanos t);

}  // namespace klaxon
