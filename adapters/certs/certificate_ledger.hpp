// adapters/certs/certificate_ledger.hpp — what the certificate inventory hands the incident engine.
//
// The inventory is read again and again (a file changed, a Secret watch event, the probe
// interval, the clock moving a certificate from warning to critical). The engine does not want
// inventories; it wants incidents: "secret:dapr-system/dapr-trust-bundle/ca.crt expires in 20
// days" opened once, escalated when it reaches --critical-before, turned into cert_expired at
// not_after, and resolved only when that source's certificate is replaced by a later one or the
// source is removed, never because a read failed or went quiet. The ledger keeps one entry per
// source and turns each new snapshot into those events, keyed so the tracker can fold them:
// grouping key `certificate:SOURCE`. It also answers the join: which certificates end at the
// instant a log line states (Go's `is after T`, Java's `NotAfter:`, OpenSSL's notAfter), so the
// log's incident can carry the certificate and fold under its incident.
//
// Pure and synchronous, like engine/: no I/O, no clock of its own (`now` is passed in).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/certs/certificate_inventory.hpp"
#include "adapters/certs/trust_checks.hpp"

namespace klaxon::certs {

/// The `certificate` object incidents gain: {"source","subject","serial","not_after"}.
struct CertificateRef {
  std::string source, subject, serial;
  Seconds not_after = 0;
};

struct CertificateEvent {
  enum class Kind { opened, escalated, resolved };
  Kind kind = Kind::opened;
  std::string incident_class;  // cert_expiring_soon, cert_expired, cert_not_yet_valid, cert_bad_signature
  Level level = Level::warning;
  std::string grouping_key;  // certificate:SOURCE, or prediction:ISSUER|BUNDLE
  CertificateRef certificate;
  std::string reason;  // resolved: "replaced by a later certificate" / "removed"; otherwise what is wrong
};

class CertificateLedger {
 public:
  explicit CertificateLedger(Thresholds thresholds) : thresholds_(thresholds) {}

  /// Compares a full new reading with the last one and appends the events. A source whose read
  /// failed this time (its ReadError, or the kind it belongs to: `kubernetes:secrets` covers
  /// every `secret:`) keeps its state: a failed read is not a removal.
  void reconcile(const Inventory& snapshot, const std::vector<Prediction>& predictions, Seconds now,
                 std::vector<CertificateEvent>& out);

  /// The certificates that end at `not_after` (to the second): the join with log lines.
  std::vector<CertificateRef> ending_at(Seconds not_after) const;

  /// Open incidents, for the status page and tests.
  std::size_t open_count() const;

 private:
  struct Entry {
    CertificateRef ref;
    std::string sha256;
    std::string incident_class;  // "" when nothing is wrong
    Level level = Level::none;
  };
  Thresholds thresholds_;
  std::map<std::string, Entry> by_source_;
  std::map<std::string, CertificateRef> predicted_;  // grouping key -> the issuer
};

}  // namespace klaxon::certs
