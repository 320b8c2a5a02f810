// Text from log lines and peers made safe for a terminal, for a metric label, and URLs made
// safe to print.
#include <gtest/gtest.h>

#include "engine/printable.hpp"

namespace klaxon {
namespace {

TEST(Printable, ControlCharactersAndBytesThatAreNotUtf8AreWrittenAsHex) {
  EXPECT_EQ(printable("plain text, ümlaut, 日本, 🙂, back\\slash"), "plain text, ümlaut, 日本, 🙂, back\\slash");
  EXPECT_EQ(printable("\x1b[8mhidden"), "\\x1B[8mhidden");                  // ESC: hides what follows
  EXPECT_EQ(printable("\x1b]0;owned\x07"), "\\x1B]0;owned\\x07");            // OSC: retitles the window
  EXPECT_EQ(printable("a\nb\rc\td\x7f"), "a\\x0Ab\\x0Dc\\x09d\\x7F");
  EXPECT_EQ(printable("\xc2\x9b" "31m"), "\\xC2\\x9B31m");                   // C1 CSI, as UTF-8
  EXPECT_EQ(printable("\x9b" "31m"), "\\x9B31m");                            // C1 CSI, a raw byte
  EXPECT_EQ(printable("\xff\xfe"), "\\xFF\\xFE");
  EXPECT_EQ(printable("\xe2\x82"), "\\xE2\\x82");                            // cut short
  EXPECT_EQ(printable("\xc0\x80"), "\\xC0\\x80");                            // overlong NUL
  EXPECT_EQ(printable(std::string_view("nul\0here", 8)), "nul\\x00here");
  EXPECT_EQ(printable(printable("\x1b[8m")), printable("\x1b[8m")) << "escaping twice changes nothing";
}

TEST(Printable, InvalidUtf8BecomesOneReplacementCharacterPerMaximalSubpart) {
  const std::string r = "\xef\xbf\xbd";
  EXPECT_EQ(valid_utf8("café 日本 🙂"), "café 日本 🙂");
  EXPECT_EQ(valid_utf8("a\xff" "b"), "a" + r + "b");
  EXPECT_EQ(valid_utf8("\xe2\x82" "x"), r + "x");                 // a truncated sequence is one
  EXPECT_EQ(valid_utf8("\xf0\x9f\x99"), r);                       // so is a truncated emoji
  EXPECT_EQ(valid_utf8("\xed\xa0\x80"), r + r + r);               // a surrogate: no valid prefix
  EXPECT_EQ(valid_utf8("\xf4\x90\x80\x80"), r + r + r + r);       // past U+10FFFF
  EXPECT_EQ(valid_utf8("\xc0\xaf"), r + r);                       // overlong
  EXPECT_EQ(valid_utf8("\x80\x80"), r + r);                       // stray continuation bytes
  EXPECT_EQ(valid_utf8("\x1b[1m"), "\x1b[1m") << "control characters are the destination's to escape";
}

TEST(RedactUrl, KeepsSchemeAndHostOnly) {
  EXPECT_EQ(redact_url("https://hooks.slack.com/services/T0/B0/secret"), "https://hooks.slack.com/…");
  EXPECT_EQ(redact_url("https://user:pass@example.com:8443/x?token=t"), "https://example.com:8443/…");
  EXPECT_EQ(redact_url("http://127.0.0.1:9093"), "http://127.0.0.1:9093");
  EXPECT_EQ(redact_url("http://127.0.0.1:9093/"), "http://127.0.0.1:9093");
  EXPECT_EQ(redact_url("http://[::1]:9093?k=v"), "http://[::1]:9093/…");
  EXPECT_EQ(redact_url("hooks.example.com/T/B/secret"), "hooks.example.com/…");
  EXPECT_EQ(redact_url("http://a:b@c@evil\x1b[8m/x"), "http://evil\\x1B[8m/…");
}

}  // namespace
}  // namespace klaxon
