// adapters/sinks/alertmanager_sink.hpp — incidents as Alertmanager alerts (API v2).
//
// Alertmanager forgets an alert that is not re-sent, and a receiver may be down when an
// incident opens. So, as Prometheus does, this sink keeps the *state*: the set of alerts, one
// per incident, and posts all of it (`POST /api/v2/alerts`) when an alert opens, escalates or
// ends, and again every `resend` interval (which also carries routine updates: counts). A post that fails is retried; a newer state supersedes it; an alert that
// opened while Alertmanager was down arrives with the first post after it is back.
//
//   labels       alertname (the rule id; for a certificate, see certificate_alert_names), severity,
//                class, and the incident's group labels (with --label's, from the pipeline)
//   annotations  summary, description, runbook, runbook_url, expires_at, count, symptoms
//   startsAt     first seen;  endsAt: the resolve instant, or for a firing alert now plus
//                max(4 resends, 5 min), so Alertmanager resolves it if klaxon stops sending
//
// Symptom incidents under a root cause are not sent on their own (the root's `symptoms`
// annotation counts them); one sent before its root appeared is resolved when it is adopted.
// An incident whose labels change (escalated to critical) resolves its old alert. Resolved
// alerts are re-sent for 15 minutes, then forgotten.
// It is an EventSink (engine/event_sink.hpp): incident() takes the events, summary() (the run
// ended) posts the final state before the worker drains.
// Thread safety: incident and summary from the pipeline's thread; the rest runs on the delivery
// thread. The sink must be destroyed after its worker has stopped.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "adapters/sinks/delivery.hpp"
#include "engine/event_sink.hpp"
#include "engine/incident_tracker.hpp"
#include "engine/rule.hpp"

namespace klaxon::sinks {

/// A certificate's incident (`lifecycle: certificate`) is opened by whichever of its rules' lines
/// comes first (the month of warnings, or only the "has expired" line to a klaxon started late).
/// Its `alertname` must not depend on that, or two replicas and a restart would name one
/// incident two ways: it is the first rule (in pack order) of that certificate with the class
/// the incident has reached. This map gives it: (certificate, class) -> rule id.
using CertificateAlertNames = std::map<std::pair<std::string, std::string>, std::string>;
CertificateAlertNames certificate_alert_names(const std::vector<RuleSpec>& rules);

struct AlertmanagerOptions {
  std::chrono::milliseconds resend{60'000};
  std::string generator_url;  // klaxon's own status page, when it serves one; empty: left out
  RetryPolicy retry;          // max_backoff is capped at `resend`
};

class AlertmanagerSink final : public EventSink {
 public:
  /// One queue per Alertmanager (an HA pair gets every alert twice, as Prometheus sends it).
  /// `rules` give the annotations an incident does not carry (description, runbook_url).
  AlertmanagerSink(DeliveryWorker& worker, const std::vector<Endpoint>& alertmanagers, const std::vector<RuleSpec>& rules,
                   AlertmanagerOptions options);

  void incident(const IncidentEvent& event) override;
  /// The run ended: posts the state now, before the worker drains.
  void summary(const RunSummary& summary) override;

  /// The JSON array posted at wall time `now` (drops resolved alerts past their retention);
  /// with `count`, the number of alerts in it.
  std::string alerts_json(Nanos now, std::size_t* count = nullptr);
  std::size_t firing() const;
  /// Alerts (firing and resolved) in the last state posted: what Alertmanager misses when that
  /// post is not delivered.
  std::size_t last_posted() const { return last_posted_; }

 private:
  struct Alert {
    IncidentSnapshot incident;
    Labels labels;
    Nanos ends_at = 0;        // 0 = firing
    Nanos resolved_wall = 0;  // wall time it ended, for the retention
  };
  void schedule_post();
  void post_state();
  std::string annotations_json(const Alert& a) const;

  DeliveryWorker& worker_;
  std::vector<DeliveryQueue*> queues_;
  AlertmanagerOptions options_;
  std::map<std::string, std::pair<std::string, std::string>> rule_annotations_;  // rule -> description, runbook_url
  CertificateAlertNames certificate_names_;

  mutable std::mutex mu_;
  std::map<std::string, Alert> alerts_;                           // by label set
  std::unordered_map<std::string, std::string> key_of_incident_;  // incident id -> label set
  std::map<std::string, std::set<std::string>> symptoms_of_;      // root id -> symptom ids
  std::atomic<bool> post_scheduled_{false};
  std::atomic<std::size_t> last_posted_{0};
};


/// Alertmanager label names are [a-zA-Z_][a-zA-Z0-9_]*: other characters become '_'.
std::string alertmanager_label_name(std::string_view name);

}  // namespace klaxon::sinks
