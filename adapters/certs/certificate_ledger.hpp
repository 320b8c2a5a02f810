// adapters/certs/certificate_ledger.hpp — what the certificate inventory hands the incident engine.
//
// The inventory is read again and again (a file changed, the Secrets listed again, the probe
// interval). The engine does not want inventories; it wants changes: this certificate is new
// or different at that source, that source holds none any more. The IncidentTracker then keeps
// one certificate-lifecycle incident per source on its own clock (expiring, critical, expired)
// and ends it only when the source shows a later certificate or is removed
// (engine/inventory_certificate.hpp). The ledger keeps the last reading of each group of
// sources (files, probes, the cluster) and turns each new one into those calls. A source whose
// read failed this time keeps its state: a failed read is not a removal.
//
// After each reading it runs the trust checks (adapters/certs/trust_checks.hpp) over what it
// holds: a mesh issuer its bundle does not sign is a predicted failure, said once, and said
// ended when the two agree again or one is gone.
//
// It also holds what /metrics shows (adapters/certs/certificate_metrics.hpp): the certificates
// as last read, and the read errors counted by kind of source.
//
// Pure and synchronous, like engine/: no I/O, no clock. Thread safety: none (the pipeline's thread).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "adapters/certs/certificate_inventory.hpp"
#include "adapters/certs/trust_checks.hpp"
#include "engine/inventory_certificate.hpp"

namespace klaxon::certs {

/// Where the changes go: the pipeline in the streaming modes, a recorder in tests.
struct CertificateReceiver {
  std::function<void(const InventoryCertificate&)> read;
  std::function<void(const std::string& source)> gone;
  /// A source that could not be read, said once until its message changes (never quoting input).
  std::function<void(const ReadError&)> error;
  /// A predicted failure that holds (again, after a change of either object: said once more).
  std::function<void(const PredictedFailure&)> predicted;
  /// One that holds no more: `why` is `renewed` (the objects agree again) or `removed`.
  std::function<void(const std::string& key, const std::string& why, const std::string& summary)> unpredicted;
};

/// The kind of a source string: `secret`, `configmap`, `file`, `kubeconfig`, `webhook`, `crd`,
/// `apiservice`, `endpoint`; for a read error also `kubernetes`.
std::string source_kind(const std::string& source);

/// The tracker's view of a certificate: labels (source_kind, namespace, name, key, path,
/// endpoint, as the source has them), not_after clamped to the engine's range, a runbook
/// naming the object to renew.
InventoryCertificate to_inventory(const Certificate& certificate);

/// The tracker's view of a trust check's prediction: the issuer as its certificate, both
/// objects named in the summary and a `trust_bundle` label, the mesh's fix as its runbook.
PredictedFailure to_predicted(const Prediction& prediction);

class CertificateLedger {
 public:
  /// A full new reading of one `group` of sources (e.g. "files", "probes", "kubernetes"),
  /// compared with that group's last: each certificate new or changed at its source is passed
  /// to `to.read`, each source of the group gone from a reading that covered it to `to.gone`.
  /// Read errors are counted and the new ones passed to `to.error`.
  void reconcile(const std::string& group, const Inventory& snapshot, const CertificateReceiver& to);

  /// After a restart (--state-dir): the sources whose incidents are still open, and the keys of
  /// the predictions that still held. The first reading of a source's group that covers it
  /// and no longer holds it says it is gone (it was deleted while klaxon was down); one that
  /// holds it passes it on as new, and the tracker, which remembers it, says nothing unless it
  /// changed. A prediction is judged again at the first reading of the cluster that read both
  /// of its objects: ended if they agree now, said again (silently: it is open) if not.
  void expect(const std::vector<std::string>& sources, const std::vector<std::string>& predictions);

  /// The group a source is read in: `files` (file:, kubeconfig:), `probes` (endpoint:),
  /// `kubernetes` (the rest).
  static std::string group_of(const std::string& source);

  /// The certificates as last read, by source (a CA's DER kept: the trust checks verify with it).
  const std::map<std::string, Certificate>& certificates() const { return by_source_; }
  /// Failed reads since the start, by source_kind().
  const std::map<std::string, std::uint64_t>& read_errors() const { return read_errors_; }

 private:
  std::map<std::string, Certificate> by_source_;
  std::map<std::string, std::string> group_of_;             // source -> its group
  std::map<std::string, std::string> last_error_;           // GROUP\nSOURCE -> message, while it fails
  std::map<std::string, std::uint64_t> read_errors_;
  std::map<std::string, std::string> predicted_;  // key -> issuer's sha256 + bundle's, while it holds
  std::map<std::string, std::string> expected_;   // source -> its group: restored, not read since
  std::set<std::string> expected_predictions_;    // keys: restored, not judged since

  void check_trust(const CertificateReceiver& to);
};

}  // namespace klaxon::certs
