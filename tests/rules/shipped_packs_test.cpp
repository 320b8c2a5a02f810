// tests/rules/shipped_packs_test.cpp — what the shipped packs promise as a whole (issue 4):
// every class of the shared vocabulary is recognised in at least two ecosystems, every rule
// tells the operator what to do and proves itself with a positive and a near-miss, and every
// test line names where it came from. `klaxon rules test` checks each line; this checks that the
// lines are there at all, so a new rule cannot ship without them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/rule.hpp"
#include "rules/rule_pack_loader.hpp"

namespace klaxon::rules {
namespace {

// The vocabulary of rules/README.md ("Classes"), which scripts and alerts rely on.
const std::vector<std::string> kVocabulary = {
    "cert_expiring_soon", "cert_expired",      "cert_not_yet_valid",   "cert_bad_signature",
    "cert_unknown_authority", "cert_name_mismatch", "tls_handshake_failure", "webhook_failed", "injection_failed",
    "probe_failed",       "connection_lost",   "crashloop",            "cert_issuance_failed",
    "cert_load_failed",   "cert_validity"};

RuleSet builtin() {
  RuleSet set;
  std::vector<Diagnostic> problems;
  load_builtin_packs(set, problems);
  std::string all;
  for (const auto& d : problems) all += format_diagnostic(d) + "\n";
  EXPECT_FALSE(has_errors(problems)) << all;
  return set;
}

std::string pack_of(const std::string& rule_id) { return rule_id.substr(0, rule_id.find('.')); }

TEST(ShippedPacks, LoadedOnThreadsTheyComeInTheSameOrder) {
  // Rule order decides which of two equally specific rules names a line: threads at start-up
  // must not change it.
  RuleSet one, four;
  std::vector<Diagnostic> p1, p4;
  load_builtin_packs(one, p1, TestLines::read, 1);
  load_builtin_packs(four, p4, TestLines::read, 4);
  ASSERT_EQ(one.rules.size(), four.rules.size());
  for (std::size_t i = 0; i < one.rules.size(); ++i) EXPECT_EQ(one.rules[i].id, four.rules[i].id) << i;
  EXPECT_EQ(one.tests.size(), four.tests.size());
  EXPECT_EQ(one.correlations.size(), four.correlations.size());
  EXPECT_EQ(p1.size(), p4.size());
}

TEST(ShippedPacks, EveryVocabularyClassIsRecognisedInAtLeastTwoEcosystems) {
  const RuleSet set = builtin();
  std::map<std::string, std::set<std::string>> packs_by_class;
  for (const RuleSpec& r : set.rules) packs_by_class[r.klass].insert(pack_of(r.id));
  for (const std::string& klass : kVocabulary) {
    EXPECT_TRUE(is_known_class(klass)) << klass << " is in rules/README.md but not in the engine";
    std::string packs;
    for (const auto& p : packs_by_class[klass]) packs += p + " ";
    EXPECT_GE(packs_by_class[klass].size(), 2u) << klass << " is recognised only by: " << packs;
  }
}

TEST(ShippedPacks, EveryRuleHasARunbookAPositiveAndANearMiss) {
  const RuleSet set = builtin();
  std::map<std::string, int> positives, near_misses;
  for (const RuleTest& t : set.tests) (t.expect_none ? near_misses : positives)[t.rule_id]++;
  ASSERT_FALSE(set.rules.empty());
  for (const RuleSpec& r : set.rules) {
    EXPECT_FALSE(r.title.empty()) << r.id;
    bool runbook = false;
    for (const auto& [key, text] : r.annotations) runbook |= key == "runbook" && !text.empty();
    EXPECT_TRUE(runbook) << r.id << " has no runbook";
    EXPECT_GE(positives[r.id], 1) << r.id << " has no positive test line";
    EXPECT_GE(near_misses[r.id], 1) << r.id << " has no near-miss (expect: none)";
  }
}

// A test line without its source cannot be checked against the emitter; the packs put the
// source in a comment right above each `- line:`.
TEST(ShippedPacks, EveryTestLineNamesItsSourceInTheCommentAboveIt) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(KLAXON_SOURCE_DIR) / "rules" / "packs";
  int lines_seen = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    std::ifstream in(entry.path());
    std::string line, previous;
    for (int no = 1; std::getline(in, line); ++no) {
      const auto text = line.find_first_not_of(' ');
      if (text == std::string::npos) continue;
      if (line.compare(text, 8, "- line: ") == 0) {
        ++lines_seen;
        const auto prev = previous.find_first_not_of(' ');
        EXPECT_TRUE(prev != std::string::npos && previous[prev] == '#')
            << entry.path().filename().string() << ":" << no << " has no source comment above it";
      }
      previous = line;
    }
  }
  EXPECT_GT(lines_seen, 500);
}

// rules/README.md "Coverage: TLS libraries" counts the rules of each library pack by class; an
// operator reads it to know what klaxon recognises, so it must say what the packs hold.
TEST(ShippedPacks, TheLibraryCoverageTableCountsTheRulesThePacksHave) {
  const RuleSet set = builtin();
  std::map<std::pair<std::string, std::string>, int> rules_by;  // {pack, class} -> rules
  std::map<std::string, int> rules_of;
  for (const RuleSpec& r : set.rules) {
    ++rules_by[{pack_of(r.id), r.klass}];
    ++rules_of[pack_of(r.id)];
  }
  std::ifstream readme(std::filesystem::path(KLAXON_SOURCE_DIR) / "rules" / "README.md");
  auto cells = [](const std::string& row) {
    std::vector<std::string> out;
    std::string cell;
    for (char c : row.substr(1)) {
      if (c != '|') { cell += c; continue; }
      const auto a = cell.find_first_not_of(" `"), b = cell.find_last_not_of(" `");
      out.push_back(a == std::string::npos ? "" : cell.substr(a, b - a + 1));
      cell.clear();
    }
    return out;
  };
  std::vector<std::string> classes;
  int rows = 0;
  for (std::string line; std::getline(readme, line);) {
    if (line.rfind("| library (pack) |", 0) == 0) {
      classes = cells(line);
      continue;
    }
    if (classes.empty() || line.rfind("|---", 0) == 0) continue;
    if (line.rfind("| ", 0) != 0) break;
    const std::vector<std::string> row = cells(line);
    ASSERT_EQ(row.size(), classes.size()) << line;
    const std::string& pack = row[0];
    EXPECT_GT(rules_of[pack], 0) << pack << " is in the coverage table but is not a shipped pack";
    int counted = 0;
    for (std::size_t i = 1; i < row.size(); ++i) {
      const int in_table = row[i] == "·" ? 0 : std::stoi(row[i]);
      EXPECT_EQ(in_table, (rules_by[{pack, classes[i]}])) << pack << " " << classes[i];
      counted += in_table;
    }
    EXPECT_EQ(counted, rules_of[pack]) << pack << " has rules of a class the table has no column for";
    ++rows;
  }
  EXPECT_GE(rows, 12);
}

}  // namespace
}  // namespace klaxon::rules
