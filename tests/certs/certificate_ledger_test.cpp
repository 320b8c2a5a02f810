// tests/certs/certificate_ledger_test.cpp — inventories in, incident events out: opened once,
// escalated by time, resolved only by a later certificate or removal, never by a failed read.
#include "adapters/certs/certificate_ledger.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace klaxon::certs {
namespace {

constexpr Seconds kDay = 86400;
constexpr Seconds kNow = 2'000'000'000;

Certificate cert(const std::string& source, Seconds not_after, const std::string& sha) {
  Certificate c;
  c.source = source;
  c.subject = "CN=cluster.local";
  c.serial = sha;
  c.sha256 = sha;
  c.not_before = kNow - 300 * kDay;
  c.not_after = not_after;
  return c;
}

std::string said(const std::vector<CertificateEvent>& events) {
  std::string out;
  for (const auto& e : events) {
    const char* kind = e.kind == CertificateEvent::Kind::opened ? "opened" : e.kind == CertificateEvent::Kind::escalated ? "escalated" : "resolved";
    out += fmt::format("{} {} {} {}\n", kind, e.incident_class, level_name(e.level), e.grouping_key);
  }
  return out;
}

constexpr const char* kRoot = "secret:dapr-system/dapr-trust-bundle/ca.crt";

TEST(CertificateLedger, TheDaprRootIsOpenedOnceEscalatedByTimeThenExpired) {
  CertificateLedger ledger{Thresholds{}};
  Inventory inventory;
  inventory.certificates.push_back(cert(kRoot, kNow + 20 * kDay, "a"));
  std::vector<CertificateEvent> events;
  ledger.reconcile(inventory, {}, kNow, events);
  EXPECT_EQ(said(events), "opened cert_expiring_soon warning certificate:secret:dapr-system/dapr-trust-bundle/ca.crt\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].certificate.not_after, kNow + 20 * kDay);
  EXPECT_EQ(events[0].reason, "secret:dapr-system/dapr-trust-bundle/ca.crt (CN=cluster.local) expires in 20d");
  events.clear();
  ledger.reconcile(inventory, {}, kNow + kDay, events);
  EXPECT_EQ(said(events), "") << "the same state says nothing again";
  ledger.reconcile(inventory, {}, kNow + 14 * kDay, events);
  EXPECT_EQ(said(events), "escalated cert_expiring_soon critical certificate:secret:dapr-system/dapr-trust-bundle/ca.crt\n");
  events.clear();
  ledger.reconcile(inventory, {}, kNow + 20 * kDay, events);
  EXPECT_EQ(said(events), "escalated cert_expired critical certificate:secret:dapr-system/dapr-trust-bundle/ca.crt\n");
  EXPECT_EQ(ledger.open_count(), 1u);
  ASSERT_EQ(ledger.ending_at(kNow + 20 * kDay).size(), 1u);
  EXPECT_EQ(ledger.ending_at(kNow + 20 * kDay)[0].source, kRoot);
  EXPECT_TRUE(ledger.ending_at(kNow + 20 * kDay + 1).empty());
}

TEST(CertificateLedger, OnlyALaterCertificateOrRemovalResolves) {
  CertificateLedger ledger{Thresholds{}};
  Inventory before;
  before.certificates.push_back(cert(kRoot, kNow + 5 * kDay, "a"));
  std::vector<CertificateEvent> events;
  ledger.reconcile(before, {}, kNow, events);
  events.clear();

  Inventory failed;  // the Secret could not be listed this time: nothing changes
  failed.errors.push_back({"kubernetes:secrets", "forbidden"});
  ledger.reconcile(failed, {}, kNow, events);
  EXPECT_EQ(said(events), "");
  EXPECT_EQ(ledger.open_count(), 1u);

  Inventory older;  // restored from a backup: not a renewal
  older.certificates.push_back(cert(kRoot, kNow + 4 * kDay, "b"));
  ledger.reconcile(older, {}, kNow, events);
  EXPECT_EQ(said(events), "");

  Inventory renewed;
  renewed.certificates.push_back(cert(kRoot, kNow + 365 * kDay, "c"));
  ledger.reconcile(renewed, {}, kNow, events);
  EXPECT_EQ(said(events), "resolved cert_expiring_soon critical certificate:secret:dapr-system/dapr-trust-bundle/ca.crt\n");
  EXPECT_NE(events[0].reason.find("replaced by a later certificate (serial c"), std::string::npos) << events[0].reason;
  EXPECT_EQ(ledger.open_count(), 0u);

  events.clear();
  Inventory soon_again;
  soon_again.certificates.push_back(cert("file:certs/web.pem", kNow + 3 * kDay, "d"));
  ledger.reconcile(soon_again, {}, kNow, events);  // the Secret is gone (read fine), a file appears
  EXPECT_EQ(said(events), "opened cert_expiring_soon critical certificate:file:certs/web.pem\n");
  events.clear();
  ledger.reconcile(Inventory{}, {}, kNow, events);
  EXPECT_EQ(said(events), "resolved cert_expiring_soon critical certificate:file:certs/web.pem\n");
  EXPECT_EQ(events[0].reason, "removed");
}

TEST(CertificateLedger, APredictionOpensAndResolvesWithTheObjects) {
  CertificateLedger ledger{Thresholds{}};
  Inventory inventory;
  inventory.certificates.push_back(cert("secret:linkerd/linkerd-identity-issuer/tls.crt", kNow + 300 * kDay, "i"));
  Prediction p;
  p.certificate = &inventory.certificates[0];
  p.bundle = "configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt";
  p.message = "not signed";
  std::vector<CertificateEvent> events;
  ledger.reconcile(inventory, {p}, kNow, events);
  ledger.reconcile(inventory, {p}, kNow, events);
  EXPECT_EQ(said(events),
            "opened cert_bad_signature critical prediction:secret:linkerd/linkerd-identity-issuer/tls.crt|"
            "configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt\n");
  events.clear();
  Inventory unreadable = inventory;
  unreadable.errors.push_back({"kubernetes:configmaps", "forbidden"});
  ledger.reconcile(unreadable, {}, kNow, events);
  EXPECT_EQ(said(events), "") << "the bundle was not read: not evidence of a fix";
  ledger.reconcile(inventory, {}, kNow, events);
  EXPECT_EQ(said(events),
            "resolved cert_bad_signature critical prediction:secret:linkerd/linkerd-identity-issuer/tls.crt|"
            "configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt\n");
}

}  // namespace
}  // namespace klaxon::certs
