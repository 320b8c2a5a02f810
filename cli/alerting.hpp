// cli/alerting.hpp — the run's network sinks (Alertmanager, webhooks), from flags to delivery.
//
// One DeliveryWorker thread serves every network sink, so a dead receiver never slows reading
// or matching. The sinks are EventSinks on the pipeline's list (attach); they queue posts and
// return. At the end of a run the queues are drained for a bounded time and
// what could not be delivered is said. Replayed files page nobody unless --send-replayed: the
// caller decides that (run_files), this class only sends.
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
  ~Alerting();

  /// Adds the sinks to `pipeline`'s EventSinks: its incident events are sent from now on.
  void attach(Pipeline& pipeline);

  /// After the pipeline's finish() (whose summary posts the final state): waits at most `limit`
  /// for the queues to empty, stops, and says on stderr what was not delivered. Returns false when something was not.
  bool finish(std::chrono::milliseconds limit = std::chrono::seconds(5));

  /// Per sink: sent, failed, dropped, retries, queue depth (for the summary and /metrics).
  std::vector<sinks::DeliveryStats> stats() const { return worker_->stats(); }

 private:
  Alerting() = default;
  // The worker outlives the sinks that post to it (members are destroyed in reverse order).
  std::unique_ptr<sinks::DeliveryWorker> worker_;
  std::unique_ptr<sinks::AlertmanagerSink> alertmanager_;
  std::vector<std::unique_ptr<sinks::WebhookSink>> webhooks_;
  bool finished_ = false;
};

}  // namespace klaxon::cli
