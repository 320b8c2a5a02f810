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

// The kubelet writes a container's stdout and stderr records into one file, interleaved: a stdout
// piece continues in the next stdout record, not in the stderr line between.
TEST_F(StreamTest, CriPiecesAreJoinedWithinTheirOwnStreamOnly) {
  const std::string text =
      "2023-06-19T13:19:54Z stdout P {\"msg\":\"x509: certificate has \n"
      "2023-06-19T13:19:54Z stderr F http2: client connection lost\n"
      "2023-06-19T13:19:54Z stdout F expired\"}\n";
  for (std::size_t chunk : {1ul, 7ul, 0ul}) {
    StreamStats stats;
    auto seen = test::classify(m, text, chunk, &stats);
    ASSERT_EQ(seen.size(), 2u) << chunk;
    EXPECT_EQ(seen[0].rule, "t.lost");  // the stderr line, whole and on its own
    EXPECT_EQ(seen[0].line_no, 2u);
    EXPECT_EQ(seen[1].rule, "t.expired");  // the stdout line, joined across it
    EXPECT_EQ(seen[1].line_no, 1u);
    EXPECT_EQ(stats.lines, 2u);
  }
}

// A line with no CRI envelope is not the end of a piece: the piece goes as it is, the line alone.
TEST_F(StreamTest, ACriPieceIsNeverJoinedWithALineWithoutAnEnvelope) {
  const std::string text =
      "2023-06-19T13:19:54Z stdout P x509: certificate has \n"
      "expired\n"
      "http2: client connection lost\n";
  for (std::size_t chunk : {1ul, 0ul}) {
    StreamStats stats;
    auto seen = test::classify(m, text, chunk, &stats);
    ASSERT_EQ(seen.size(), 1u) << chunk;
    EXPECT_EQ(seen[0].rule, "t.lost");
    EXPECT_EQ(seen[0].line_no, 3u);
    EXPECT_EQ(stats.lines, 3u);
  }
}

// Docker's json-file driver writes a line longer than 16 KiB as records of 16 KiB; all but the
// last have a "log" without its "\n". A phrase cut by the split is found in the joined line, and
// a record of the other stream in between is neither joined nor lost.
TEST_F(StreamTest, DockerJsonFileRecordsCutAt16KiBAreJoined) {
  const std::string filler(16 * 1024 - 20, 'a');
  const std::string text =
      "{\"log\":\"" + filler + " x509: certificate has\",\"stream\":\"stderr\",\"time\":\"2023-06-19T13:19:54.1Z\"}\n"
      "{\"log\":\"http2: client connection lost\\n\",\"stream\":\"stdout\",\"time\":\"2023-06-19T13:19:54.2Z\"}\n"
      "{\"log\":\" exp\",\"stream\":\"stderr\",\"time\":\"2023-06-19T13:19:54.3Z\"}\n"
      "{\"log\":\"ired \\\"quoted\\\"\\n\",\"stream\":\"stderr\",\"time\":\"2023-06-19T13:19:54.4Z\"}\n";
  for (std::size_t chunk : {0ul, 1000ul, 4096ul}) {
    StreamStats stats;
    auto seen = test::classify(m, text, chunk, &stats);
    ASSERT_EQ(seen.size(), 2u) << chunk;
    EXPECT_EQ(seen[0].rule, "t.lost");
    EXPECT_EQ(seen[0].line_no, 2u);
    EXPECT_EQ(seen[1].rule, "t.expired");  // "certificate has" + " exp" + "ired"
    EXPECT_EQ(seen[1].line_no, 1u);
    EXPECT_EQ(stats.lines, 2u);
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

// Threaded replay: a worker scans a block and says which rule won each matched line; the
// stream's thread then runs that rule alone. The answer must be feed()'s: the winner among
// rules sharing a line, and a klog line's year, which only the lines before it in order know.
TEST(StreamVerdict, TheWorkersWinnerAndTheYearInOrderGiveFeedsAnswer) {
  const Matcher m = test::matcher_from_yaml(R"(
pack: t
rules:
  - id: t.any_expired
    class: cert_expired
    title: any
    match: { message: 'certificate has expired' }
  - id: t.sentry_expired
    class: cert_expired
    title: sentry
    priority: 10
    match: { message: 'sentry: (?P<what>\w+) certificate has expired' }
)");
  const std::string block =
      "2021-03-04T05:06:07Z stdout F {\"msg\":\"x509: certificate has expired\"}\n"
      "2021-03-04T05:06:08Z stdout F ok\n"
      "2021-03-04T05:06:09Z stdout F {\"msg\":\"sentry: root certificate has expired\"}\n"
      "E0304 05:06:10.000000 1 x.go:1] sentry: issuer certificate has expired\n";
  BlockScratch scratch;
  const BlockVerdict v = StreamClassifier::scan_block(m, block, LineFramer::kDefaultMaxLineBytes, scratch);
  ASSERT_EQ(v.interesting.size(), 3u);
  EXPECT_EQ(m.rules()[std::size_t(v.interesting[0].rule)].id, "t.any_expired");
  EXPECT_EQ(m.rules()[std::size_t(v.interesting[1].rule)].id, "t.sentry_expired");
  EXPECT_EQ(m.rules()[std::size_t(v.interesting[2].rule)].id, "t.sentry_expired");

  StreamOptions options;
  options.now = [] { return Nanos{1'700'000'000} * kNanosPerSecond; };  // 2023: not the lines' year
  std::vector<test::Seen> got;
  StreamClassifier s(m, "test", {}, options, [&](const ClassifiedLine& l) { got.push_back(test::seen_from(l)); });
  s.feed_scanned(block, v);
  s.finish();
  const std::vector<test::Seen> want = test::classify(m, block);
  ASSERT_EQ(want.size(), 3u);
  EXPECT_EQ(got, want);
  EXPECT_EQ(got.back().values, "what=issuer;");
  EXPECT_EQ(format_rfc3339(got.back().time), "2021-03-04T05:06:10Z");  // the year of the line before
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
