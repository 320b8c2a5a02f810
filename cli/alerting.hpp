// cli/alerting.hpp — the run's network sinks (Alertmanager, webhooks), from flags to delivery.
//
// One DeliveryWorker thread serves every network sink, so a dead receiver never slows reading
// or matching. The sinks are EventSinks on the pipeline's list (attach); they queue posts and
// return. At the end of a run (after the source stopped and the pipeline finished: the second
// phase of shutdown) finish() flushes the queues within a deadline and says what could not be
// delivered: how many alerts Alertmanager missed, how many events a webhook missed. Replayed
// files page nobody unless --send-replayed: the caller decides that (run_files), this class
// only sends.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "adapters/sinks/alertmanager_sink.hpp"
#include "adapters/sinks/delivery.hpp"
#include "adapters/sinks/webhook_sink.hpp"
#include "cli/options.hpp"

namespace CLI {
class App;
}

namespace klaxon {
class Pipeline;
}

namespace klaxon::cli {

class StatusService;

/// Adds the network sinks' flags (--alertmanager, --webhook and what goes with them,
/// --external-url, --send-replayed) to `app` in option group `group`; Alerting::create makes the
/// sinks they ask for.
void add_alert_flags(CLI::App& app, AlertOptions& options, const std::string& group);

class Alerting {
 public:
  /// The sinks `options` ask for, or nullptr with `error` set (a bad URL, header, duration or
  /// --ca-file: a usage error). Warns on stderr about --insecure-skip-verify. With `status`
  /// (--listen), the sinks' numbers go to /metrics and alerts link to the status page; the
  /// Alerting must then be destroyed before `status`.
  static std::unique_ptr<Alerting> create(const AlertOptions& options, const std::vector<RuleSpec>& rules,
                                          std::string& error, StatusService* status = nullptr);
  /// What every run does: the sinks `options` ask for, sending `pipeline`'s incident events
  /// from now on, in `out` (null when none is asked for). False, after saying why on stderr,
  /// for a usage error.
  static bool start(const AlertOptions& options, const std::vector<RuleSpec>& rules, Pipeline& pipeline,
                    StatusService* status, std::unique_ptr<Alerting>& out);
  ~Alerting();  // frees only: the delivery thread stops before the sinks go (member order)

  /// Adds the sinks to `pipeline`'s EventSinks: its incident events are sent from now on.
  void attach(Pipeline& pipeline);

  /// How long the end of a run waits for receivers: long enough for a slow Alertmanager to take
  /// the final state, short enough that a dead one does not hold a rolling update.
  static constexpr std::chrono::seconds kFlushDeadline{5};

  /// After the pipeline's finish() (whose summary posts the final state): waits at most `limit`
  /// for the queues to empty, stops, and says on stderr what was not delivered. Returns false
  /// when something was not.
  bool finish(std::chrono::milliseconds limit = kFlushDeadline);

  /// Per sink: sent, failed, dropped, retries, queue depth (for the summary and /metrics).
  std::vector<sinks::DeliveryStats> stats() const { return worker_->stats(); }

 private:
  Alerting() = default;
  std::unique_ptr<sinks::AlertmanagerSink> alertmanager_;
  std::vector<std::unique_ptr<sinks::WebhookSink>> webhooks_;
  // Declared last, destroyed first: its thread (which calls into the Alertmanager sink's resend
  // timer) stops before the sinks are freed.
  std::unique_ptr<sinks::DeliveryWorker> worker_;
  bool finished_ = false;
};

}  // namespace klaxon::cli
