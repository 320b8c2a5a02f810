// tests/engine/inventory_certificate_test.cpp — certificates read where they are kept, in the
// tracker: one incident per source on the clock (warning, critical, expired), ended only by a
// later certificate or the source's removal, and the join: a line stating the certificate's
// end folds into its incident instead of opening its own.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "engine/incident_tracker.hpp"
#include "engine/stream_classifier.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

const char* kPack = R"(
pack: t
rules:
  - id: t.x509_expired
    class: cert_expired
    title: x509 certificate has expired
    match: { message: 'x509: certificate has expired or is not yet valid: current time (?P<now>\S+) is after (?P<not_after>\S+)' }
    extract: { expired_at: instant(not_after) }
    group_by: [pod]
    severity: critical
  - id: t.expired_named
    class: cert_expired
    title: a peer's certificate has expired (no instant said)
    match: { message: 'peer certificate has expired' }
    group_by: [pod]
    severity: critical
  - id: t.unknown_authority
    class: cert_unknown_authority
    title: x509 signed by unknown authority
    match: { message: 'x509: certificate signed by unknown authority' }
    group_by: [pod]
    severity: critical
  - id: t.mesh_bad_signature
    class: cert_bad_signature
    title: Linkerd proxy BadSignature
    match: { message: 'invalid peer certificate: BadSignature' }
    group_by: [pod]
    severity: critical
  - id: t.lost
    class: connection_lost
    title: connection lost
    match: { message: 'http2: client connection lost' }
    group_by: [pod]
)";

Nanos T(const char* s) { return *parse_instant(s); }
constexpr Nanos kDay = 86400 * kNanosPerSecond;
constexpr const char* kRoot = "secret:dapr-system/dapr-trust-bundle/ca.crt";

InventoryCertificate certificate(const std::string& source, Nanos not_after, const std::string& serial) {
  InventoryCertificate c;
  c.source = source;
  c.subject = "CN=cluster.local";
  c.issuer = "CN=cluster.local";
  c.serial = serial;
  c.not_after = not_after;
  c.not_after_seconds = not_after / kNanosPerSecond;
  c.not_after_text = format_rfc3339(not_after);
  c.labels = {{"source_kind", "secret"}, {"namespace", "dapr-system"}, {"name", "dapr-trust-bundle"}, {"key", "ca.crt"}};
  c.runbook = "renew the certificate in key ca.crt of Secret dapr-system/dapr-trust-bundle";
  c.names = {"cluster.local"};
  return c;
}

// The Linkerd issuer its trust roots do not sign, as adapters/certs/certificate_ledger.cpp says it.
PredictedFailure linkerd_prediction() {
  PredictedFailure p;
  p.key = "secret:linkerd/linkerd-identity-issuer/tls.crt configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt";
  p.issuer = certificate("secret:linkerd/linkerd-identity-issuer/tls.crt", T("2027-12-01T00:00:00Z"), "1F");
  p.issuer.subject = "CN=identity.linkerd.cluster.local";
  p.issuer.names = {"identity.linkerd.cluster.local", "cluster.local"};
  p.bundle = "configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt";
  p.title = "Predicted bad signature: Linkerd issuer not signed by " + p.bundle;
  p.summary = "Linkerd issuer secret:linkerd/linkerd-identity-issuer/tls.crt is not signed by " + p.bundle;
  p.runbook = "re-issue the issuer from a root the bundle holds";
  p.labels = {{"trust_bundle", p.bundle}};
  p.rule_prefixes = {"t.mesh_"};
  return p;
}

std::string line(Nanos t, const std::string& msg, const std::string& pod) {
  return "{\"time\":\"" + format_rfc3339(t) + "\",\"pod\":\"" + pod + "\",\"msg\":\"" + msg + "\"}\n";
}

std::string said(const std::vector<IncidentEvent>& events) {
  std::string out;
  for (const IncidentEvent& e : events)
    out += fmt::format("{} {} {} {} @{}\n", to_string(e.kind), e.incident.klass, to_string(e.incident.severity),
                       e.incident.certificate.empty() ? e.incident.rule : e.incident.certificate, format_rfc3339(e.time));
  return out;
}

class Inventory : public ::testing::Test {
 protected:
  void SetUp() override {
    rules::RuleSet set;
    std::vector<Diagnostic> problems;
    rules::load_pack_text(kPack, "t.yaml", set, problems);
    ASSERT_FALSE(rules::has_errors(problems));
    matcher.emplace(*Matcher::compile(set.rules, problems));
    tracker = std::make_unique<IncidentTracker>(matcher->rules(), std::vector<CorrelationSpec>{}, TrackerOptions{});
  }
  void feed(const std::string& text) {
    StreamClassifier s(*matcher, "t", {}, {}, [&](const ClassifiedLine& l) { tracker->observe(l, events); });
    s.feed(text);
    s.finish();
  }
  std::optional<Matcher> matcher;
  std::unique_ptr<IncidentTracker> tracker;
  std::vector<IncidentEvent> events;
};

// The seeds' Dapr scenario, from the Secret alone: a root 20 days from its end raises
// cert_expiring_soon with no log line, turns critical 7 days before and expired at the instant.
TEST_F(Inventory, TheSecretAlonePredictsThenTheClockEscalates) {
  const Nanos now = T("2026-12-07T12:00:00Z"), end = now + 20 * kDay;
  tracker->certificate_read(certificate(kRoot, end, "01"), now, events);
  tracker->advance(now, events);
  EXPECT_EQ(said(events), fmt::format("opened cert_expiring_soon warning {} @{}\n", kRoot, format_rfc3339(now)));
  ASSERT_EQ(events.size(), 1u);
  const IncidentSnapshot& i = events[0].incident;
  EXPECT_EQ(i.inventory.source, kRoot);
  EXPECT_EQ(i.expires_at, end);
  EXPECT_EQ(i.runbook, "renew the certificate in key ca.crt of Secret dapr-system/dapr-trust-bundle");
  EXPECT_EQ(i.title, std::string("Certificate expires soon: ") + kRoot);
  events.clear();

  tracker->certificate_read(certificate(kRoot, end, "01"), now + kDay, events);
  tracker->advance(now + kDay, events);
  EXPECT_EQ(said(events), "") << "the same certificate read again says nothing";

  tracker->advance(end + kDay, events);
  EXPECT_EQ(said(events), fmt::format("escalated cert_expiring_soon critical {0} @{1}\n"
                                      "escalated cert_expired critical {0} @{2}\n",
                                      kRoot, format_rfc3339(end - 7 * kDay), format_rfc3339(end)));
  EXPECT_EQ(events.back().incident.summary,
            fmt::format("{} (CN=cluster.local) expired at {}; renew it", kRoot, format_rfc3339(end)));
}

TEST_F(Inventory, OnlyALaterCertificateOrTheRemovalEndsIt) {
  const Nanos now = T("2026-12-07T12:00:00Z"), end = now + 5 * kDay;
  tracker->certificate_read(certificate(kRoot, end, "01"), now, events);
  tracker->advance(now, events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].incident.severity, Severity::critical) << "5 days left is within the critical 7";
  events.clear();

  tracker->certificate_read(certificate(kRoot, end - kDay, "02"), now + kDay, events);  // a restore: not a renewal
  tracker->advance(now + kDay, events);
  EXPECT_EQ(said(events), "");
  tracker->advance(now + 30 * kDay, events);  // silence: the clock expires it, never resolves it
  EXPECT_EQ(said(events), fmt::format("escalated cert_expired critical {} @{}\n", kRoot, format_rfc3339(end - kDay)));
  events.clear();

  const Nanos renewed = now + 400 * kDay;
  tracker->certificate_read(certificate(kRoot, renewed, "03"), now + 31 * kDay, events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(said(events), fmt::format("resolved cert_expired critical {} @{}\n", kRoot, format_rfc3339(now + 31 * kDay)));
  EXPECT_EQ(events[0].incident.resolved_because, "renewed");
  EXPECT_EQ(events[0].incident.summary,
            fmt::format("renewed: {} now holds a later certificate (serial 03, not after {})", kRoot,
                        format_rfc3339(renewed)));
  events.clear();

  const char* file = "file:certs/web.pem";
  tracker->certificate_read(certificate(file, now + 32 * kDay, "04"), now + 31 * kDay, events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, IncidentEvent::Kind::opened);
  events.clear();
  tracker->certificate_gone(file, now + 31 * kDay + kNanosPerSecond, events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, IncidentEvent::Kind::resolved);
  EXPECT_EQ(events[0].incident.resolved_because, "removed");
}

// The join: Go's `is after T` where T is the Secret's not_after, from two sidecars. Both lines
// fold into the certificate's incident (count 2, both pods, class cert_expired as the emitter
// saw it); no x509 incident of their own. A line about another instant opens its own.
TEST_F(Inventory, ALineStatingTheEndJoinsTheCertificatesIncident) {
  const Nanos now = T("2026-12-07T12:00:00Z"), end = now + 20 * kDay;
  tracker->certificate_read(certificate(kRoot, end, "01"), now, events);
  tracker->advance(now, events);
  events.clear();
  const std::string stated = format_rfc3339(end);
  feed(line(now + kNanosPerSecond, "x509: certificate has expired or is not yet valid: current time " +
                                       format_rfc3339(end + kDay) + " is after " + stated, "orders-1") +
       line(now + 2 * kNanosPerSecond, "x509: certificate has expired or is not yet valid: current time " +
                                           format_rfc3339(end + kDay) + " is after " + stated, "checkout-1") +
       line(now + 3 * kNanosPerSecond, "x509: certificate has expired or is not yet valid: current time " +
                                           format_rfc3339(end + kDay) + " is after 2020-01-01T00:00:00Z", "other-1"));
  const auto incidents = tracker->incidents();
  ASSERT_EQ(incidents.size(), 2u) << said(events);
  const IncidentSnapshot& root = incidents[0];
  EXPECT_EQ(root.inventory.source, kRoot);
  EXPECT_EQ(root.klass, "cert_expired");
  EXPECT_EQ(root.severity, Severity::critical);
  EXPECT_EQ(root.count, 2u);
  EXPECT_EQ(root.pods, (std::vector<std::string>{"orders-1", "checkout-1"}));
  EXPECT_EQ(incidents[1].rule, "t.x509_expired");
  EXPECT_EQ(incidents[1].pods, std::vector<std::string>{"other-1"});
  EXPECT_TRUE(incidents[1].inventory.source.empty());
}

// In a replay the reading has no event time: a line joining a certificate whose warning the
// replay's clock never reached opens the certificate's incident itself.
TEST_F(Inventory, InAReplayTheJoinOpensTheCertificatesIncident) {
  const Nanos end = T("2023-06-16T12:31:17Z");
  tracker->certificate_read(certificate("file:certs/root.pem", end, "0A"), 0, events);
  EXPECT_EQ(said(events), "");
  feed(line(T("2023-06-19T13:19:53Z"),
            "x509: certificate has expired or is not yet valid: current time 2023-06-19T13:19:51Z is after 2023-06-16T12:31:17Z",
            "app1"));
  const auto incidents = tracker->incidents();
  ASSERT_EQ(incidents.size(), 1u) << said(events);
  EXPECT_EQ(incidents[0].inventory.source, "file:certs/root.pem");
  EXPECT_EQ(incidents[0].klass, "cert_expired");
  EXPECT_EQ(incidents[0].count, 1u);
}

// A Linkerd issuer its trust roots do not sign: one critical cert_bad_signature incident from
// the inventory alone, before any proxy says a word. A proxy's bare BadSignature (a rule of the
// mesh's pack) and an unknown-authority line naming the issuer's trust domain fold into it; an
// unknown-authority line naming nothing of it opens its own. When the two objects agree again
// it resolves, and a line after that is its own incident again.
TEST_F(Inventory, APredictedBadSignatureComesFirstAndTheProxyLinesFoldUnderIt) {
  const Nanos now = T("2026-12-07T12:00:00Z");
  const PredictedFailure p = linkerd_prediction();
  tracker->failure_predicted(p, now, events);
  tracker->advance(now, events);
  ASSERT_EQ(said(events), fmt::format("opened cert_bad_signature critical {} @{}\n", p.issuer.source, format_rfc3339(now)));
  EXPECT_EQ(events[0].incident.summary, p.summary);
  EXPECT_EQ(events[0].incident.runbook, p.runbook);
  EXPECT_NE(std::find(events[0].incident.labels.begin(), events[0].incident.labels.end(),
                      std::pair<std::string, std::string>{"trust_bundle", p.bundle}),
            events[0].incident.labels.end());
  const std::string id = events[0].incident.id;
  events.clear();
  tracker->failure_predicted(p, now + kNanosPerSecond, events);
  EXPECT_EQ(said(events), "") << "the same disagreement said again is the same incident";

  feed(line(now + 2 * kNanosPerSecond, "Failed to connect error=invalid peer certificate: BadSignature", "web-1") +
       line(now + 3 * kNanosPerSecond,
            "x509: certificate signed by unknown authority (spiffe://cluster.local/ns/emojivoto/sa/web)", "voting-1") +
       line(now + 4 * kNanosPerSecond, "x509: certificate signed by unknown authority (vault.internal)", "vault-1"));
  auto incidents = tracker->incidents();
  ASSERT_EQ(incidents.size(), 2u) << said(events);
  EXPECT_EQ(incidents[0].id, id);
  EXPECT_EQ(incidents[0].count, 2u);
  EXPECT_EQ(incidents[0].pods, (std::vector<std::string>{"web-1", "voting-1"}));
  EXPECT_EQ(incidents[0].summary, p.summary) << "it still names both objects";
  EXPECT_EQ(incidents[1].rule, "t.unknown_authority");
  EXPECT_EQ(incidents[1].pods, std::vector<std::string>{"vault-1"});
  events.clear();

  tracker->prediction_ended(p.key, now + 10 * kNanosPerSecond, "renewed", "renewed: signed again", events);
  ASSERT_EQ(said(events), fmt::format("resolved cert_bad_signature critical {} @{}\n", p.issuer.source,
                                      format_rfc3339(now + 10 * kNanosPerSecond)));
  EXPECT_EQ(events[0].incident.resolved_because, "renewed");
  EXPECT_EQ(events[0].incident.summary, "renewed: signed again");
  events.clear();
  feed(line(now + 11 * kNanosPerSecond, "Failed to connect error=invalid peer certificate: BadSignature", "web-1"));
  ASSERT_EQ(events.size(), 1u) << said(events);
  EXPECT_EQ(events[0].incident.rule, "t.mesh_bad_signature");
}

// In a replay the prediction has no event time: it opens with the first line, not in 1970.
TEST_F(Inventory, InAReplayThePredictionOpensWithTheFirstLine) {
  tracker->failure_predicted(linkerd_prediction(), 0, events);
  EXPECT_EQ(said(events), "");
  const Nanos t = T("2025-10-23T15:03:43Z");
  feed(line(t, "Failed to connect error=invalid peer certificate: BadSignature", "web-1"));
  const auto incidents = tracker->incidents();
  ASSERT_EQ(incidents.size(), 1u) << said(events);
  EXPECT_EQ(incidents[0].klass, "cert_bad_signature");
  EXPECT_EQ(incidents[0].first_seen, t - TrackerOptions{}.allowed_lateness);
  EXPECT_EQ(incidents[0].count, 1u);
}

// The join by name: an expiry line stating no instant but naming the certificate's trust domain
// folds into its incident once it has expired, not while it only expires soon (the class must
// fit); a name the certificate does not have opens its own.
TEST_F(Inventory, ALineNamingAnExpiredCertificateJoinsIt) {
  const Nanos now = T("2026-12-07T12:00:00Z"), end = now + 2 * kDay;
  tracker->certificate_read(certificate(kRoot, end, "01"), now, events);
  tracker->advance(now, events);
  feed(line(now + kNanosPerSecond, "peer certificate has expired: spiffe://cluster.local/ns/shop/orders", "early-1"));
  auto incidents = tracker->incidents();
  ASSERT_EQ(incidents.size(), 2u) << said(events);
  EXPECT_EQ(incidents[1].rule, "t.expired_named") << "expiring soon is not expired: not its line";

  tracker->advance(end + kDay, events);
  events.clear();
  feed(line(end + kDay + kNanosPerSecond, "peer certificate has expired: spiffe://cluster.local/ns/shop/orders", "orders-1") +
       line(end + kDay + 2 * kNanosPerSecond, "peer certificate has expired for svc.cluster.local.example", "other-1"));
  incidents = tracker->incidents();
  ASSERT_EQ(incidents.size(), 3u) << said(events);
  EXPECT_EQ(incidents[0].inventory.source, kRoot);
  EXPECT_EQ(incidents[0].klass, "cert_expired");
  EXPECT_EQ(incidents[0].pods, std::vector<std::string>{"orders-1"});
  EXPECT_EQ(incidents[2].pods, std::vector<std::string>{"other-1"});
}

// Live, a certificate whose not_before is ahead of the clock (beyond the allowed skew) is its
// own critical cert_not_yet_valid incident, with the clocks in its fix; the clock reaching
// not_before resolves it. Within the skew, or in a replay, it is nothing.
TEST_F(Inventory, ACertificateNotValidYetIsItsOwnIncidentUntilItsStart) {
  const Nanos now = T("2026-12-07T12:00:00Z");
  InventoryCertificate future = certificate("file:certs/future.pem", now + 300 * kDay, "0B");
  future.not_before = now + 3600 * kNanosPerSecond;
  tracker->certificate_read(future, now, events);
  tracker->advance(now, events);
  ASSERT_EQ(said(events), fmt::format("opened cert_not_yet_valid critical file:certs/future.pem @{}\n", format_rfc3339(now)));
  EXPECT_NE(events[0].incident.runbook.find("check the clocks first"), std::string::npos) << events[0].incident.runbook;
  EXPECT_NE(events[0].incident.summary.find("is valid only from " + format_rfc3339(now + 3600 * kNanosPerSecond)),
            std::string::npos)
      << events[0].incident.summary;
  events.clear();
  tracker->advance(now + 2 * 3600 * kNanosPerSecond, events);
  ASSERT_EQ(events.size(), 1u) << said(events);
  EXPECT_EQ(events[0].kind, IncidentEvent::Kind::resolved);
  EXPECT_EQ(events[0].incident.resolved_because, "valid");
  events.clear();

  InventoryCertificate skewed = certificate("file:certs/skewed.pem", now + 300 * kDay, "0C");
  skewed.not_before = now + 2 * 3600 * kNanosPerSecond + 60 * kNanosPerSecond;  // a minute ahead: within the 5m skew
  tracker->certificate_read(skewed, now + 2 * 3600 * kNanosPerSecond, events);
  EXPECT_EQ(said(events), "");

  auto replay = std::make_unique<IncidentTracker>(matcher->rules(), std::vector<CorrelationSpec>{}, TrackerOptions{});
  replay->certificate_read(future, 0, events);
  replay->advance(now, events);
  EXPECT_EQ(said(events), "") << "a replay's logs were written before the certificate existed";
}

}  // namespace
}  // namespace klaxon
