// engine/inventory_certificate.hpp — a certificate read where it is kept, as the tracker sees it.
//
// Most programs say nothing before their certificate ends, so klaxon also reads certificates
// from files, Kubernetes objects and live endpoints (adapters/certs/). The tracker does not
// parse certificates; it is handed this plain description, named by its source (the exact
// object to renew: `secret:NS/NAME/KEY`, `file:PATH#N`, `endpoint:HOST:PORT`), and keeps one
// certificate-lifecycle incident per source on its clock: cert_expiring_soon at not_after -
// the warning threshold, critical at not_after - the critical threshold, cert_expired at
// not_after. Only a later certificate at the same source, or the source's removal, ends it.
// A log line that states this not_after (to the second) folds into that incident (the join).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/civil_time.hpp"

namespace klaxon {

struct InventoryCertificate {
  std::string source;  // file:PATH[#N], kubeconfig:PATH:user/NAME, secret:NS/NAME/KEY, endpoint:HOST:PORT, ...
  std::string subject, issuer, serial;
  std::string not_after_text;           // RFC 3339 to the second, whatever the year (9999 too)
  std::int64_t not_after_seconds = 0;   // unix seconds: the join compares these
  Nanos not_before = 0, not_after = 0;  // clamped to [0, kLatestInstant]
  std::vector<std::pair<std::string, std::string>> labels;  // the incident's: source_kind, namespace, name, key, path
  std::string runbook;  // what to renew, in the operator's words
};

}  // namespace klaxon
