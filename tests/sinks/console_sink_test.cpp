// The terminal's text helpers: what an operator sees of a long, hostile or foreign line.
#include <gtest/gtest.h>

#include <cstdlib>

#include "adapters/sinks/console_sink.hpp"

namespace klaxon::sinks {
namespace {

TEST(ConsoleSink, ColumnsCountCodePointsAndSkipColour) {
  EXPECT_EQ(display_columns("abc"), 3u);
  EXPECT_EQ(display_columns("×3 ▲ 証明書"), 8u);
  EXPECT_EQ(display_columns("\x1b[1;31mCRIT\x1b[0m"), 4u);
}

TEST(ConsoleSink, ALongMessageIsCutAroundWhatTheRuleMatched) {
  const std::string head(200, 'h'), tail(200, 't');
  const std::string text = head + "x509: certificate has expired" + tail;
  const std::size_t at = head.size();
  const std::string cut = shorten_around(text, at, at + 29, 60);
  EXPECT_EQ(display_columns(cut), 60u) << cut;
  EXPECT_NE(cut.find("x509: certificate has expired"), std::string::npos) << cut;
  EXPECT_EQ(cut.rfind("…", 0), 0u) << "the cut head is marked: " << cut;
  EXPECT_NE(cut.find("t…"), std::string::npos) << "the cut tail is marked: " << cut;
  // No match known: the head.
  const std::string plain = shorten_around(text, 0, 0, 30);
  EXPECT_EQ(plain, std::string(29, 'h') + "…");
  // A match longer than the room: its head and its tail, where a regex's fixed phrases are.
  const std::string key = "error from authenticator " + std::string(100, 'm') + " certificate has expired";
  const std::string long_cut = shorten_around("pre " + key + " post", 4, 4 + key.size(), 50);
  EXPECT_LE(display_columns(long_cut), 50u) << long_cut;
  EXPECT_NE(long_cut.find("error from"), std::string::npos) << long_cut;
  EXPECT_NE(long_cut.find("has expired"), std::string::npos) << long_cut;
  // Short enough: untouched.
  EXPECT_EQ(shorten_around("short", 0, 5, 80), "short");
}

TEST(ConsoleSink, CutsNeverSplitACharacter) {
  std::string text;
  for (int i = 0; i < 50; ++i) text += "証明";
  for (std::size_t width : {5u, 10u, 17u, 33u}) {
    const std::string cut = cut_to_columns(text, width);
    EXPECT_EQ(display_columns(cut), width);
    EXPECT_EQ(terminal_safe(cut), cut) << "valid UTF-8 after the cut at " << width;
    const std::string around = shorten_around(text, 30, 36, width);
    EXPECT_LE(display_columns(around), width);
    EXPECT_EQ(terminal_safe(around), around);
  }
  // A colour open at the cut is closed.
  EXPECT_EQ(cut_to_columns("\x1b[1;31mCRITICAL\x1b[0m", 4), "\x1b[1;31mCRI…\x1b[0m");
}

TEST(ConsoleSink, TextFromALogLineCannotDriveTheTerminal) {
  // ESC, CSI as a C1 control (U+009B), a bidi override, a broken sequence: as long, inert.
  const std::string hostile = "a\x1b]0;pwned\x07 b\xC2\x9B" "31m c\xE2\x80\xAE" "d \xFF\xC3(";
  const std::string safe = terminal_safe(hostile);
  EXPECT_EQ(safe.size(), hostile.size());
  EXPECT_EQ(safe.find('\x1b'), std::string::npos);
  EXPECT_EQ(safe.find('\x07'), std::string::npos);
  EXPECT_EQ(safe.find("\xC2\x9B"), std::string::npos);
  EXPECT_EQ(safe.find("\xE2\x80\xAE"), std::string::npos);
  EXPECT_EQ(safe, "a ]0;pwned  b\xC2\xB7" "31m c\xEF\xBF\xBD" "d ?" "?(");
  EXPECT_EQ(terminal_safe("ok: 証明書 ×3"), "ok: 証明書 ×3");
}

TEST(ConsoleSink, WidthIsColumnsElseTheTerminalElseNone) {
  ::setenv("COLUMNS", "93", 1);
  EXPECT_EQ(terminal_width(-1), 93u);
  ::setenv("COLUMNS", "wide", 1);
  EXPECT_EQ(terminal_width(-1), 0u) << "not a number: ignored, and -1 is no terminal";
  ::unsetenv("COLUMNS");
  EXPECT_EQ(terminal_width(-1), 0u);
}

}  // namespace
}  // namespace klaxon::sinks
