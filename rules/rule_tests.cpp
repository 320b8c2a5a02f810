#include "rules/rule_tests.hpp"

#include <fmt/format.h>

#include "engine/decoder.hpp"

namespace klaxon::rules {
namespace {

std::string describe(const Matcher& matcher, const std::vector<RuleMatch>& matches) {
  if (matches.empty()) return "nothing matched";
  std::string out;
  for (const RuleMatch& m : matches) {
    const RuleSpec& r = matcher.rules()[std::size_t(m.rule)];
    out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", r.id, r.klass);
  }
  return out;
}

}  // namespace

TestReport run_rule_tests(const Matcher& matcher, const std::vector<RuleTest>& tests) {
  TestReport report;
  Decoder decoder;
  Matcher::Scratch scratch;
  Record record;
  std::vector<RuleMatch> matches, unfiltered;

  for (const RuleTest& t : tests) {
    auto fail = [&](std::string why) { report.failures.push_back({&t, std::move(why)}); };
    record.labels.clear();
    const bool candidate = matcher.may_match(t.line, scratch);
    decoder.decode(t.line, record, 2024);
    matches.clear();
    if (candidate) matcher.match(record, scratch, matches);
    matcher.match_every_rule(record, scratch, unfiltered);
    if (unfiltered.size() != matches.size()) {
      fail(fmt::format("the prefilter hides a match: with it {}, without it {}", describe(matcher, matches),
                       describe(matcher, unfiltered)));
      continue;
    }
    if (t.expect_none) {
      if (!matches.empty()) fail("expected no match, got " + describe(matcher, matches));
      else ++report.passed;
      continue;
    }
    const RuleMatch* mine = nullptr;
    for (const RuleMatch& m : matches)
      if (matcher.rules()[std::size_t(m.rule)].id == t.rule_id) mine = &m;
    if (mine == nullptr) {
      fail(fmt::format("expected {} to match, got {}", t.rule_id, describe(matcher, matches)));
      continue;
    }
    const RuleSpec& primary = matcher.rules()[std::size_t(matches.front().rule)];
    std::vector<std::string> wrong;
    for (const auto& [key, want] : t.expect) {
      std::string got;
      if (key == "class") got = primary.klass;
      else if (key == "rule") got = primary.id;
      else if (key == "severity") got = std::string(to_string(mine->severity));
      else if (const Value* v = mine->find(key)) got = value_to_string(*v);
      else got = "(absent)";
      if (got != want) wrong.push_back(fmt::format("{}: expected {}, got {}", key, want, got));
    }
    if (!wrong.empty()) {
      std::string why;
      for (const auto& w : wrong) why += (why.empty() ? "" : "; ") + w;
      fail(why + (matches.size() > 1 ? " (matches: " + describe(matcher, matches) + ")" : ""));
    } else {
      ++report.passed;
    }
  }
  return report;
}

}  // namespace klaxon::rules
