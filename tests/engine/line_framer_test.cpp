#include "engine/line_framer.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace klaxon {
namespace {

struct Framed {
  std::vector<std::string> lines;
  std::vector<bool> cut;
};

Framed frame(std::string_view text, std::size_t chunk, std::size_t max = LineFramer::kDefaultMaxLineBytes) {
  Framed f;
  LineFramer framer(max);
  auto on = [&](std::string_view l, bool t) {
    f.lines.emplace_back(l);
    f.cut.push_back(t);
  };
  for (std::size_t i = 0; i < text.size(); i += chunk) framer.feed(text.substr(i, chunk), on);
  framer.finish(on);
  return f;
}

TEST(LineFramer, SameLinesWhateverTheChunking) {
  const std::string text = "first\r\nsecond\n\nfourth has no newline";
  const std::vector<std::string> want = {"first", "second", "", "fourth has no newline"};
  for (std::size_t chunk = 1; chunk <= text.size(); ++chunk) EXPECT_EQ(frame(text, chunk).lines, want) << chunk;
}

TEST(LineFramer, CutsALongLineKeepsItsHeadAndTheLinesAfterIt) {
  const std::string text = "short\n" + std::string(100, 'x') + "TAIL\nafter\n";
  for (std::size_t chunk : {1ul, 7ul, 64ul, 4096ul}) {
    Framed f = frame(text, chunk, 50);
    ASSERT_EQ(f.lines.size(), 3u) << chunk;
    EXPECT_EQ(f.lines[1], std::string(50, 'x'));
    EXPECT_TRUE(f.cut[1]);
    EXPECT_FALSE(f.cut[0]);
    EXPECT_EQ(f.lines[2], "after");
    EXPECT_FALSE(f.cut[2]);
  }
}

TEST(LineFramer, CountsCutLinesAndCutsAFinalLineWithoutNewline) {
  LineFramer framer(4);
  int lines = 0;
  auto on = [&](std::string_view, bool) { ++lines; };
  framer.feed("123456\n12\n1234567", on);
  framer.finish(on);
  EXPECT_EQ(lines, 3);
  EXPECT_EQ(framer.truncated_lines(), 2u);
}

TEST(LineFramer, NulBytesAndInvalidUtf8AreJustBytes) {
  const std::string text = std::string("a\0b\n", 4) + "\xff\xfe bad\n" + "ok\n";
  Framed f = frame(text, 3);
  ASSERT_EQ(f.lines.size(), 3u);
  EXPECT_EQ(f.lines[0], std::string("a\0b", 3));
  EXPECT_EQ(f.lines[1], "\xff\xfe bad");
  EXPECT_EQ(f.lines[2], "ok");
}

TEST(LineFramer, EmptyInputGivesNoLines) { EXPECT_TRUE(frame("", 1).lines.empty()); }

}  // namespace
}  // namespace klaxon
