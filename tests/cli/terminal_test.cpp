// The terminal at 3 a.m. (issue 19): lines that fit the width and keep the key words, the pod
// in the who column, incident updates only when they say something new, `--incidents`.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>

#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

using test::run_klaxon;

// As on a terminal that says nothing of its width.
const test::ProcessOptions kNoColumns = test::ProcessOptions().with_unset("COLUMNS");

const std::string kBin = KLAXON_BINARY;
const std::string kSource = KLAXON_SOURCE_DIR;
const std::string kDapr = kSource + "/samples/timelines/dapr-root-cert-expiry.log.gz";

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(Terminal, EveryLineFitsColumnsAndKeepsWhatTheRuleMatched) {
  for (const int width : {80, 100, 132}) {
    auto r = run_klaxon({kSource + "/samples/quickstart.log"}, test::ProcessOptions().with_env({{"COLUMNS", std::to_string(width)}}));
    ASSERT_EQ(r.status, 0) << r.err;
    const auto lines = lines_of(r.out);
    ASSERT_GT(lines.size(), 20u);
    std::size_t cut = 0;
    for (const std::string& line : lines) {
      EXPECT_LE(code_points(line), std::size_t(width)) << line;
      cut += line.find("…") != std::string::npos;
    }
    EXPECT_GT(cut, 5u) << "the sample has long lines: some must have been cut\n" << r.out;
    // client-go's 300-byte line ends in the words the rule matched: they stay, its head goes.
    EXPECT_NE(r.out.find("http2: client connection lost"), std::string::npos) << r.out;
    // The pod, not file:line, says who.
    EXPECT_NE(r.out.find("app1-123456-abc7"), std::string::npos) << r.out;
    for (const std::string& line : lines)
      if (!line.starts_with(" ")) {
        EXPECT_EQ(line.find("quickstart.log:"), std::string::npos) << line;
      }
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "no colour in a pipe";
  }
  // Without a width (a pipe, no COLUMNS) lines keep their full times and every fact.
  auto wide = run_klaxon({kSource + "/samples/quickstart.log"}, kNoColumns);
  EXPECT_NE(wide.out.find("2023-06-19T13:19:53Z CRIT cert_expired "), std::string::npos) << wide.out;
  EXPECT_NE(wide.out.find("[expired_at=2023-06-16T12:31:17Z verification_time=2023-06-19T13:19:51Z]"), std::string::npos);
}

TEST(Terminal, AKubeletLineShowsThePodItIsAbout) {
  auto r = run_klaxon({kDapr}, kNoColumns);
  ASSERT_EQ(r.status, 0) << r.err;
  std::size_t crashloops = 0;
  for (const std::string& line : lines_of(r.out)) {
    if (!line.starts_with("2023-") || line.find(" WARN crashloop ") == std::string::npos || line.find("INCIDENT") != std::string::npos) continue;
    ++crashloops;
    EXPECT_NE(line.find(" default/app"), std::string::npos) << line;
    EXPECT_EQ(line.find(".log.gz:"), std::string::npos) << line;
  }
  EXPECT_EQ(crashloops, 200u);
}

TEST(Terminal, IncidentsPrintsEveryIncidentEventAndTheSummaryInFewLines) {
  auto text = run_klaxon({"--incidents", kDapr}, kNoColumns);
  ASSERT_EQ(text.status, 0) << text.err;
  const auto lines = lines_of(text.out);
  EXPECT_LT(lines.size(), 300u) << text.out;
  // Every opened, escalated and resolved event of an incident that is not a symptom (those are
  // counted under their root), as the JSON lines have them.
  auto jsonl = run_klaxon({"--format", "jsonl", kDapr});
  std::map<std::string, std::size_t> events;
  const std::regex event(R"re("type":"incident","event":"([a-z]+)".*"caused_by":null)re");
  std::smatch m;
  for (const std::string& line : lines_of(jsonl.out))
    if (std::regex_search(line, m, event)) ++events[m[1]];
  ASSERT_GT(events["opened"], 0u);
  ASSERT_GT(events["escalated"], 0u);
  ASSERT_GT(events["resolved"], 0u);
  EXPECT_EQ(count(text.out, "▲ INCIDENT OPENED"), events["opened"]) << text.out;
  EXPECT_EQ(count(text.out, "▲ INCIDENT ESCALATED"), events["escalated"]) << text.out;
  EXPECT_EQ(count(text.out, "✔ INCIDENT RESOLVED"), events["resolved"]) << text.out;
  // Updates only when the count doubled: the JSON lines keep every one.
  EXPECT_GT(events["updated"], 500u);
  EXPECT_LE(count(text.out, "▲ INCIDENT UPDATED"), 20u) << text.out;
  EXPECT_GT(count(text.out, "▲ INCIDENT UPDATED"), 0u) << text.out;
  // No classified lines; the summary with the root first and every open incident under it.
  EXPECT_EQ(count(text.out, " CRIT cert_expired           app"), 0u) << text.out;
  std::smatch open;
  ASSERT_TRUE(std::regex_search(text.out, open, std::regex(R"(── \d+ incidents? \(\d+ critical, \d+ warning\), (\d+) still open)")))
      << text.out;
  std::size_t listed = count(text.out, "        ↳ ");
  for (const std::string& line : lines) listed += line.starts_with("   CRIT ") || line.starts_with("   WARN ");
  const std::size_t resolved_heads = count(text.out, "(resolved: ");
  EXPECT_EQ(listed - resolved_heads, std::stoul(open[1])) << text.out;
  EXPECT_NE(text.out.find("   CRIT ROOT cert_expired"), std::string::npos) << text.out;
  // Without --incidents the classified lines are there too, and the same incident lines.
  auto all = run_klaxon({kDapr}, kNoColumns);
  EXPECT_EQ(count(all.out, "▲ INCIDENT UPDATED"), count(text.out, "▲ INCIDENT UPDATED"));
  EXPECT_GT(lines_of(all.out).size(), 1200u);
}

TEST(Terminal, IncidentLinesStandOutInColourOnlyWhenAsked) {
  auto plain = run_klaxon({"--incidents", kDapr}, kNoColumns);
  EXPECT_EQ(plain.out.find('\x1b'), std::string::npos);
  auto colored = run_klaxon({"--incidents", "--color", "always", kDapr}, kNoColumns);
  EXPECT_NE(colored.out.find("\x1b[1;31m▲ INCIDENT ESCALATED"), std::string::npos) << colored.out;
  EXPECT_NE(colored.out.find("\x1b[1mROOT\x1b[0m"), std::string::npos) << colored.out;
}

}  // namespace
}  // namespace klaxon
