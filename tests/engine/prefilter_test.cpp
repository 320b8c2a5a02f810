// The prefilter must never hide a line: these tests pin down the multi-literal scan itself,
// wherever the line sits in memory. (Debian 12's vectorscan 5.4.9 fails them: it misses matches
// at some alignments, which is why scripts/setup installs Intel's libhyperscan on x86-64.)
#include "engine/prefilter.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

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
