#include "engine/stream_classifier.hpp"

#include <gtest/gtest.h>

#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

class StreamTest : public ::testing::Test {
 protected:
  Matcher m = test::two_rule_matcher();
};

TEST_F(StreamTest, SameResultForEveryChunkSize) {
  std::string text;
  for (int i = 0; i < 50; ++i) {
    text += "2023-06-19T13:19:5" + std::to_string(i % 10) + ".1Z stderr F {\"msg\":\"ok " + std::to_string(i) + "\"}\n";
    if (i % 7 == 3) text += "2023-06-19T13:20:00Z stdout F E0601 02:52:46.531050 1 x.go:1] http2: client connection lost\r\n";
    if (i % 11 == 5) text += "[pod/app-1/daprd] {\"msg\":\"x509: certificate has expired\",\"time\":\"2023-06-19T13:00:00Z\"}\n";
  }
  text += "certificate has expired (last line, no newline)";
  StreamStats whole_stats;
  const auto whole = test::classify(m, text, 0, &whole_stats);
  ASSERT_EQ(whole.size(), 7u + 5u + 1u);
  EXPECT_EQ(whole_stats.lines, 50u + 7u + 5u + 1u);
  for (std::size_t chunk : {1ul, 2ul, 3ul, 17ul, 100ul, 4096ul}) {
    StreamStats stats;
    EXPECT_EQ(test::classify(m, text, chunk, &stats), whole) << chunk;
    EXPECT_EQ(stats.lines, whole_stats.lines) << chunk;
  }
}

TEST_F(StreamTest, JoinsCriPartialPiecesAndCountsTheLineWhereItStarts) {
  const std::string text =
      "2023-06-19T13:19:53Z stdout F first\n"
      "2023-06-19T13:19:54Z stderr P {\"msg\":\"x509: certificate has \n"
      "2023-06-19T13:19:54Z stderr P exp\n"
      "2023-06-19T13:19:54Z stderr F ired\",\"level\":\"error\"}\n"
      "2023-06-19T13:19:55Z stdout F http2: client connection lost\n";
  for (std::size_t chunk : {1ul, 5ul, 0ul}) {
    StreamStats stats;
    auto seen = test::classify(m, text, chunk, &stats);
    ASSERT_EQ(seen.size(), 2u) << chunk;
    EXPECT_EQ(seen[0].rule, "t.expired");
    EXPECT_EQ(seen[0].line_no, 2u);
    EXPECT_EQ(seen[1].rule, "t.lost");
    EXPECT_EQ(seen[1].line_no, 5u);
    EXPECT_EQ(stats.lines, 3u);
  }
}

TEST_F(StreamTest, AHugeLineIsCutCountedAndTheRestStillClassified) {
  const std::string huge = "certificate has expired " + std::string(10 << 20, 'x') + "\n";
  const std::string text = "http2: client connection lost\n" + huge + "http2: client connection lost\n";
  StreamStats stats;
  auto seen = test::classify(m, text, 64 * 1024, &stats, 1 << 20);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].rule, "t.expired");  // matched on its head
  EXPECT_EQ(seen[2].line_no, 3u);
  EXPECT_EQ(stats.truncated, 1u);
}

TEST_F(StreamTest, BrokenJsonAndInvalidUtf8AreCountedOnceEachAndNothingIsLost) {
  std::vector<StreamNotice::Kind> notices;
  std::vector<std::uint64_t> lines;
  StreamOptions options;
  StreamClassifier s(m, "t", {}, options, [&](const ClassifiedLine& l) { lines.push_back(l.line_no); },
                     [&](const StreamNotice& n) { notices.push_back(n.kind); });
  s.feed("{\"msg\":\"certificate has expired\n");        // broken JSON: read as text
  s.feed("{\"msg\":\"certificate has expired\", bad}\n");  // broken again: counted, not said again
  s.feed("\xff\xfe certificate has expired \xc3\n");       // invalid UTF-8
  s.feed(std::string("nul\0 http2: client connection lost\n", 35));
  s.finish();
  EXPECT_EQ(lines, (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(s.stats().malformed_json, 2u);
  EXPECT_EQ(s.stats().invalid_utf8, 1u);
  EXPECT_EQ(notices, (std::vector<StreamNotice::Kind>{StreamNotice::Kind::malformed_json, StreamNotice::Kind::invalid_utf8}));
}

TEST_F(StreamTest, EmptyStreamIsFine) {
  StreamStats stats;
  EXPECT_TRUE(test::classify(m, "", 0, &stats).empty());
  EXPECT_EQ(stats.lines, 0u);
}

TEST_F(StreamTest, LinesWithoutTimeGetTheArrivalTime) {
  auto seen = test::classify(m, "certificate has expired\n");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].time, Nanos{1'700'000'000} * kNanosPerSecond);
}

}  // namespace
}  // namespace klaxon
