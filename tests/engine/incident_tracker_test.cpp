#include "engine/incident_tracker.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>

#include "engine/stream_classifier.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

const char* kPack = R"(
pack: t
rules:
  - id: t.expiring
    class: cert_expiring_soon
    lifecycle: certificate
    certificate: t.root
    title: root certificate expires soon
    match: { message: 'certificate expires in (?P<remaining>.+)' }
    extract: { expires_in: duration(remaining) }
    group_by: [cluster]
    severity: [ { critical: 'expires_in < 7d' }, { warning: true } ]
    resolve_after: 2h
  - id: t.root_expired
    class: cert_expired
    lifecycle: certificate
    certificate: t.root
    title: root certificate expired
    match: { message: 'root certificate has expired' }
    group_by: [cluster]
    severity: critical
    resolve_after: 1h
  - id: t.handshake
    class: cert_expired
    title: sidecar handshake fails
    match: { message: 'handshake failed: x509: certificate has expired' }
    group_by: [pod]
    severity: critical
  - id: t.lost
    class: connection_lost
    title: connection lost
    match: { message: 'http2: client connection lost' }
    group_by: [pod]
    min_count: 3
    within: 5m
  - id: t.validity
    class: cert_validity
    lifecycle: certificate
    title: issuer certificate validity
    match: { message: 'issuer cert expiry: (?P<at>.+)' }
    extract: { expires_at: instant(at) }
    group_by: [instance]
    severity: info
  - id: t.renewed
    class: cert_validity
    lifecycle: certificate
    certificate: t.root
    title: renewed
    match: { message: '(?i)certificate rotation is successful' }
    resolves: [t.expiring]
    group_by: [cluster]
    severity: info
correlations:
  - { id: t.outage, root: t.root_expired, symptoms: [t.handshake, t.lost], within: 1h, same: [cluster] }
)";

// A line at `t` (RFC3339), JSON with time, instance or kubectl prefix for pod.
std::string line(const std::string& t, const std::string& msg, const std::string& who = "sentry-1") {
  return "{\"time\":\"" + t + "\",\"instance\":\"" + who + "\",\"pod\":\"" + who + "\",\"msg\":\"" + msg + "\"}\n";
}

std::string at(Nanos t) { return format_rfc3339(t); }
Nanos T(const char* s) { return *parse_instant(s); }
constexpr Nanos kHour = 3600 * kNanosPerSecond;
constexpr Nanos kDay = 24 * kHour;

struct Replay {
  std::vector<IncidentEvent> events;
  std::vector<IncidentSnapshot> incidents;
  TrackerStats stats;
};

Replay replay(const Matcher& m, const std::vector<CorrelationSpec>& correlations, const std::string& text,
        Nanos advance_to = 0, TrackerOptions options = {}) {
  Replay r;
  IncidentTracker tracker(m.rules(), correlations, options);
  StreamClassifier s(m, "t", {}, {}, [&](const ClassifiedLine& l) { tracker.observe(l, r.events); });
  s.feed(text);
  s.finish();
  if (advance_to) tracker.advance(advance_to, r.events);
  r.incidents = tracker.incidents();
  r.stats = tracker.stats();
  return r;
}

class TrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rules::RuleSet set;
    std::vector<Diagnostic> problems;
    rules::load_pack_text(kPack, "t.yaml", set, problems);
    ASSERT_FALSE(rules::has_errors(problems));
    correlations = set.correlations;
    matcher.emplace(*Matcher::compile(set.rules, problems));
  }
  std::optional<Matcher> matcher;
  std::vector<CorrelationSpec> correlations;

  std::vector<std::string> kinds(const Replay& r, const std::string& rule) {
    std::vector<std::string> out;
    for (const auto& e : r.events)
      if (e.incident.rule == rule) out.push_back(std::string(to_string(e.kind)) + "@" + at(e.time));
    return out;
  }
};

TEST_F(TrackerTest, ExpiryIsPredictedFromHourlyWarningsAndEscalatesOnTheClock) {
  // Dapr prints whole hours: at 10:30 "2 days and 15 hours" means expiry in [+2d15h, +2d16h).
  const Nanos expiry = T("2024-04-04T14:00:00Z");
  std::string text;
  for (Nanos t = expiry - 30 * kDay + 30 * 60 * kNanosPerSecond; t < expiry; t += kHour) {
    const std::int64_t left_h = (expiry - t) / kHour;
    text += line(at(t), "certificate expires in " + std::to_string(left_h / 24) + " days and " +
                            std::to_string(left_h % 24) + " hours");
  }
  Replay r = replay(*matcher, correlations, text, expiry + kDay);
  ASSERT_EQ(r.incidents.size(), 1u);
  const IncidentSnapshot& i = r.incidents[0];
  EXPECT_EQ(i.count, 720u);
  EXPECT_EQ(i.klass, "cert_expired");  // the clock passed the instant, no renewal
  EXPECT_EQ(i.severity, Severity::critical);
  EXPECT_TRUE(i.open);
  // The tightest lower bound is within the emitter's rounding (one hour) of the real instant.
  EXPECT_LE(i.expires_at, expiry);
  EXPECT_GT(i.expires_at, expiry - kHour);
  const auto k = kinds(r, "t.expiring");
  ASSERT_GE(k.size(), 3u);
  EXPECT_EQ(k.front(), "opened@" + at(expiry - 30 * kDay + 30 * 60 * kNanosPerSecond));
  // Critical 7 days before the predicted instant (on the clock, not waiting for a line that
  // says so); expired at the predicted instant.
  EXPECT_NE(std::find(k.begin(), k.end(), "escalated@" + at(i.expires_at - 7 * kDay)), k.end())
      << ::testing::PrintToString(k);
  EXPECT_EQ(k.back(), "escalated@" + at(i.expires_at));
}

TEST_F(TrackerTest, UpdatesAreAtMostOnePerMinutePerIncident) {
  std::string text;
  for (int s = 0; s < 600; s += 10)
    text += line(at(T("2023-06-19T13:00:00Z") + s * kNanosPerSecond), "handshake failed: x509: certificate has expired", "p");
  Replay r = replay(*matcher, correlations, text);
  const auto k = kinds(r, "t.handshake");
  EXPECT_EQ(k.front(), "opened@2023-06-19T13:00:00Z");
  EXPECT_GE(k.size(), 9u);
  EXPECT_LE(k.size(), 11u);
  ASSERT_EQ(r.incidents.size(), 1u);
  EXPECT_EQ(r.incidents[0].count, 60u);
}

// A certificate's warnings stop when it dies as well as when it is renewed: silence proves
// nothing, so the incident stays open and expires at the stated instant.
TEST_F(TrackerTest, WarningsThatStopAreNotARenewal) {
  const Nanos expiry = T("2024-04-04T14:00:00Z");
  std::string text;
  for (Nanos t = expiry - 10 * kDay; t < expiry - 9 * kDay; t += kHour)
    text += line(at(t), "certificate expires in " + std::to_string((expiry - t) / kDay) + " days and 0 hours");
  Replay r = replay(*matcher, correlations, text, expiry + kDay);
  ASSERT_EQ(r.incidents.size(), 1u);
  EXPECT_TRUE(r.incidents[0].open);
  EXPECT_EQ(r.incidents[0].klass, "cert_expired");
  // "N days and 0 hours" bounds the instant from below, to within the day.
  EXPECT_GT(r.incidents[0].expires_at, expiry - kDay);
  EXPECT_EQ(kinds(r, "t.expiring").back(), "escalated@" + at(r.incidents[0].expires_at));
}

// The issue's quiet expiry: one warning "0 days and 5 hours" at 00:00, then another pod's
// classified line at 09:00. No resolution; expired at 05:00.
TEST_F(TrackerTest, OneWarningThenQuietHoursExpiresAtThePredictedInstant) {
  std::string text = line("2024-04-01T00:00:00Z", "certificate expires in 0 days and 5 hours") +
                     line("2024-04-01T09:00:00Z", "handshake failed: x509: certificate has expired", "other-pod");
  Replay r = replay(*matcher, correlations, text);
  const auto k = kinds(r, "t.expiring");
  EXPECT_EQ(k, (std::vector<std::string>{"opened@2024-04-01T00:00:00Z", "escalated@2024-04-01T05:00:00Z"}));
  for (const auto& e : r.events) EXPECT_NE(e.kind, IncidentEvent::Kind::resolved) << e.incident.rule;
  const IncidentSnapshot* cert = nullptr;
  for (const auto& i : r.incidents)
    if (i.rule == "t.expiring") cert = &i;
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(cert->klass, "cert_expired");
  EXPECT_EQ(cert->summary, "expired at 2024-04-01T05:00:00Z; no renewal seen");
}

// The replay ends within the allowed lateness after the instant: the end decides, since no
// late line can come any more.
TEST_F(TrackerTest, TheEndOfAReplaySaysAnExpiryWithinTheWindow) {
  Matcher& m = *matcher;
  IncidentTracker tracker(m.rules(), correlations);
  std::vector<IncidentEvent> events;
  StreamClassifier s(m, "t", {}, {}, [&](const ClassifiedLine& l) { tracker.observe(l, events); });
  s.feed(line("2024-04-01T00:00:00Z", "certificate expires in 0 days and 5 hours"));
  s.feed(line("2024-04-01T05:00:10Z", "handshake failed: x509: certificate has expired", "p"));
  s.finish();
  ASSERT_EQ(events.size(), 2u);  // opened, opened: the clock waits 30 s for late lines
  tracker.finish(events);
  ASSERT_GE(events.size(), 3u);  // then the expired root adopts the handshake failure
  EXPECT_EQ(events[2].kind, IncidentEvent::Kind::escalated);
  EXPECT_EQ(at(events[2].time), "2024-04-01T05:00:00Z");
  EXPECT_EQ(events[2].incident.summary, "expired at 2024-04-01T05:00:00Z, during the window; no renewal seen");
}

// The emitter's own "has expired" line joins the incident the warnings opened, even from a
// new pod; and a line stating a later expiry renews it, naming itself.
TEST_F(TrackerTest, OneCertificateOneIncidentUntilARenewalSaysSo) {
  std::string text = line("2024-04-01T00:00:00Z", "certificate expires in 0 days and 5 hours", "sentry-1") +
                     line("2024-04-01T06:00:00Z", "Dapr root certificate has expired.", "sentry-2") +
                     line("2024-04-01T07:00:00Z", "certificate expires in 29 days and 23 hours", "sentry-3");
  Replay r = replay(*matcher, correlations, text);
  ASSERT_EQ(r.incidents.size(), 1u);  // the renewed certificate's, which took the place of the old
  ASSERT_GE(r.events.size(), 3u);
  const IncidentEvent& end = *std::find_if(r.events.begin(), r.events.end(),
                                           [](const auto& e) { return e.kind == IncidentEvent::Kind::resolved; });
  const IncidentSnapshot& old = end.incident;
  EXPECT_EQ(old.count, 2u);  // the warning and the "has expired" line of a new pod
  EXPECT_EQ(old.klass, "cert_expired");
  EXPECT_FALSE(old.open);
  EXPECT_EQ(old.resolved_because, "renewed");
  EXPECT_EQ(old.resolved_by, "t:3");
  EXPECT_EQ(old.summary, "renewed: t:3 states a later expiry, 2024-05-01T06:00:00Z");
  std::vector<std::string> said;
  for (const auto& e : r.events)
    if (e.incident.id == old.id && e.kind != IncidentEvent::Kind::updated)
      said.push_back(std::string(to_string(e.kind)) + "@" + at(e.time));
  EXPECT_EQ(said, (std::vector<std::string>{"opened@2024-04-01T00:00:00Z", "escalated@2024-04-01T05:00:00Z",
                                            "resolved@2024-04-01T07:00:00Z"}));
  // The renewed certificate's own warning is a new incident of the same certificate.
  EXPECT_TRUE(r.incidents[0].open);
  EXPECT_EQ(r.incidents[0].klass, "cert_expiring_soon");
  EXPECT_EQ(r.incidents[0].id, old.id + "-2");
}

// One warning in two envelopes, or a replay of pods whose logs interleave: a line stamped days
// before the statement already held arrives after it. Its "expires in" counts from its own,
// older time; it must neither expire the certificate early nor, when the fresh statement comes
// again, count as a renewal.
TEST_F(TrackerTest, AStaleStatementReadAfterAFreshOneMovesNoExpiry) {
  std::string text;
  for (int i = 0; i < 10; ++i) {
    text += line(fmt::format("2024-04-06T00:00:{:02}Z", i), "certificate expires in 2 days and 15 hours", "sentry-1");
    text += line(fmt::format("2024-04-01T00:00:{:02}Z", i), "certificate expires in 2 days and 15 hours", "sentry-1");
  }
  Replay r = replay(*matcher, correlations, text);
  ASSERT_EQ(r.incidents.size(), 1u);
  EXPECT_TRUE(r.incidents[0].open);
  EXPECT_EQ(r.incidents[0].klass, "cert_expiring_soon");
  EXPECT_EQ(at(r.incidents[0].expires_at).substr(0, 16), "2024-04-08T15:00");  // the fresh lines, not 04-03
  for (const auto& e : r.events) {
    EXPECT_NE(e.kind, IncidentEvent::Kind::resolved) << at(e.time);
    EXPECT_NE(e.kind, IncidentEvent::Kind::escalated) << at(e.time);
  }
}

TEST_F(TrackerTest, ARenewalLineResolvesTheWarning) {
  std::string text = line("2024-04-01T00:00:00Z", "certificate expires in 2 days and 0 hours") +
                     line("2024-04-01T01:00:00Z", "Certificate rotation is successful! valid through 2025");
  Replay r = replay(*matcher, correlations, text);
  ASSERT_EQ(r.incidents.size(), 1u);
  EXPECT_FALSE(r.incidents[0].open);
  EXPECT_EQ(r.incidents[0].resolved_because, "renewed");
}

TEST_F(TrackerTest, RootCauseAdoptsSymptomsBeforeAndAfterIt) {
  std::string text;
  text += line("2023-06-19T12:40:00Z", "handshake failed: x509: certificate has expired", "app1-a");
  text += line("2023-06-19T12:49:06Z", "Dapr root certificate has expired.", "sentry-1");
  for (int p = 0; p < 5; ++p)
    for (int k = 0; k < 3; ++k)
      text += line("2023-06-19T13:0" + std::to_string(k) + ":00Z", "handshake failed: x509: certificate has expired",
                   "app" + std::to_string(p) + "-b");
  Replay r = replay(*matcher, correlations, text);
  const IncidentSnapshot* root = nullptr;
  int children = 0;
  for (const auto& i : r.incidents) {
    if (i.rule == "t.root_expired") root = &i;
  }
  ASSERT_NE(root, nullptr);
  for (const auto& i : r.incidents)
    if (i.rule == "t.handshake") {
      EXPECT_EQ(i.caused_by, root->id) << i.labels[0].second;
      ++children;
    }
  EXPECT_EQ(children, 6);
  EXPECT_EQ(root->symptoms, 6u);
  EXPECT_EQ(root->symptom_pods.size(), 6u);
  EXPECT_TRUE(root->caused_by.empty());
}

TEST_F(TrackerTest, SymptomsOutsideTheWindowStayAlone) {
  std::string text = line("2023-06-19T08:00:00Z", "handshake failed: x509: certificate has expired", "early") +
                     line("2023-06-19T12:49:06Z", "Dapr root certificate has expired.");
  Replay r = replay(*matcher, correlations, text);
  ASSERT_EQ(r.incidents.size(), 2u) << "the symptom and the root";
  for (const auto& i : r.incidents) EXPECT_TRUE(i.caused_by.empty()) << i.rule;
}

TEST_F(TrackerTest, MinCountOpensOnlyAtTheNthMatchWithinTheWindow) {
  std::string slow, fast;
  for (int k = 0; k < 3; ++k) slow += line("2023-06-19T1" + std::to_string(k) + ":00:00Z", "http2: client connection lost", "op");
  for (int k = 0; k < 3; ++k) fast += line("2023-06-19T10:0" + std::to_string(k) + ":00Z", "http2: client connection lost", "op");
  EXPECT_TRUE(replay(*matcher, correlations, slow).incidents.empty());
  Replay r = replay(*matcher, correlations, fast);
  ASSERT_EQ(r.incidents.size(), 1u);
  EXPECT_EQ(r.incidents[0].count, 3u);
  EXPECT_EQ(at(r.incidents[0].first_seen), "2023-06-19T10:00:00Z");
  EXPECT_EQ(kinds(r, "t.lost"), std::vector<std::string>{"opened@2023-06-19T10:02:00Z"});
}

TEST_F(TrackerTest, QuietIncidentsResolveInEventTimeNotWallTime) {
  std::string text = line("2023-06-19T10:00:00Z", "handshake failed: x509: certificate has expired", "p") +
                     line("2023-06-19T12:00:00Z", "certificate expires in 30 days and 0 hours", "other");
  Replay r = replay(*matcher, correlations, text);
  ASSERT_EQ(r.incidents.size(), 2u);
  EXPECT_FALSE(r.incidents[0].open);
  EXPECT_EQ(kinds(r, "t.handshake").back(), "resolved@2023-06-19T10:15:00Z");
}

TEST_F(TrackerTest, StatedCertificateExpiryOpensAWarningWhenItComesClose) {
  std::string text = line("2024-01-01T00:00:00Z", "issuer cert expiry: 2024-01-18 16:21:05 +0000 UTC", "identity-1") +
                     line("2024-01-15T00:00:00Z", "certificate expires in 30 days and 0 hours", "unrelated");
  Replay r = replay(*matcher, correlations, text);
  const IncidentSnapshot* warn = nullptr;
  for (const auto& i : r.incidents)
    if (i.rule == "t.validity") warn = &i;
  ASSERT_NE(warn, nullptr);
  EXPECT_EQ(warn->klass, "cert_expiring_soon");
  EXPECT_EQ(at(warn->expires_at), "2024-01-18T16:21:05Z");
  EXPECT_EQ(at(warn->first_seen), "2024-01-11T16:21:05Z");  // 7 days before
  // A later statement with a new expiry is a renewal.
  Replay renewed = replay(*matcher, correlations,
                    text + line("2024-01-16T00:00:00Z", "issuer cert expiry: 2025-01-18 16:21:05 +0000 UTC", "identity-1"));
  for (const auto& i : renewed.incidents) {
    if (i.rule == "t.validity") {
      EXPECT_FALSE(i.open);
    }
  }
}

TEST_F(TrackerTest, SameIncidentsWhateverTheOrderWithinTheLateness) {
  std::vector<std::string> lines;
  for (int s = 0; s < 20; ++s)
    for (int p = 0; p < 4; ++p)
      lines.push_back(line("2023-06-19T13:00:" + std::string(s < 10 ? "0" : "") + std::to_string(s) + "Z",
                           "handshake failed: x509: certificate has expired", "pod" + std::to_string(p)));
  lines.push_back(line("2023-06-19T13:00:05Z", "Dapr root certificate has expired."));
  auto summary = [&](const std::vector<std::string>& ls) {
    std::string text;
    for (const auto& l : ls) text += l;
    std::string out;
    for (const auto& i : replay(*matcher, correlations, text).incidents)
      out += i.id + " " + i.klass + " " + std::to_string(i.count) + " " + at(i.first_seen) + " " + at(i.last_seen) +
             " " + i.caused_by + "\n";
    return out;
  };
  const std::string want = summary(lines);
  std::mt19937 rng(7);
  for (int k = 0; k < 4; ++k) {
    std::shuffle(lines.begin(), lines.end(), rng);
    EXPECT_EQ(summary(lines), want);
  }
}

// Live: one pod printing the year 2100 neither moves the clock nor resolves anything.
TEST_F(TrackerTest, LiveALineFromTheFutureMovesNoClock) {
  const Nanos now = T("2024-04-01T10:00:00Z");
  IncidentTracker tracker(matcher->rules(), correlations);
  tracker.set_wall_clock([&] { return now; });
  std::vector<IncidentEvent> events;
  StreamClassifier s(*matcher, "t", {}, {}, [&](const ClassifiedLine& l) { tracker.observe(l, events); });
  s.feed(line("2024-04-01T10:00:00Z", "handshake failed: x509: certificate has expired", "pod-a"));
  s.feed(line("2100-01-01T00:00:00Z", "handshake failed: x509: certificate has expired", "pod-b"));
  s.finish();
  tracker.advance(T("2100-01-01T00:00:00Z"), events);  // nor can a tick that believed it
  ASSERT_FALSE(events.empty());
  for (const auto& e : events) EXPECT_NE(e.kind, IncidentEvent::Kind::resolved) << e.incident.id;
  EXPECT_EQ(tracker.stats().future_lines, 1u);
  EXPECT_LE(tracker.latest_event_time(), now + 5 * 60 * kNanosPerSecond);
  ASSERT_FALSE(tracker.incidents().empty());
  for (const auto& i : tracker.incidents()) {
    EXPECT_TRUE(i.open);
    EXPECT_EQ(at(i.last_seen), "2024-04-01T10:00:00Z");  // pod-b's line counts at the wall clock
  }
}

// "expires in 9223372036 days" is no time: the line is classified, the expiry left out.
TEST_F(TrackerTest, AnAbsurdDurationIsNoExpiry) {
  Replay r = replay(*matcher, correlations, line("2024-04-01T00:00:00Z", "certificate expires in 9223372036 days"));
  ASSERT_EQ(r.incidents.size(), 1u);
  EXPECT_EQ(r.incidents[0].expires_at, 0);
  EXPECT_EQ(r.incidents[0].klass, "cert_expiring_soon");
  EXPECT_EQ(r.stats.refused_values, 1u);
  for (const auto& e : r.events) EXPECT_EQ(e.kind, IncidentEvent::Kind::opened);
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> value;
      return value;
    }
    in.ignore(1 << 10, '\n');
  }
  return 0;
}

TEST_F(TrackerTest, TenMillionLinesWithAMillionGroupsStayWithinTheBound) {
  TrackerOptions options;
  options.max_incidents = 10'000;
  IncidentTracker tracker(matcher->rules(), correlations, options);
  std::vector<IncidentEvent> events;
  const RuleSpec& rule = matcher->rules()[2];  // t.handshake, grouped by pod
  RuleMatch match;
  match.rule = 2;
  match.severity = Severity::critical;
  Record record;
  record.message = "handshake failed: x509: certificate has expired";
  record.line = record.message;
  std::string pod;
  const long before = rss_kib();
  long peak = before;
  const Nanos start = T("2023-06-19T00:00:00Z");
  for (std::uint64_t n = 0; n < 10'000'000; ++n) {
    pod = "pod-" + std::to_string((n * 7919) % 1'000'000);
    record.labels.assign({{"pod", pod}});
    record.time = start + Nanos(n) * 1'000'000;  // 1000 lines per second
    tracker.observe(ClassifiedLine{"t", n + 1, record, match, rule, false}, events);
    events.clear();
    if (n % 1'000'000 == 0) peak = std::max(peak, rss_kib());
  }
  EXPECT_LE(tracker.incidents().size(), options.max_incidents);
  EXPECT_GT(tracker.stats().evicted, 900'000u);
  // 10,000 incidents with three samples each are a few MiB; a leak of per-group state
  // (a million keys) would be hundreds.
  EXPECT_LT(peak - before, 64 * 1024) << "RSS grew by " << (peak - before) << " KiB";
}

}  // namespace
}  // namespace klaxon
