#include "rules/rule_pack_loader.hpp"

#include <gtest/gtest.h>

#include "engine/matcher.hpp"
#include "rules/rule_tests.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon::rules {
namespace {

std::vector<std::string> problems_of(const std::string& yaml) {
  RuleSet set;
  std::vector<Diagnostic> problems;
  load_pack_text(yaml, "p.yaml", set, problems);
  check_rule_set(set, problems);
  if (!has_errors(problems)) Matcher::compile(set.rules, problems);
  std::vector<std::string> out;
  for (const auto& d : problems) out.push_back(format_diagnostic(d));
  return out;
}

bool has(const std::vector<std::string>& all, const std::string& text) {
  for (const auto& s : all)
    if (s.find(text) != std::string::npos) return true;
  return false;
}

TEST(RulePackLoader, ReadsAWholeRule) {
  RuleSet set;
  std::vector<Diagnostic> problems;
  load_pack_text(R"(pack: dapr
description: test
rules:
  - id: dapr.root_cert_expiring
    class: cert_expiring_soon
    title: Dapr root certificate expires soon
    match:
      message: 'certificate expires in (?P<remaining>.+)'
    where: { scope: dapr.sentry, level: [warning, error], logger: '/^dapr/' }
    extract: { expires_in: duration(remaining) }
    group_by: [namespace, instance]
    severity: [ { critical: 'expires_in < 7d' }, { warning: true } ]
    priority: 5
    resolve_after: 2h
    min_count: 2
    within: 5m
    annotations: { summary: 'expires in {remaining}', runbook: 'dapr mtls renew-certificate' }
    tests:
      - line: 'x'
        expect: none
      - line: 'y'
        expect: { class: cert_expiring_soon, expires_in: 226800 }
correlations:
  - { id: dapr.outage, root: dapr.root_cert_expiring, symptoms: [go.x], within: 1h, same: [cluster] }
)", "p.yaml", set, problems);
  for (const auto& d : problems) EXPECT_TRUE(d.is_warning) << format_diagnostic(d);
  ASSERT_EQ(set.rules.size(), 1u);
  const RuleSpec& r = set.rules[0];
  EXPECT_EQ(r.klass, "cert_expiring_soon");
  EXPECT_EQ(r.where.size(), 3u);
  EXPECT_EQ(r.where[1].any_of, (std::vector<std::string>{"warning", "error"}));
  EXPECT_EQ(r.where[2].regex, "^dapr");
  EXPECT_EQ(r.severity.size(), 2u);
  EXPECT_EQ(r.severity[0].when.value, 7 * 86400);
  EXPECT_EQ(r.resolve_after_seconds, 7200);
  EXPECT_EQ(r.within_seconds, 300);
  EXPECT_EQ(r.min_count, 2);
  EXPECT_EQ(r.priority, 5);
  EXPECT_EQ(r.defined_at.line, 4);
  ASSERT_EQ(set.tests.size(), 2u);
  EXPECT_TRUE(set.tests[0].expect_none);
  EXPECT_EQ(set.tests[1].at.line, 21);
  ASSERT_EQ(set.correlations.size(), 1u);
  EXPECT_EQ(set.correlations[0].within_seconds, 3600);
}

TEST(RulePackLoader, NamesFileLineAndWhatIsWrong) {
  auto p = problems_of(R"(pack: t
rules:
  - id: t.a
    class: cert_expired
    title: a
    match: { mesage: 'x' }
  - id: other.b
    class: cert_expired
    title: b
    match: { message: 'y' }
    severity: urgent
  - id: t.c
    title: c
    match: { message: 'unclosed (' }
  - id: t.d
    class: cert_expired
    title: d
    match: { message: 'z' }
    resolve_after: soon
    extract: { at: when(x) }
  - id: t.e
    class: cert_expird
    title: e
    match: { message: 'literal here' }
    tests:
      - line: 'q'
)");
  EXPECT_TRUE(has(p, "p.yaml:6: rule t.a: match: unknown key 'mesage'")) << ::testing::PrintToString(p);
  EXPECT_TRUE(has(p, "p.yaml:7: rule other.b: the id must start with the pack name, 't.'"));
  EXPECT_TRUE(has(p, "p.yaml:11: rule other.b: severity 'urgent' is not info, warning or critical"));
  EXPECT_TRUE(has(p, "p.yaml:12: rule t.c: `class` is required"));
  EXPECT_TRUE(has(p, "p.yaml:19: rule t.d: `resolve_after: soon` is not a duration"));
  EXPECT_TRUE(has(p, "p.yaml:20: rule t.d: extract at: unknown function 'when'"));
  EXPECT_TRUE(has(p, "p.yaml:22: warning: rule t.e: class 'cert_expird' is not in the shared vocabulary"));
  EXPECT_TRUE(has(p, "p.yaml:26: rule t.e: test needs `expect:`"));
}

TEST(RulePackLoader, NamedThresholdsAreFilledAndMovedAtOnce) {
  const std::string pack = R"(pack: t
rules:
  - id: t.expiring
    class: cert_expiring_soon
    title: expires
    match: { message: 'expires in (?P<remaining>.+)' }
    extract: { expires_in: duration(remaining) }
    severity: [ { critical: 'expires_in < {expiry_critical}' }, { warning: 'expires_in <= { expiry_warning }' }, { info: true } ]
)";
  RuleSet set;
  std::vector<Diagnostic> problems;
  load_pack_text(pack, "t.yaml", set, problems);
  ASSERT_FALSE(has_errors(problems));
  const auto& cases = set.rules.at(0).severity;
  ASSERT_EQ(cases.size(), 3u);
  EXPECT_EQ(cases[0].when.threshold, "expiry_critical");
  EXPECT_EQ(cases[0].when.value, 7 * 86400) << "the default until a run says otherwise";
  EXPECT_EQ(cases[1].when.threshold, "expiry_warning");
  EXPECT_EQ(cases[1].when.value, 30 * 86400);
  set_expiry_thresholds(set.rules, {60 * 86400, 3 * 86400});
  EXPECT_EQ(cases[0].when.value, 3 * 86400);
  EXPECT_EQ(cases[1].when.value, 60 * 86400);
  EXPECT_EQ(cases[2].when.op, Comparison::Op::always);

  std::string typo = pack;
  typo.replace(typo.find("{expiry_critical}"), 17, "{expiry_critcal}");
  EXPECT_TRUE(has(problems_of(typo), "p.yaml:8: rule t.expiring: severity condition 'expires_in < {expiry_critcal}': no "
                                     "threshold is called {expiry_critcal} (there are {expiry_warning} and {expiry_critical})"))
      << testing::PrintToString(problems_of(typo));
  typo = pack;
  typo.replace(typo.find("{expiry_critical}"), 17, "{}");
  EXPECT_TRUE(has(problems_of(typo), "is not NAME OP VALUE"));
}

TEST(RulePackLoader, InvalidYamlSaysWhere) {
  auto p = problems_of("pack: t\nrules:\n  - id: t.a\n    title: [unclosed\n");
  ASSERT_FALSE(p.empty());
  EXPECT_TRUE(has(p, "p.yaml:5: not valid YAML") || has(p, "p.yaml:4: not valid YAML")) << ::testing::PrintToString(p);
}

// The parser's own messages are collected, never printed: `rules check` reports them as it
// reports everything else, with the line where the YAML breaks.
TEST(RulePackLoader, BrokenYamlNamesTheLineOfTheBreakAndPrintsNothing) {
  ::testing::internal::CaptureStderr();
  auto p = problems_of(R"(pack: t
rules:
  - id: t.a
    class: cert_expired
    title: a: b
    match: { message: a }
  - id: t.b
)");
  auto unsupported = problems_of("%YAML 2.0\n---\npack: t\nrules: []\n");
  const std::string printed = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
  EXPECT_TRUE(has(p, "p.yaml:5: not valid YAML: mapping values are not allowed")) << p[0];
  ASSERT_EQ(unsupported.size(), 1u) << ::testing::PrintToString(unsupported);
  EXPECT_TRUE(has(unsupported, "p.yaml:1: not valid YAML: found incompatible YAML document")) << unsupported[0];
  EXPECT_EQ(printed, "");
}

// yaml-cpp kept one of the two values without a word; a rule with `id:` twice is a mistake.
TEST(RulePackLoader, AKeyGivenTwiceIsAnErrorOnTheSecond) {
  auto p = problems_of(R"(pack: t
rules:
  - id: t.a
    class: cert_expired
    title: a
    id: t.b
    match: { message: a }
)");
  EXPECT_TRUE(has(p, "p.yaml:6: not valid YAML: duplicate key")) << ::testing::PrintToString(p);
}

// A file with nothing in it yet is not broken YAML; it is a pack that lacks everything.
TEST(RulePackLoader, AnEmptyFileIsNotAPack) {
  for (const char* text : {"", "# to do\n\n"})
    EXPECT_EQ(problems_of(text), std::vector<std::string>{"p.yaml: a pack is a map with `pack:` and `rules:`"});
}

// An empty value is YAML's null, not text, as it was with yaml-cpp; it is reported on its key's line.
TEST(RulePackLoader, AnEmptyValueIsNotASingleValue) {
  auto p = problems_of("pack: t\nrules:\n  - id: t.a\n    class:\n    title: a\n    match: { message: a }\n");
  EXPECT_TRUE(has(p, "p.yaml:4: rule t.a: `class` must be a single value")) << ::testing::PrintToString(p);
}

// Quoted values as YAML defines them; libfyaml 0.7.12, used before libyaml, read each of these
// wrongly: escaped quotes in a row, a double-quoted value with an escape over two lines.
TEST(RulePackLoader, QuotedValuesAreReadAsWritten) {
  RuleSet set;
  std::vector<Diagnostic> problems;
  load_pack_text("pack: t\nrules:\n  - id: t.a\n    class: cert_expired\n"
                 "    title: 'it''s ''''quoted'''''\n"
                 "    match: { message: \"two\\tlines, \\\n      then \\\"\\x41\\\" \n      end\" }\n",
                 "p.yaml", set, problems);
  for (const auto& d : problems) ADD_FAILURE() << format_diagnostic(d);
  ASSERT_EQ(set.rules.size(), 1u);
  EXPECT_EQ(set.rules[0].title, "it's ''quoted''");
  EXPECT_EQ(set.rules[0].pattern, "two\tlines, then \"A\" end");
}

// CR LF is one line break: values fold across it as across LF, and lines count the same.
TEST(RulePackLoader, CrLfLineEndsKeepValuesAndLines) {
  RuleSet set;
  std::vector<Diagnostic> problems;
  load_pack_text("pack: t\r\nrules:\r\n  - id: t.a\r\n    class: cert_expired\r\n"
                 "    title: 'a\r\n      b\r\n\r\n      c'\r\n"
                 "    match: { message: \"x\r\n      y\" }\r\n"
                 "  - id: t.b\r\n    class: cert_expired\r\n    title: b\r\n    match: { message: b }\r\n"
                 "    severity: urgent\r\n",
                 "p.yaml", set, problems);
  ASSERT_EQ(set.rules.size(), 1u);
  EXPECT_EQ(set.rules[0].defined_at.line, 3);
  EXPECT_EQ(set.rules[0].title, "a b\nc");
  EXPECT_EQ(set.rules[0].pattern, "x y");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(format_diagnostic(problems[0]), "p.yaml:15: rule t.b: severity 'urgent' is not info, warning or critical");
}

// Aliases work; merge keys are not resolved (nor were they by yaml-cpp): `<<` is a key like any
// other, and not one a rule has.
TEST(RulePackLoader, AliasesAreTheirAnchorsValueAndMergeKeysAreUnknown) {
  RuleSet set;
  std::vector<Diagnostic> problems;
  load_pack_text(R"(pack: t
rules:
  - id: t.a
    class: cert_expired
    title: &title shared title
    match: &match { message: shared }
  - id: t.b
    class: cert_expired
    title: *title
    match: *match
  - <<: { class: cert_expired }
    id: t.c
    title: c
    match: *match
)", "p.yaml", set, problems);
  ASSERT_EQ(set.rules.size(), 2u);
  EXPECT_EQ(set.rules[1].title, "shared title");
  EXPECT_EQ(set.rules[1].pattern, "shared");
  std::vector<std::string> p;
  for (const auto& d : problems) p.push_back(format_diagnostic(d));
  EXPECT_TRUE(has(p, "p.yaml:11: rule t.c: unknown key '<<'")) << ::testing::PrintToString(p);
}

TEST(RulePackLoader, RegexErrorsComeFromTheCompilerWithTheRulesLine) {
  auto p = problems_of("pack: t\nrules:\n  - id: t.a\n    class: cert_expired\n    title: a\n    match: { message: 'bad (' }\n");
  EXPECT_TRUE(has(p, "p.yaml:3: rule t.a: match regex does not compile: missing )")) << ::testing::PrintToString(p);
}

// RE2 accepts a name twice and fills only the first group: {why} would print empty for 'b'.
TEST(RulePackLoader, AGroupNameUsedTwiceInOnePatternIsRefusedWithItsLine) {
  auto p = problems_of(R"(pack: t
rules:
  - id: t.a
    class: cert_expired
    title: a
    match:
      message: 'a failed: (?P<why>x+)|b failed: (?P<why>y+)'
  - id: t.b
    class: cert_expired
    title: b
    match: { field: err, regex: '(?P<n>\d)(?P<n>\d)' }
  - id: t.c
    class: cert_expired
    title: c
    match: { message: '\(?P<why>[(?P<why>]+(?P<why>z)' }
)");
  EXPECT_TRUE(has(p, "p.yaml:7: rule t.a: match: the group name 'why' is used twice")) << ::testing::PrintToString(p);
  EXPECT_TRUE(has(p, "p.yaml:11: rule t.b: match: the group name 'n' is used twice"));
  EXPECT_FALSE(has(p, "rule t.c")) << "an escaped parenthesis and a character class open no group";
}

TEST(RulePackLoader, CorrelationWithAnUnknownRootIsAnError) {
  auto p = problems_of("pack: t\nrules: []\ncorrelations:\n  - { id: t.c, root: t.nope, symptoms: [t.x] }\n");
  EXPECT_TRUE(has(p, "p.yaml:4: correlation t.c: root 't.nope' is not a loaded rule"));
}

TEST(RulePackLoader, LoadsADirectoryAndSaysWhenAFileIsMissing) {
  RuleSet set;
  std::vector<Diagnostic> problems;
  load_pack_path("/nonexistent/pack.yaml", set, problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(format_diagnostic(problems[0]).find("/nonexistent/pack.yaml: cannot read the file"), std::string::npos);
}

TEST(BuiltinPacks, LoadCompileAndPassTheirOwnTests) {
  RuleSet set;
  std::vector<Diagnostic> problems;
  load_builtin_packs(set, problems);
  check_rule_set(set, problems);
  for (const auto& d : problems) EXPECT_TRUE(d.is_warning) << format_diagnostic(d);
  std::optional<Matcher> m = Matcher::compile(set.rules, problems);
  ASSERT_TRUE(m);
  EXPECT_GE(set.packs.size(), 5u);
  TestReport report = run_rule_tests(*m, set.tests);
  for (const auto& f : report.failures)
    ADD_FAILURE() << f.test->at.file << ":" << f.test->at.line << " " << f.test->rule_id << ": " << f.why;
  EXPECT_GT(report.passed, 50u);
}

// A run skips the packs' test lines to start faster; it must get the very same rules, in the
// same order, with the same file:line for diagnostics.
TEST(BuiltinPacks, SkippingTestLinesLeavesTheRulesAsTheyAre) {
  RuleSet full, lean;
  std::vector<Diagnostic> problems;
  load_builtin_packs(full, problems, TestLines::read);
  load_builtin_packs(lean, problems, TestLines::skip);
  EXPECT_TRUE(problems.empty());
  EXPECT_GT(full.tests.size(), 100u);
  EXPECT_TRUE(lean.tests.empty());
  ASSERT_EQ(lean.rules.size(), full.rules.size());
  for (std::size_t i = 0; i < full.rules.size(); ++i) {
    const RuleSpec &a = full.rules[i], &b = lean.rules[i];
    EXPECT_EQ(b.id, a.id);
    EXPECT_EQ(b.pattern, a.pattern) << a.id;
    EXPECT_EQ(b.klass, a.klass) << a.id;
    EXPECT_EQ(b.resolves, a.resolves) << a.id;
    EXPECT_EQ(b.annotations, a.annotations) << a.id;
    EXPECT_EQ(b.defined_at.line, a.defined_at.line) << a.id;
  }
  ASSERT_EQ(lean.correlations.size(), full.correlations.size());
}

}  // namespace
}  // namespace klaxon::rules
