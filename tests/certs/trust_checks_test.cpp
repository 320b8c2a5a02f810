// tests/certs/trust_checks_test.cpp — an issuer its trust bundle does not sign is predicted to
// fail, naming both objects; one it does, or a bundle not read, is not.
#include "adapters/certs/trust_checks.hpp"

#include <gtest/gtest.h>

#include "tests/certs/test_certificates.hpp"

namespace klaxon::certs {
namespace {

void add(Inventory& inventory, const test::MadeCertificate& made, const std::string& source) {
  read_certificates(made.pem(), source, inventory);
}

struct Mesh {
  test::MadeCertificate root = test::make_certificate({.common_name = "root", .ca = true});
  test::MadeCertificate other = test::make_certificate({.common_name = "other", .ca = true});
  // Same subject as the root, another key: what a careless rotation makes.
  test::MadeCertificate impostor = test::make_certificate({.common_name = "root", .ca = true});
  test::MadeCertificate good_issuer = test::make_certificate({.common_name = "issuer", .ca = true, .issuer = &root});
  test::MadeCertificate bad_issuer = test::make_certificate({.common_name = "issuer", .ca = true, .issuer = &impostor});
};

TEST(TrustChecks, SignedByChecksTheKeyNotJustTheName) {
  Mesh m;
  Inventory inventory;
  add(inventory, m.good_issuer, "a");
  add(inventory, m.bad_issuer, "b");
  add(inventory, m.root, "c");
  const auto& c = inventory.certificates;
  EXPECT_TRUE(signed_by(c[0], c[2]));
  EXPECT_FALSE(signed_by(c[1], c[2])) << "the names match, the signature does not";
}

TEST(TrustChecks, LinkerdIssuerOutsideTheTrustRoots) {
  Mesh m;
  Inventory inventory;
  add(inventory, m.bad_issuer, "secret:linkerd/linkerd-identity-issuer/crt.pem");
  read_certificates(m.other.pem() + m.root.pem(), "configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt", inventory);
  add(inventory, m.good_issuer, "secret:other-mesh/linkerd-identity-issuer/tls.crt");
  add(inventory, m.root, "configmap:other-mesh/linkerd-identity-trust-roots/ca-bundle.crt");
  const auto predictions = check_trust_bundles(inventory.certificates);
  ASSERT_EQ(predictions.size(), 1u);
  EXPECT_EQ(predictions[0].incident_class, "cert_bad_signature");
  EXPECT_EQ(predictions[0].certificate->source, "secret:linkerd/linkerd-identity-issuer/crt.pem");
  EXPECT_EQ(predictions[0].bundle, "configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt");
  EXPECT_NE(predictions[0].message.find("not signed by any of the 2 certificates in"), std::string::npos)
      << predictions[0].message;
}

TEST(TrustChecks, DaprIssuerAgainstTheSecretAndTheConfigMap) {
  Mesh m;
  Inventory inventory;
  add(inventory, m.good_issuer, "secret:dapr-system/dapr-trust-bundle/issuer.crt");
  add(inventory, m.root, "secret:dapr-system/dapr-trust-bundle/ca.crt");
  add(inventory, m.other, "configmap:dapr-system/dapr-trust-bundle/ca.crt");  // sidecars trust another root
  const auto predictions = check_trust_bundles(inventory.certificates);
  ASSERT_EQ(predictions.size(), 1u);
  EXPECT_EQ(predictions[0].certificate->source, "secret:dapr-system/dapr-trust-bundle/issuer.crt");
  EXPECT_EQ(predictions[0].bundle, "configmap:dapr-system/dapr-trust-bundle/ca.crt");
}

TEST(TrustChecks, NothingToCompareIsNoPrediction) {
  Mesh m;
  Inventory inventory;
  add(inventory, m.bad_issuer, "secret:linkerd/linkerd-identity-issuer/crt.pem");  // no bundle read
  add(inventory, m.root, "configmap:elsewhere/linkerd-identity-trust-roots/ca-bundle.crt");
  EXPECT_TRUE(check_trust_bundles(inventory.certificates).empty());
}

}  // namespace
}  // namespace klaxon::certs
