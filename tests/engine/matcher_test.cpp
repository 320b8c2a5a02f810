#include "engine/matcher.hpp"

#include <gtest/gtest.h>

#include <random>

#include "engine/decoder.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

const char* kPack = R"(
pack: t
rules:
  - id: t.expired
    class: cert_expired
    title: expired
    match: { message: 'x509: certificate has expired or is not yet valid: current time \S+ is after (?P<not_after>[^"\s]+)' }
    extract: { expired_at: instant(not_after) }
  - id: t.handshake
    class: tls_handshake_failure
    title: handshake
    match: { message: 'authentication handshake failed' }
  - id: t.angle
    class: cert_unknown_authority
    title: angle brackets escaped by Go
    match: { message: 'issuer <(?P<issuer>[^>]+)> is unknown' }
  - id: t.quoted
    class: cert_bad_signature
    title: quotes escaped in JSON
    match: { message: 'signature of "root" is bad' }
  - id: t.warn
    class: cert_expiring_soon
    title: expiring
    match: { message: 'expires in (?P<left>.+)' }
    where: { scope: dapr.sentry, level: [warning, error] }
    exclude: 'test only'
    extract: { expires_in: duration(left) }
    severity: [ { critical: 'expires_in < 7d' }, { warning: true } ]
  - id: t.sentry_scope
    class: connection_lost
    title: field match
    match: { field: scope, regex: '^dapr\.sentry$' }
    where: { level: '/^err/' }
  - id: t.not_at_start
    class: connection_lost
    title: negated field condition
    match: { message: 'Failed to connect' }
    where: { uptime: '!/^[01]\./' }
)";

struct Matched {
  std::vector<std::string> rules;
  std::vector<RuleMatch> all;
};

class MatcherTest : public ::testing::Test {
 protected:
  Matcher m = test::matcher_from_yaml(kPack);
  Decoder decoder;
  Matcher::Scratch scratch;
  Record record;
  std::vector<RuleMatch> out;

  std::vector<std::string> match(std::string_view line) {
    std::vector<std::string> ids;
    record.labels.clear();
    out.clear();
    if (m.may_match(line, scratch)) {
      decoder.decode(line, record, 2024);
      m.match(record, scratch, out);
    }
    for (const RuleMatch& r : out) ids.push_back(m.rules()[std::size_t(r.rule)].id);
    return ids;
  }
};

TEST_F(MatcherTest, MostSpecificClassComesFirst) {
  auto ids = match("transport: authentication handshake failed: x509: certificate has expired or is not yet valid: "
                   "current time 2023-06-19T13:19:51Z is after 2023-06-16T12:31:17Z");
  ASSERT_EQ(ids, (std::vector<std::string>{"t.expired", "t.handshake"}));
  ASSERT_NE(out[0].find("expired_at"), nullptr);
  EXPECT_EQ(value_to_string(*out[0].find("expired_at")), "2023-06-16T12:31:17Z");
}

TEST_F(MatcherTest, FindsLiteralsThatJsonEscapesInTheRawBytes) {
  // Go's encoding/json writes < and > as \u003c and \u003e; quotes are \" inside a string.
  EXPECT_EQ(match(R"({"msg":"issuer \u003cAcme Root\u003e is unknown"})"), (std::vector<std::string>{"t.angle"}));
  EXPECT_EQ(value_to_string(*out[0].find("issuer")), "Acme Root");
  EXPECT_EQ(match(R"({"msg":"signature of \"root\" is bad"})"), (std::vector<std::string>{"t.quoted"}));
  // Docker's json-file envelope escapes the JSON payload a second time.
  EXPECT_EQ(match(R"({"log":"{\"msg\":\"signature of \\\"root\\\" is bad\"}\n","stream":"stdout","time":"2024-01-01T00:00:00Z"})"),
            (std::vector<std::string>{"t.quoted"}));
}

TEST_F(MatcherTest, FieldConditionsExcludeAndSeverity) {
  EXPECT_EQ(match(R"({"level":"warning","scope":"dapr.sentry","msg":"certificate expires in 2 days and 15 hours"})"),
            (std::vector<std::string>{"t.warn"}));
  EXPECT_EQ(out[0].severity, Severity::critical);
  EXPECT_EQ(match(R"({"level":"warning","scope":"dapr.sentry","msg":"certificate expires in 29 days and 1 hours"})"),
            (std::vector<std::string>{"t.warn"}));
  EXPECT_EQ(out[0].severity, Severity::warning);
  EXPECT_TRUE(match(R"({"level":"info","scope":"dapr.sentry","msg":"certificate expires in 2 days"})").empty());
  EXPECT_TRUE(match(R"({"level":"warning","scope":"other","msg":"certificate expires in 2 days"})").empty());
  EXPECT_TRUE(match(R"({"level":"warning","scope":"dapr.sentry","msg":"test only: expires in 2 days"})").empty());
  EXPECT_EQ(match(R"({"level":"error","scope":"dapr.sentry","msg":"anything"})"),
            (std::vector<std::string>{"t.sentry_scope"}));
}

TEST_F(MatcherTest, ANegatedConditionHoldsWhenTheFieldIsAbsentOrDoesNotMatch) {
  // A proxy's first two seconds are start-up; the same line later, or without an uptime, is not.
  EXPECT_TRUE(match("[     0.755221s]  WARN ThreadId(01) linkerd_reconnect: Failed to connect error=refused").empty());
  EXPECT_EQ(match("[    12.755221s]  WARN ThreadId(01) linkerd_reconnect: Failed to connect error=refused"),
            (std::vector<std::string>{"t.not_at_start"}));
  EXPECT_EQ(match(R"({"level":"warn","msg":"Failed to connect"})"), (std::vector<std::string>{"t.not_at_start"}));
}

TEST_F(MatcherTest, LinesWithoutAnyLiteralAreNotDecoded) {
  EXPECT_FALSE(m.may_match("GET /healthz 200 1ms", scratch));
  EXPECT_FALSE(m.may_match("", scratch));
}

TEST_F(MatcherTest, PrefilterNeverHidesAMatch) {
  // Random lines built from pieces of the rules' literals, escapes and noise: whatever the
  // prefilter lets through must be exactly what trying every rule finds.
  const std::vector<std::string> pieces = {
      "x509: certificate has expired or is not yet valid: current time 2023-06-19T13:19:51Z is after 2023-06-16T12:31:17Z",
      "authentication handshake", " failed", "issuer \\u003cX\\u003e is unknown", "issuer <X> is unknown",
      "signature of \\\"root\\\" is bad", "signature of \"root\" is bad", "expires in 3 hours", "test only",
      "{\"msg\":\"", "\"}", "\"level\":\"warning\",", "\"scope\":\"dapr.sentry\",", "noise ", "\xff", "AUTHENTICATION HANDSHAKE FAILED"};
  std::mt19937 rng(42);
  int compared = 0, matched = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string line;
    const int n = 1 + int(rng() % 5);
    for (int k = 0; k < n; ++k) line += pieces[rng() % pieces.size()];
    record.labels.clear();
    decoder.decode(line, record, 2024);
    std::vector<RuleMatch> every;
    m.match_every_rule(record, scratch, every);
    std::vector<RuleMatch> filtered;
    if (m.may_match(line, scratch)) m.match(record, scratch, filtered);
    ASSERT_EQ(filtered.size(), every.size()) << line;
    for (std::size_t k = 0; k < every.size(); ++k) ASSERT_EQ(filtered[k].rule, every[k].rule) << line;
    ++compared;
    matched += !every.empty();
  }
  EXPECT_EQ(compared, 20000);
  EXPECT_GT(matched, 1000);
}

TEST(MatcherRender, AnOptionalGroupThatTookNoPartSaysNothingInTheSummary) {
  // `.NET TLS handshake failed {alert}`: the alert is named on some lines, not on others.
  Matcher m = test::matcher_from_yaml(R"(
pack: t
rules:
  - id: t.handshake
    class: tls_handshake_failure
    title: handshake
    match: { message: 'handshake failed(?: with alert (?P<alert>\w+))?' }
    annotations: { summary: 'TLS handshake failed{alert} {not a name}' }
)");
  Decoder decoder;
  Matcher::Scratch scratch;
  const std::string summary = m.rules()[0].annotations.at(0).second;
  auto render = [&](std::string_view line) {
    Record record;
    std::vector<RuleMatch> out;
    if (!m.may_match(line, scratch)) return std::string("(no candidate)");
    decoder.decode(line, record, 2024);
    m.match(record, scratch, out);
    return out.empty() ? std::string("(no match)") : render_template(summary, out[0]);
  };
  EXPECT_EQ(render("handshake failed with alert HandshakeFailure"), "TLS handshake failedHandshakeFailure {not a name}");
  EXPECT_EQ(render("the TLS handshake failed"), "TLS handshake failed {not a name}");
}

TEST(MatcherCompile, ReportsEveryProblemWithItsRule) {
  std::vector<Diagnostic> problems;
  RuleSpec bad;
  bad.id = "t.bad";
  bad.defined_at = {"p.yaml", 7};
  bad.pattern = "unclosed (group";
  RuleSpec missing_capture;
  missing_capture.id = "t.cap";
  missing_capture.defined_at = {"p.yaml", 12};
  missing_capture.pattern = "expires in (?P<left>.+)";
  missing_capture.extract.push_back({"expires_in", ExtractKind::duration, "remaining"});
  EXPECT_FALSE(Matcher::compile({bad, missing_capture}, problems));
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(format_diagnostic(problems[0]).rfind("p.yaml:7: rule t.bad: match regex does not compile", 0), 0u)
      << format_diagnostic(problems[0]);
  EXPECT_NE(format_diagnostic(problems[1]).find("p.yaml:12: rule t.cap: extract expires_in: the regex has no capture named 'remaining'"),
            std::string::npos);
}

TEST(MatcherCompile, RulesWithoutLiteralsAreCandidatesEverywhere) {
  Matcher m = test::matcher_from_yaml(R"(
pack: t
rules:
  - { id: t.any, class: crashloop, title: x, match: { message: '^\S+\s+\d+$' } }
)");
  EXPECT_EQ(m.prefilter().unfiltered(), std::vector<int>{0});
  Matcher::Scratch s;
  EXPECT_TRUE(m.may_match("restarts 5", s));
}

TEST(RenderTemplate, FillsValuesAndLeavesOutAPlaceholderWhoseGroupTookNoPart) {
  RuleMatch match;
  Value host, left;
  host.name = "host";
  host.text = "orders.shop.svc";
  left.name = "left";
  left.kind = Value::Kind::seconds;
  left.integer = 2 * 86400 + 15 * 3600;
  match.values = {host, left};
  EXPECT_EQ(render_template("cannot verify {host} certificate, {left} left", match),
            "cannot verify orders.shop.svc certificate, 2d15h left");
  // `{alert}` sits in one alternative of the regex; a line that took another has no value for it.
  EXPECT_EQ(render_template("GnuTLS handshake failed {alert}", match), "GnuTLS handshake failed");
  EXPECT_EQ(render_template("{alert} handshake failed for {host}", match), "handshake failed for orders.shop.svc");
  // Braces that are no placeholder name stay text.
  EXPECT_EQ(render_template("payload {\"a\": 1} and {0}", match), "payload {\"a\": 1} and {0}");
}

}  // namespace
}  // namespace klaxon
