// engine/printable.hpp — text from a log line or a peer, made safe for where it goes.
//
// Pod names, labels, captures, decoded fields, a Loki error body, kubectl's stderr, a
// certificate's subject: none of it is ours, and any of it may hold ESC `[8m` (hides what
// follows), an OSC sequence (retitles the window, or writes to the clipboard), an 8-bit CSI
// (0x9B) or bytes that are not UTF-8 at all. Printed raw, a log line can rewrite the operator's
// terminal. Metric labels must be valid UTF-8 or Prometheus refuses the whole scrape.
//
// printable() is for terminals (stdout, stderr); valid_utf8() is for formats that only need
// UTF-8 (Prometheus labels, JSON escapes its own control characters). Secrets are the other
// half of hygiene: redact_url() is what may be said of a URL.
#pragma once

#include <string>
#include <string_view>

namespace klaxon {

/// `text` with every control character (C0, DEL, and C1 as U+0080..U+009F) and every byte that
/// is not part of valid UTF-8 written as `\xNN`, so that nothing reaches a terminal that it would
/// act on. Valid UTF-8 otherwise passes unchanged; a backslash stays a backslash.
std::string printable(std::string_view text);

/// `text` with every invalid UTF-8 sequence (stray continuation bytes, truncated or overlong
/// sequences, surrogates, code points past U+10FFFF) replaced by U+FFFD, one per maximal invalid
/// subpart (as Unicode's "substitution of maximal subparts" recommends).
std::string valid_utf8(std::string_view text);

/// A URL as it may be printed or exported: scheme and host[:port] only (printable), `/…` for a
/// path or query, no `user:pass@`. For Slack and many webhooks the path *is* the secret.
std::string redact_url(std::string_view url);

}  // namespace klaxon
