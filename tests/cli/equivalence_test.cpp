// tests/cli/equivalence_test.cpp — speed never changes the answer.
//
// The prefilter and the threads exist only to make classification fast. On a generated corpus
// of the realistic mix (and a noisy one where 5% of lines match), the real binary must print
// the same matches and incidents, byte for byte, with any thread count and with the prefilter
// switched off (every rule tried on every line: the reference).
#include <cstdio>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "bench/corpus.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

// A corpus kind (bench/corpus.hpp) and, for the quiet mix, how often an incident line comes.
class Equivalence : public ::testing::TestWithParam<std::pair<const char*, std::uint64_t>> {
 protected:
  void SetUp() override {
    bench::CorpusOptions options;
    options.bytes = 3 << 20;  // several 1 MiB blocks per thread, a few seconds without the prefilter
    options.kind = *bench::corpus_kind(GetParam().first);
    options.incident_every = GetParam().second;
    std::string corpus;
    bench::generate_corpus(options, corpus);
    path_ = ::testing::TempDir() + "klaxon-equivalence-" + GetParam().first + std::to_string(GetParam().second) + ".log";
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(corpus.data(), 1, corpus.size(), f), corpus.size());
    std::fclose(f);
  }
  void TearDown() override { std::remove(path_.c_str()); }

  std::string klaxon(const std::string& flags) {
    const test::CommandResult r =
        test::run_command(std::string(KLAXON_BINARY) + " --format jsonl --matches " + flags + " " + path_);
    EXPECT_EQ(r.status, 0) << flags << ": " << r.err;
    // How many lines the prefilter let through is the one figure that may differ.
    return std::regex_replace(r.out, std::regex("\"candidate_lines\":[0-9]+,"), "");
  }

  std::string path_;
};

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_P(Equivalence, ThreadsAndThePrefilterNeverChangeTheOutput) {
  const std::string reference = klaxon("--threads 1 --no-prefilter");
  // The corpus holds incident lines: an empty reference would prove nothing.
  ASSERT_GT(count(reference, "\"type\":\"match\""), 10u);
  ASSERT_GT(count(reference, "\"type\":\"incident\""), 0u);
  EXPECT_EQ(klaxon("--threads 1"), reference) << "the prefilter hid or added a match";
  EXPECT_EQ(klaxon("--threads 2"), reference) << "2 threads changed the output";
  EXPECT_EQ(klaxon("--threads 5"), reference) << "5 threads changed the output";
}

// 500: the realistic mix with an incident line every 500 (enough of them in 3 MiB). 20: the
// noisy set (5% of lines match). The sick cluster: 4% of lines from crash-looping pods. The
// incident archive: the Dapr outage replayed with many pods, where roots adopt symptoms and
// certificates expire on the clock (the tracker's events for one line come in rule-id order).
INSTANTIATE_TEST_SUITE_P(Corpus, Equivalence,
                         ::testing::Values(std::pair{"quiet", 500}, std::pair{"quiet", 20}, std::pair{"sick", 500},
                                           std::pair{"archive", 500}),
                         [](const auto& info) {
                           return std::string(info.param.first) + (info.param.second == 20 ? "Noisy" : "");
                         });

}  // namespace
}  // namespace klaxon
