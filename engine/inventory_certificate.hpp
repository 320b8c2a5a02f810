// engine/inventory_certificate.hpp — a certificate read where it is kept, as the tracker sees it.
//
// Most programs say nothing before their certificate ends, so klaxon also reads certificates
// from files, Kubernetes objects and live endpoints (adapters/certs/). The tracker does not
// parse certificates; it is handed this plain description, named by its source (the exact
// object to renew: `secret:NS/NAME/KEY`, `file:PATH#N`, `endpoint:HOST:PORT`), and keeps one
// certificate-lifecycle incident per source on its clock: cert_expiring_soon at not_after -
// the warning threshold, critical at not_after - the critical threshold, cert_expired at
// not_after. Only a later certificate at the same source, or the source's removal, ends it.
// A log line that states this not_after (to the second) folds into that incident (the join),
// and so does one that names it (its subject CN, its trust domain) when its class fits: an
// expired certificate's incident takes `certificate has expired` lines, a predicted bad
// signature takes `BadSignature` / `signed by unknown authority` lines.
//
// A certificate not valid yet (not_before ahead of the clock by more than the allowed skew) is
// a cert_not_yet_valid incident of its own until the clock reaches not_before. Live only: in a
// replay, a certificate issued after the logs were written was simply not there yet.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/civil_time.hpp"
#include "engine/labels.hpp"

namespace klaxon {

struct InventoryCertificate {
  std::string source;  // file:PATH[#N], kubeconfig:PATH:user/NAME, secret:NS/NAME/KEY, endpoint:HOST:PORT, ...
  std::string subject, issuer, serial;
  std::string not_after_text;           // RFC 3339 to the second, whatever the year (9999 too)
  std::int64_t not_after_seconds = 0;   // unix seconds: the join compares these
  Nanos not_before = 0, not_after = 0;  // clamped to [0, kLatestInstant]
  Labels labels;  // the incident's: source_kind, namespace, name, key, path
  std::string runbook;  // what to renew, in the operator's words
  /// What a log line may call it by, lower case: its subject CN, and the trust domain it stands
  /// for (`cluster.local` of Linkerd's `identity.linkerd.cluster.local`).
  std::vector<std::string> names;
};

/// A failure the inventory sees before any handshake fails (adapters/certs/trust_checks.hpp):
/// a mesh's identity issuer that its trust bundle does not sign. It holds while the two objects
/// disagree, and ends when either is replaced so that they agree again, or removed.
struct PredictedFailure {
  std::string key;                       // stable while the same two objects disagree
  std::string klass = "cert_bad_signature";
  InventoryCertificate issuer;           // the certificate that does not chain (the incident's `certificate`)
  std::string bundle;                    // the trust bundle's object: configmap:NS/NAME/KEY
  std::string title, summary, runbook;   // naming both objects, and the fix
  Labels labels;
  /// Rules whose lines this failure explains even when they name nothing (a Linkerd proxy's
  /// bare `BadSignature`): rule id prefixes such as `linkerd.`.
  std::vector<std::string> rule_prefixes;
};

}  // namespace klaxon
