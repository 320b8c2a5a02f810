// The prefilter must never hide a line: these tests pin down the multi-literal scan itself,
// wherever the line sits in memory. (Debian 12's vectorscan 5.4.9 fails them: it misses matches
// at some alignments, which is why scripts/setup installs Intel's libhyperscan on x86-64.)
#include "engine/prefilter.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include <re2/re2.h>

namespace klaxon {
namespace {

const std::vector<std::string> kPatterns = {"certificate expires in (?P<left>.+)", "x509: certificate has expired",
                                            "http2: client connection lost", "issuer cert expiry: (?P<at>.+)"};
const std::vector<std::string> kTexts = {"certificate expires in 2 days", "x509: certificate has expired",
                                         "http2: client connection lost", "issuer cert expiry: 2024-01-18"};

TEST(Prefilter, FindsEveryLiteralAtEveryAlignmentAndPosition) {
  Prefilter p(kPatterns);
  Prefilter::Scratch scratch;
  std::mt19937 rng(1);
  std::vector<char> buf(1 << 12);
  int checked = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    const std::size_t which = rng() % kTexts.size();
    std::string line = std::string(rng() % 150, 'a') + kTexts[which] + std::string(rng() % 100, 'b');
    const std::size_t at = rng() % 128;
    std::fill(buf.begin(), buf.end(), 'x');
    std::copy(line.begin(), line.end(), buf.begin() + std::ptrdiff_t(at));
    std::string_view view(buf.data() + at, line.size());
    ASSERT_TRUE(p.scan_line(view, scratch)) << "missed '" << kTexts[which] << "' at offset " << at << " in " << line;
    ASSERT_NE(std::find(p.candidates(scratch).begin(), p.candidates(scratch).end(), int(which)), p.candidates(scratch).end());
    ++checked;
  }
  EXPECT_EQ(checked, 20000);
}

TEST(Prefilter, FindsEveryLineOfABlockWhateverItsAlignment) {
  Prefilter p(kPatterns);
  Prefilter::Scratch scratch;
  std::mt19937 rng(2);
  std::string block;
  std::vector<std::pair<std::size_t, std::size_t>> lines;  // offset, size
  for (int i = 0; i < 3000; ++i) {
    std::string line = std::string(rng() % 80, 'n') + (i % 3 == 0 ? kTexts[rng() % kTexts.size()] : "nothing here") +
                       std::string(rng() % 40, 'm');
    lines.emplace_back(block.size(), line.size());
    block += line + "\n";
  }
  std::vector<char> buf(block.size() + 128);
  for (std::size_t at = 0; at < 64; ++at) {
    std::copy(block.begin(), block.end(), buf.begin() + std::ptrdiff_t(at));
    std::string_view view(buf.data() + at, block.size());
    p.scan_block(view, scratch);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const bool want = i % 3 == 0;
      ASSERT_EQ(p.candidates_in(view.substr(lines[i].first, lines[i].second), scratch), want)
          << "line " << i << " at alignment " << at;
    }
  }
}

TEST(Prefilter, ChoosesLongRequiredLiteralsAndSaysWhenThereAreNone) {
  Prefilter p({"failed to (?:warm|generate workload )certificate: x509", R"(^\S+\s+\d+$)"});
  EXPECT_EQ(p.unfiltered(), std::vector<int>{1});
  ASSERT_FALSE(p.literals_of(0).empty());
  for (const std::string& l : p.literals_of(0)) EXPECT_GE(l.size(), 8u) << l;
}

TEST(Prefilter, AnAnchorWithoutItsLiteralMakesNoCandidate) {
  // The block scan finds short anchors; a line is a candidate only where a whole literal stands,
  // in any case, around the anchor that was found.
  Prefilter p({"x509: certificate has expired", "restarting failed container=daprd"});
  Prefilter::Scratch scratch;
  EXPECT_TRUE(p.scan_line("E0619 X509: CERTIFICATE HAS EXPIRED OR IS NOT YET VALID", scratch));
  EXPECT_EQ(p.candidates(scratch), std::vector<int>{0});
  EXPECT_TRUE(p.scan_line("Back-off RESTARTING FAILED CONTAINER=DAPRD in pod x", scratch));
  EXPECT_EQ(p.candidates(scratch), std::vector<int>{1});
  for (const char* near_miss : {"x509: certificate has been renewed", "x509: certificate has expire",
                                "restarting failed container=nginx", "certificate has expired", "x509: certificate",
                                "restarting failed container=dapr"})
    EXPECT_FALSE(p.scan_line(near_miss, scratch)) << near_miss;
}

// k8s.webhook_call_failed's regex: one branch needs "conversion webhook for " *and* " failed".
const std::string kWebhook =
    R"(failed calling webhook \\?"(?P<webhook>[^"\\]+)|conversion webhook for (?P<conversion>[^\s,]+(?:, Kind=\w+)?) failed)";

TEST(Prefilter, ALineWithOneLiteralOfARuleButNotTheRestIsNoCandidate) {
  // A healthy Dapr operator says its conversion webhooks are up to date many times an hour:
  // the rule's first literal is there, its " failed" is not, and RE2 need not be asked.
  Prefilter p({kWebhook});
  Prefilter::Scratch scratch;
  const std::string healthy =
      R"({"instance":"dapr-operator-0000000000-abcd","level":"info","msg":"Conversion webhook for \"subscriptions.dapr.io\" is up to date","scope":"dapr.operator"})";
  const std::string failing =
      R"(E0601 10:00:00.000001 1 cacher.go:470] failed to list example.com/v1beta1, Kind=Widget: conversion webhook for example.com/v1, Kind=Widget FAILED: Post "https://widget-webhook.widgets.svc:443/convert")";
  const std::string admission = R"(Internal error occurred: failed calling webhook \"webhook.cert-manager.io\": x509)";
  EXPECT_FALSE(p.scan_line(healthy, scratch));
  EXPECT_TRUE(p.scan_line(failing, scratch));
  EXPECT_TRUE(p.scan_line(admission, scratch));
  // The same in a block, where the literal is confirmed around the anchor the scan found.
  const std::string block = healthy + "\n" + failing + "\n" + healthy + "\n";
  p.scan_block(block, scratch);
  EXPECT_FALSE(p.candidates_in(std::string_view(block).substr(0, healthy.size()), scratch));
  EXPECT_TRUE(p.candidates_in(std::string_view(block).substr(healthy.size() + 1, failing.size()), scratch));
  EXPECT_FALSE(p.candidates_in(std::string_view(block).substr(healthy.size() + failing.size() + 2, healthy.size()), scratch));
}

TEST(Prefilter, ConjunctionsNeverHideALineTheRegexMatches) {
  // Lines made of the regexes' own words in random order, case and company: whatever RE2
  // matches must be a candidate (the conjunctions may over-report, never under-report).
  const std::vector<std::string> patterns = {
      kWebhook,
      R"((?:Liveness|Readiness|Startup) probe failed: .*:(?P<port>350[01])/v1\.0/healthz)",
      R"(x509: certificate has expired or is not yet valid: current time (?P<now>\S+) is after (?P<at>\S+))",
      R"(back-off \d+s restarting failed container=(?P<c>daprd|dapr-sentry)\b)",
      R"((?i)error from sentry (?:SignCertificate|Sign)\b.*(?:Unavailable|DeadlineExceeded))"};
  const std::vector<std::string> words = {
      "conversion webhook for ", "example.com/v1", ", Kind=Widget", " failed", "failed calling webhook ", "\\\"",
      "\"", "Readiness", "Liveness", " probe failed: ", "Get http://10.0.0.1", ":3501", ":3500", "/v1.0/healthz",
      "x509: certificate has expired or is not yet valid: ", "current time ", "2023-06-19T13:20:02Z", " is after ",
      "back-off ", "20", "s restarting failed container=", "daprd", "dapr-sentry", "Error from sentry ", "sign",
      "SignCertificate", " rpc error: ", "Unavailable", "DeadlineExceeded", " ", "-", "x"};
  Prefilter p(patterns);
  std::vector<std::unique_ptr<RE2>> regexes;
  for (const std::string& pattern : patterns) regexes.push_back(std::make_unique<RE2>(pattern));
  Prefilter::Scratch scratch;
  std::mt19937 rng(3);
  int matched = 0, kept_out = 0;
  for (int trial = 0; trial < 200000; ++trial) {
    std::string line;
    for (std::size_t n = 1 + rng() % 9; n > 0; --n) {
      std::string w = words[rng() % words.size()];
      if (rng() % 4 == 0) std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) { return char(std::toupper(c)); });
      line += w;
    }
    const bool any = p.scan_line(line, scratch);
    const std::vector<int> candidates = any ? p.candidates(scratch) : std::vector<int>{};
    for (std::size_t r = 0; r < patterns.size(); ++r) {
      const bool candidate = std::find(candidates.begin(), candidates.end(), int(r)) != candidates.end();
      if (RE2::PartialMatch(line, *regexes[r])) {
        ++matched;
        ASSERT_TRUE(candidate) << "rule " << r << " matches but is no candidate: " << line;
      }
    }
    kept_out += !any;
  }
  EXPECT_GT(matched, 1000);  // the words do make matches
  EXPECT_GT(kept_out, 1000);
}

TEST(Prefilter, AnchorsAvoidWordsThatFillEveryLog) {
  // " failed " occurs on a few percent of all log lines; "restarti" almost never. A common
  // anchor would make every such line a candidate and cost a second look.
  Prefilter p({"restarting failed container=daprd", "restarting failed container=dapr-sentry",
               "failed to receive placement table update"});
  for (const std::string& a : p.anchors()) {
    EXPECT_EQ(a.find(" failed "), std::string::npos) << a;
    EXPECT_EQ(a.find("receive"), std::string::npos) << a;
  }
}

TEST(Prefilter, LiteralsSharingAPieceShareOneAnchor) {
  // Eight literals hold "handshak" and eight "bandshak", each between words of its own (whose
  // first and last letters differ, so no other piece is shared), the two kinds in turns: one
  // anchor stands for each eight, one Hyperscan literal instead of eight. The two pieces differ
  // in their first byte only.
  std::vector<std::vector<std::string>> rules;
  for (const std::string w : {"quip", "zest", "jowl", "vex", "kiwi", "fuzz", "myth", "dwarf"}) {
    rules.push_back({w + "handshak" + w});
    rules.push_back({w + "bandshak" + w});
  }
  std::vector<std::string> anchors = Prefilter::for_literals(rules).anchors();
  std::sort(anchors.begin(), anchors.end());
  EXPECT_EQ(anchors, (std::vector<std::string>{"bandshak", "handshak"}));
}

}  // namespace
}  // namespace klaxon
