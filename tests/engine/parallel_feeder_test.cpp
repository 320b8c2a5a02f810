// tests/engine/parallel_feeder_test.cpp — threads see the stream exactly as one thread does.
//
// A file replayed on threads is cut into 1 MiB slices that workers read and scan on their own;
// a stream fed in chunks is cut into blocks of whole lines. Lines that straddle the cuts, long
// lines that end past what a worker reads beyond its slice, lines longer than the limit running
// through several slices, CRI pieces on both sides of a cut and a last line without newline must
// come out as the one-thread reference says: same matches, same line numbers, same counts.
#include "engine/parallel_feeder.hpp"

#include <cstdio>
#include <random>

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

// The line limits the tests run with: one below what a worker reads past its slice's end before
// it looks for the line that ends it, one above, so that such a line takes a second read.
constexpr std::size_t kMaxLines[] = {4096, 65536};

// About 3.5 MiB of lines of every kind, with the awkward ones wherever the random walk puts them
// and one of each right across every 1 MiB border.
std::string awkward_stream(std::size_t max_line) {
  std::mt19937 rng(7);
  std::string text;
  auto add_line = [&](int kind) {
    switch (kind) {
      case 0: text += "2023-06-19T13:19:50.1Z stderr F {\"msg\":\"ok " + std::to_string(rng()) + "\"}\n"; break;
      case 1: text += "[pod/a/daprd] {\"msg\":\"x509: certificate has expired\",\"time\":\"2023-06-19T13:00:00Z\"}\n"; break;
      case 2: text += "E0601 02:52:46.531050 1 x.go:1] http2: client connection lost\r\n"; break;
      case 3:  // longer than the limit, the match in its head
        text += "certificate has expired " + std::string(max_line + rng() % (3 * max_line), 'x') + "\n";
        break;
      case 6:  // runs on past the next border by more than the limit: no line starts near it
        text += "certificate has expired " + std::string(3 * max_line, 'z') + "\n";
        break;
      case 7:  // long but within the limit, the match at its end: whole or not at all
        text += std::string(max_line / 2 + rng() % (max_line / 3), 'w') + " certificate has expired\n";
        break;
      case 4:  // a CRI line in pieces
        text += "2023-06-19T13:19:54Z stderr P {\"msg\":\"x509: certificate has \n"
                "2023-06-19T13:19:54Z stderr P exp\n"
                "2023-06-19T13:19:54Z stderr F ired\"}\n";
        break;
      default: text += std::string(rng() % 300, 'y') + "\n";
    }
  };
  for (std::size_t border = 1 << 20; text.size() < (7u << 19);) {
    const int roll = int(rng() % 1000);
    add_line(roll < 900 ? (roll % 2 ? 0 : 5) : roll < 960 ? 1 : roll < 985 ? 2 : roll < 995 ? 4 : 3);
    if (text.size() + 2 * max_line > border) {  // something across the border
      const int kind = int((border >> 20) % 4);
      while (text.size() + 100 < border) add_line(0);
      add_line(kind == 0 ? 6 : kind == 1 ? 4 : kind == 2 ? 7 : 1);
      border += 1 << 20;
    }
  }
  text += "http2: client connection lost, the last line, no newline";
  return text;
}

struct Outcome {
  std::vector<test::Seen> seen;
  StreamStats stats;
};

Outcome classify_threaded(const Matcher& m, const std::string& text, unsigned threads, bool as_file,
                          std::size_t max_line) {
  Outcome out;
  StreamOptions options;
  options.max_line_bytes = max_line;
  options.now = [] { return Nanos{1'700'000'000} * kNanosPerSecond; };
  StreamClassifier stream(m, "test", {}, options, [&](const ClassifiedLine& l) { out.seen.push_back(test::seen_from(l)); });
  ParallelFeeder feeder(m, threads, max_line);
  if (as_file) {
    const std::string path = ::testing::TempDir() + "klaxon-parallel-feeder.log";
    std::FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
    const int fd = ::open(path.c_str(), O_RDONLY);
    // The size given is short of the file's: bytes written after it was taken still count.
    EXPECT_EQ(feeder.feed_file(stream, fd, text.size() - 1000, [] { return true; }), "");
    ::close(fd);
    std::remove(path.c_str());
  } else {
    for (std::size_t at = 0; at < text.size(); at += 65536) feeder.feed(stream, std::string_view(text).substr(at, 65536));
  }
  feeder.finish(stream);
  out.stats = stream.stats();
  return out;
}

TEST(ParallelFeeder, FilesAndStreamsOnThreadsGiveTheOneThreadAnswer) {
  const Matcher m = test::two_rule_matcher();
  for (std::size_t max_line : kMaxLines) {
    const std::string text = awkward_stream(max_line);
    StreamStats want_stats;
    const auto want = test::classify(m, text, 100000, &want_stats, max_line);
    ASSERT_GT(want.size(), 200u);
    ASSERT_GT(want_stats.truncated, 10u);
    for (bool as_file : {true, false})
      for (unsigned threads : {1u, 2u, 3u}) {
        const Outcome got = classify_threaded(m, text, threads, as_file, max_line);
        const std::string how = std::string(as_file ? "file" : "stream") + " on " + std::to_string(threads) +
                                " threads, lines up to " + std::to_string(max_line);
        EXPECT_EQ(got.seen, want) << how;
        EXPECT_EQ(got.stats.lines, want_stats.lines) << how;
        EXPECT_EQ(got.stats.bytes, want_stats.bytes) << how;
        EXPECT_EQ(got.stats.truncated, want_stats.truncated) << how;
        EXPECT_EQ(got.stats.matched, want_stats.matched) << how;
      }
  }
}

TEST(ParallelFeeder, AFileThatShrinksIsAnErrorAfterWhatCouldBeRead) {
  const Matcher m = test::two_rule_matcher();
  std::string text;
  while (text.size() < (5u << 20)) text += "x509: certificate has expired\n";
  const std::string path = ::testing::TempDir() + "klaxon-parallel-feeder-shrinks.log";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  const int fd = ::open(path.c_str(), O_RDONLY);
  StreamOptions options;
  options.now = [] { return Nanos{1'700'000'000} * kNanosPerSecond; };
  std::uint64_t seen = 0;
  StreamClassifier stream(m, "test", {}, options, [&](const ClassifiedLine&) { ++seen; });
  ParallelFeeder feeder(m, 2, LineFramer::kDefaultMaxLineBytes);
  // The size taken when the file was opened; by the time its last slice is read, it is shorter.
  const std::string error = feeder.feed_file(stream, fd, text.size() + (3u << 20), [] { return true; });
  feeder.finish(stream);
  ::close(fd);
  std::remove(path.c_str());
  EXPECT_NE(error.find("shrank"), std::string::npos) << error;
  EXPECT_GE(seen, (4u << 20) / 30) << "the slices before the damage are classified";
}

}  // namespace
}  // namespace klaxon
