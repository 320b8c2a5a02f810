// adapters/certs/trust_checks.hpp — failures the inventory can see before any handshake fails.
//
// A mesh's identity issuer must be signed by a root its proxies trust. When someone rotates the
// issuer but not the trust bundle (or the other way round), every certificate the issuer signs
// from then on is rejected: Linkerd logs `x509: certificate signed by unknown authority` /
// BadSignature, Dapr's sidecars fail mTLS. Both objects sit in the cluster in plain sight, so
// the mismatch is a predicted `cert_bad_signature` the moment both are read, naming both.
//
// Which objects pair up is data (kTrustPairs in the .cpp): an issuer (namespace-relative
// Secret and key) and the bundles that must hold its signer.
#pragma once

#include <string>
#include <vector>

#include "adapters/certs/certificate_inventory.hpp"

namespace klaxon::certs {

struct Prediction {
  std::string incident_class = "cert_bad_signature";
  const Certificate* certificate = nullptr;  // the issuer that does not chain (into the inventory)
  std::string bundle;                        // the trust bundle's object: configmap:NS/NAME/KEY
  std::string message;                       // for people: what is wrong, naming both objects, and the fix
  std::string mesh;                          // Linkerd, Dapr
  std::string fix;                           // the fix alone
  std::vector<std::string> rule_prefixes;    // rules whose trust failures it explains (`linkerd.`)
  std::string key;                           // stable while the same two objects disagree
};

/// Checks every issuer/bundle pair of kTrustPairs found in `certificates` (both sides present,
/// in the same namespace). Lifetime: the predictions point into `certificates`.
std::vector<Prediction> check_trust_bundles(const std::vector<Certificate>& certificates);
std::vector<Prediction> check_trust_bundles(const std::vector<const Certificate*>& certificates);

/// True when `issuer`'s signature verifies with the public key of `signer` (both CA certificates
/// whose DER the inventory kept) and `signer`'s subject is `issuer`'s issuer.
bool signed_by(const Certificate& issuer, const Certificate& signer);

}  // namespace klaxon::certs
