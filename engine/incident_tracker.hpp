// engine/incident_tracker.hpp — matches folded into incidents, on an event-time clock.
//
// An incident is what an operator acts on: one rule, one group (the rule's group_by labels),
// with counts, first/last seen, samples, the predicted expiry instant and the root cause it
// belongs to. The tracker turns each classified line into lifecycle events:
//
//   opened     the first match (or the min_count-th within the window)
//   updated    more matches; at most one event per incident per `update_interval` of event time
//   escalated  severity or class went up: a worse line, the clock passing the expiry threshold,
//              or the clock passing the predicted expiry instant with no renewal seen
//   resolved   no match for the rule's resolve_after, a renewal line, or a later certificate
//
// Two lifecycles (RuleSpec::lifecycle, `lifecycle:` in a pack). A `stream` incident is lines
// that keep coming while something is wrong: quiet for resolve_after means it is over. A
// `certificate` incident is about one certificate: the rule's `certificate` name and its
// group_by labels, shared by every rule that speaks of it (the hourly warning, the "has
// expired" line, a validity line), so one certificate is one incident whatever pod says it.
// It moves expiring → critical (at expiry minus the rule's threshold) → expired (at the stated
// instant) on the clock, whether or not more lines come, and is never resolved by silence: a
// dead certificate's warnings stop because it is dead. It resolves only on evidence of a
// renewal (a later stated expiry, a `resolves:` line), and says which line that was.
//
// Time is event time. The clock (watermark) is the latest event time seen minus the allowed
// lateness, so lines from many pods may arrive a little out of order and a replay gives the
// same incidents as the live run. advance() moves the clock without lines (live sources do so
// on wall time); finish() says what the end of a replay decides. What the clock decides is kept
// in a heap of deadlines (one per incident or certificate, the earliest instant at which it may
// change), so a line costs O(log n) whatever the number of open incidents. Memory is bounded: at most `max_incidents` incidents and `max_certificates`
// remembered certificates; the least recently seen are evicted first, and counted.
//
// Correlations (rule packs) make a symptom incident the child of an open root incident in the
// same scope: its `caused_by` names the root, alerting sinks skip it, the root counts it. A
// symptom that opened before its root is re-parented when the root opens. A symptom whose line
// states its cause (expired_at, issuer, trust domain, CA) is grouped by that cause rather than
// by pod, so forty pods failing on one expired root are one incident listing the pods, also
// when the root is out of sight (another node's klaxon sees it).
//
// Thread safety: none; one tracker per pipeline, fed from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/civil_time.hpp"
#include "engine/inventory_certificate.hpp"
#include "engine/labels.hpp"
#include "engine/matcher.hpp"
#include "engine/rule.hpp"

namespace klaxon {

struct ClassifiedLine;

/// What an incident is, copied out for sinks (an event outlives the tracker's state).
struct IncidentSnapshot {
  std::string id;
  std::string rule;
  std::string klass;
  Severity severity = Severity::warning;
  std::string title;
  std::string summary;
  std::string runbook;
  Labels labels;
  Nanos first_seen = 0;
  Nanos last_seen = 0;
  std::uint64_t count = 0;
  std::vector<std::string> samples;  // the first lines and the latest, capped
  std::vector<std::string> pods;     // distinct pods (or instances) its lines came from, capped
  Nanos expires_at = 0;              // 0 = unknown
  std::string caused_by;             // root incident id, or empty
  std::uint64_t symptoms = 0;        // for a root: incidents it explains
  std::vector<std::string> symptom_pods;  // for a root: distinct pods of its symptoms (capped)
  bool open = true;
  std::string resolved_because;      // quiet | renewed | superseded | evicted | shutdown | removed
  std::string resolved_by;           // for `renewed`: the line that showed it (`source:line`)
  std::string certificate;           // `lifecycle: certificate`: the certificate's name; else empty
  InventoryCertificate inventory;    // a certificate read where it is kept (source empty: none)
};

struct IncidentEvent {
  enum class Kind { opened, updated, escalated, resolved };
  Kind kind;
  Nanos time;  // event time at which it happened
  IncidentSnapshot incident;
};
std::string_view to_string(IncidentEvent::Kind k) noexcept;

struct TrackerOptions {
  Nanos allowed_lateness = 30 * kNanosPerSecond;
  std::size_t max_incidents = 10'000;
  std::size_t max_certificates = 10'000;
  Nanos update_interval = 60 * kNanosPerSecond;
  /// Default threshold for "expires soon is now critical" when a rule states none.
  Nanos expiry_threshold = 7 * 86400 * kNanosPerSecond;
  std::size_t max_samples = 3;
  std::size_t max_symptom_pods = 50;
  /// How long a certificate's stated expiry is still shown (certificates()) after it passed.
  Nanos expiry_retention = 7 * 86400 * kNanosPerSecond;
  /// --max-clock-skew. Live: a line stamped further than this ahead of the wall clock is
  /// classified and folded in at the wall clock's time, but moves no clock (one pod printing
  /// the year 2100, or a node whose clock jumped, would otherwise resolve every incident at
  /// once). Any mode: a line whose own time is further than this from its envelope's (the
  /// kubelet's or Loki's, which one pod cannot set) counts at the envelope's. Replay: a line
  /// further than this ahead of the wall clock (logs are not written in the future) counts at
  /// the replay's clock and moves nothing.
  Nanos max_clock_skew = 5 * 60 * kNanosPerSecond;
  /// An inventoried certificate (certificate_read) opens cert_expiring_soon this long before
  /// its end; it turns critical at expiry_threshold.
  Nanos certificate_warning = 30 * 86400 * kNanosPerSecond;
};

struct TrackerStats {
  std::uint64_t opened = 0;
  std::uint64_t resolved = 0;
  std::uint64_t escalated = 0;
  std::uint64_t evicted = 0;             // incidents dropped to stay within max_incidents
  std::uint64_t certificates_evicted = 0;
  std::uint64_t inhibited = 0;           // symptom incidents under a root
  std::uint64_t late_lines = 0;          // older than the clock when they arrived
  std::uint64_t future_lines = 0;        // stamped beyond the wall clock + max_clock_skew
  std::uint64_t skewed_lines = 0;        // own time further than max_clock_skew from the envelope's
  std::uint64_t refused_values = 0;      // durations or instants out of range, left out
};

class IncidentTracker {
 public:
  IncidentTracker(const std::vector<RuleSpec>& rules, std::vector<CorrelationSpec> correlations,
                  TrackerOptions options = {});
  ~IncidentTracker();

  /// Folds one classified line in. Events are appended to `out`.
  void observe(const ClassifiedLine& line, std::vector<IncidentEvent>& out);

  /// Moves the clock to at least `event_time` - allowed lateness (never backwards), resolving
  /// and escalating what that instant decides.
  void advance(Nanos event_time, std::vector<IncidentEvent>& out);

  /// What the clock decides before `line` (bounded by --max-clock-skew as observe() bounds it);
  /// observe(line) follows.
  void advance_to(const ClassifiedLine& line, std::vector<IncidentEvent>& out);

  /// The end of a replay: every line has been seen, so the clock moves to the latest event
  /// time itself (no lateness left to wait for), and a certificate whose instant passed within
  /// the window is said expired.
  void finish(std::vector<IncidentEvent>& out);

  /// Live mode: the wall clock (unix nanoseconds) that bounds what a line's time may claim.
  /// Unset (the default): a replay, event time only.
  void set_wall_clock(std::function<Nanos()> wall_clock);

  /// The clock: latest event time minus the allowed lateness. 0 before any line.
  Nanos watermark() const;
  /// The latest event time seen.
  Nanos latest_event_time() const;

  /// Every incident still held, open or resolved, oldest first.
  std::vector<IncidentSnapshot> incidents() const;

  /// Every certificate whose expiry a line stated, with where it was seen: one per identity,
  /// kept until a renewal replaces it or it has been expired for `expiry_retention`.
  struct Certificate {
    std::string identity;  // the certificate's name (`certificate:` of its rules, else the rule id)
    std::string rule;      // the rule of the line that stated the expiry
    Labels labels;
    Nanos expires_at = 0;
    Nanos stated_at = 0;
    std::string source;
    Nanos threshold = 0;   // critical from expires_at - threshold on (the rule's, else the default)
  };
  std::vector<Certificate> certificates() const;
  /// Every certificate of the inventory (--certs, --certs-kubernetes, --probe), one per place it
  /// is kept, in the same shape (rule `certificate.inventory`, source where it is kept), soonest first.
  std::vector<Certificate> inventory_certificates() const;

  /// What a restart must not forget (--state-dir): the clock, the open incidents (and the
  /// resolved certificate incidents, whose expiry a renewal settled), and the certificate
  /// inventory. Taken and given back whole; restore() emits no event, so a restart neither
  /// re-announces an open incident nor forgets a stated expiry.
  struct State {
    struct HeldIncident {
      IncidentSnapshot s;
      unsigned generation = 1;
      bool expired = false;
      Nanos class_since = 0;
      Nanos last_update = 0;
    };
    struct HeldCertificate {
      Certificate c;
      Nanos imprecision = 0;
    };
    Nanos latest = 0;
    Nanos watermark = 0;
    std::vector<HeldIncident> incidents;  // oldest last seen first
    std::vector<HeldCertificate> certificates;
  };
  State state() const;
  /// Into a tracker that has seen no line yet. What names a rule this run does not have (a pack
  /// was changed) is left out and counted in the result. The inventory's incidents (rules
  /// certificate.inventory and certificate.trust_check) come back under their source, so the
  /// next reading of it neither opens them again nor forgets them (see open_inventory()).
  std::size_t restore(const State& state);

  const TrackerStats& stats() const;

  /// The certificate inventory (engine/inventory_certificate.hpp): `certificate` was read (again)
  /// at `read_at` (0 in a replay: the reading has no place on the event clock). Unchanged, it
  /// says nothing; a later not_after at the same source resolves the open incident (renewed);
  /// the clock opens, escalates and expires it. A line stating its not_after folds into it.
  void certificate_read(const InventoryCertificate& certificate, Nanos read_at, std::vector<IncidentEvent>& out);
  /// The source holds no certificate any more: its open incident resolves (removed).
  void certificate_gone(const std::string& source, Nanos read_at, std::vector<IncidentEvent>& out);

  /// The inventory's open incidents: the sources they are about, and the keys of the open
  /// predictions (PredictedFailure::key). After restore(), what the certificate ledger must
  /// confirm or end at its first reading (a source deleted while klaxon was down).
  struct OpenInventory {
    std::vector<std::string> sources, predictions;
  };
  OpenInventory open_inventory() const;

  /// A failure the inventory predicts (engine/inventory_certificate.hpp): its incident opens,
  /// critical, at `read_at` (a replay: with the first line); said again while it holds, nothing.
  /// Lines of a trust class that name its issuer, or come from its rules, fold into it.
  void failure_predicted(const PredictedFailure& failure, Nanos read_at, std::vector<IncidentEvent>& out);
  /// It holds no more: its incident resolves, `why` being `renewed` (the two objects agree
  /// again) or `removed` (one is gone), `summary` saying which.
  void prediction_ended(const std::string& key, Nanos read_at, const std::string& why, const std::string& summary,
                        std::vector<IncidentEvent>& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace klaxon
