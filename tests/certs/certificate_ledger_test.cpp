// tests/certs/certificate_ledger_test.cpp — readings in, changes out: a certificate new or
// different at its source is passed on once, a source gone from a reading that covered it is
// gone, a failed read changes nothing, one group's reading says nothing of another's.
#include "adapters/certs/certificate_ledger.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/certs/test_certificates.hpp"

namespace klaxon::certs {
namespace {

constexpr Seconds kDay = 86400;
constexpr Seconds kNow = 2'000'000'000;
constexpr const char* kRoot = "secret:dapr-system/dapr-trust-bundle/ca.crt";

Certificate cert(const std::string& source, Seconds not_after, const std::string& sha) {
  Certificate c;
  c.source = source;
  c.subject = "CN=cluster.local,O=dapr";
  c.issuer = "CN=cluster.local,O=dapr";
  c.serial = sha;
  c.sha256 = sha;
  c.not_before = kNow - 300 * kDay;
  c.not_after = not_after;
  return c;
}

Inventory of(std::vector<Certificate> certificates, std::vector<ReadError> errors = {}) {
  return Inventory{std::move(certificates), std::move(errors)};
}

struct Recorder {
  std::string said;
  CertificateReceiver receiver() {
    return {[this](const InventoryCertificate& c) { said += fmt::format("read {} {}\n", c.source, c.serial); },
            [this](const std::string& source) { said += fmt::format("gone {}\n", source); },
            [this](const ReadError& e) { said += fmt::format("error {}: {}\n", e.source, e.message); },
            [this](const PredictedFailure& p) { said += fmt::format("predicted {}\n", p.key); },
            [this](const std::string& key, const std::string& why, const std::string& summary) {
              said += fmt::format("ended {} {}: {}\n", key, why, summary);
            }};
  }
};

TEST(CertificateLedger, ChangesArePassedOnOnce) {
  CertificateLedger ledger;
  Recorder r;
  ledger.reconcile("kubernetes", of({cert(kRoot, kNow + 20 * kDay, "a")}), r.receiver());
  ledger.reconcile("kubernetes", of({cert(kRoot, kNow + 20 * kDay, "a")}), r.receiver());
  EXPECT_EQ(r.said, fmt::format("read {} a\n", kRoot)) << "the same certificate read again says nothing";
  ledger.reconcile("kubernetes", of({cert(kRoot, kNow + 400 * kDay, "b")}), r.receiver());
  EXPECT_EQ(r.said, fmt::format("read {0} a\nread {0} b\n", kRoot));
  ASSERT_EQ(ledger.certificates().size(), 1u);
  EXPECT_EQ(ledger.certificates().at(kRoot).not_after, kNow + 400 * kDay);
}

TEST(CertificateLedger, AFailedReadIsNotARemoval) {
  CertificateLedger ledger;
  Recorder r;
  ledger.reconcile("kubernetes", of({cert(kRoot, kNow + 5 * kDay, "a")}), r.receiver());
  r.said.clear();
  ledger.reconcile("kubernetes", of({}, {{"kubernetes:secrets", "forbidden"}}), r.receiver());
  ledger.reconcile("kubernetes", of({}, {{"kubernetes:secrets", "forbidden"}}), r.receiver());
  EXPECT_EQ(r.said, "error kubernetes:secrets: forbidden\n") << "said once, and the Secret is not gone";
  EXPECT_EQ(ledger.read_errors().at("kubernetes"), 2u);
  ledger.reconcile("files", of({cert("file:certs/web.pem", kNow + 3 * kDay, "d")}), r.receiver());
  EXPECT_EQ(r.said, "error kubernetes:secrets: forbidden\nread file:certs/web.pem d\n")
      << "a reading of files says nothing of the cluster's sources";
  r.said.clear();
  ledger.reconcile("kubernetes", of({}), r.receiver());
  EXPECT_EQ(r.said, fmt::format("gone {}\n", kRoot));
  ledger.reconcile("files", of({}), r.receiver());
  EXPECT_EQ(r.said, fmt::format("gone {}\ngone file:certs/web.pem\n", kRoot));
  EXPECT_TRUE(ledger.certificates().empty());
}

TEST(CertificateLedger, TheTrackersViewNamesTheObjectToRenew) {
  const InventoryCertificate c = to_inventory(cert(kRoot, kNow + 20 * kDay, "a"));
  EXPECT_EQ(c.labels, (Labels{{"source_kind", "secret"},
                                                                        {"namespace", "dapr-system"},
                                                                        {"name", "dapr-trust-bundle"},
                                                                        {"key", "ca.crt"},
                                                                        {"subject_cn", "cluster.local"}}));
  EXPECT_NE(c.runbook.find("key ca.crt of Secret dapr-system/dapr-trust-bundle"), std::string::npos) << c.runbook;
  EXPECT_EQ(c.not_after_text, "2033-06-07T03:33:20Z");
  EXPECT_EQ(c.not_after, (kNow + 20 * kDay) * kNanosPerSecond);
  // Past what the engine's clock holds (2200): clamped there, the text stays exact.
  const InventoryCertificate far = to_inventory(cert("file:forever.pem", 253402300799, "f"));
  EXPECT_EQ(far.not_after, kLatestInstant);
  EXPECT_EQ(far.not_after_text, "9999-12-31T23:59:59Z");
  EXPECT_EQ(to_inventory(cert("endpoint:127.0.0.1:8443", kNow, "e")).labels[1],
            (std::pair<std::string, std::string>{"endpoint", "127.0.0.1:8443"}));
}

// The trust checks after each reading: a Linkerd issuer its roots do not sign is predicted once
// (read again unchanged: nothing), again when either object changes and they still disagree,
// ended `renewed` when they agree, `removed` when the bundle is gone.
TEST(CertificateLedger, ATrustBundleMismatchIsPredictedOnceAndEndsWhenTheyAgree) {
  const auto root = test::make_certificate({.common_name = "root.linkerd.cluster.local", .ca = true});
  const auto stray = test::make_certificate({.common_name = "root.linkerd.cluster.local", .ca = true});
  auto reading = [&](const test::MadeCertificate& signer, long serial, bool with_bundle) {
    const auto issuer = test::make_certificate(
        {.common_name = "identity.linkerd.cluster.local", .ca = true, .serial = serial, .issuer = &signer});
    Inventory in;
    read_certificates(issuer.pem(), "secret:linkerd/linkerd-identity-issuer/tls.crt", in);
    if (with_bundle) read_certificates(root.pem(), "configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt", in);
    return in;
  };
  const std::string key =
      "secret:linkerd/linkerd-identity-issuer/tls.crt configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt";
  CertificateLedger ledger;
  Recorder r;
  const Inventory bad = reading(stray, 2, true);
  ledger.reconcile("kubernetes", bad, r.receiver());
  ledger.reconcile("kubernetes", bad, r.receiver());
  ledger.reconcile("files", of({}), r.receiver());
  EXPECT_EQ(r.said.substr(r.said.find("predicted")), fmt::format("predicted {}\n", key)) << r.said;
  r.said.clear();
  ledger.reconcile("kubernetes", reading(stray, 3, true), r.receiver());
  EXPECT_EQ(r.said.substr(r.said.find("predicted")), fmt::format("predicted {}\n", key)) << "re-issued, still from the stray root";
  r.said.clear();
  ledger.reconcile("kubernetes", reading(root, 4, true), r.receiver());
  EXPECT_EQ(r.said.substr(r.said.find("ended")),
            fmt::format("ended {} renewed: renewed: secret:linkerd/linkerd-identity-issuer/tls.crt is signed by a root in "
                        "configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt again\n",
                        key))
      << r.said;
  r.said.clear();
  ledger.reconcile("kubernetes", reading(stray, 5, true), r.receiver());
  ledger.reconcile("kubernetes", reading(stray, 5, false), r.receiver());
  EXPECT_NE(r.said.find(fmt::format("ended {} removed: configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt is gone", key)),
            std::string::npos)
      << r.said;
}

}  // namespace
}  // namespace klaxon::certs
