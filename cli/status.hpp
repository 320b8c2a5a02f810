// cli/status.hpp — what --listen (and serve's port) shows: the pipeline's numbers and incidents.
//
// The pipeline is single-threaded and must never wait for a scraper, so StatusService renders
// /metrics text and the status page on the pipeline's thread and publishes them on a
// StatusBoard that the HTTP threads read (adapters/sinks/status_server.hpp). It publishes at
// most every second, and soon after an incident event. Numbers come from MetricsRegistry
// producers: the pipeline's own (lines, bytes, matches, incidents, certificates, source events,
// dropped lines) are registered here; alerting sinks register theirs with metrics().add(...).
// It is one of the pipeline's EventSinks: an incident event marks the page out of date.
//
// The pages (`/`, `/incident/ID`, `/api/incidents`, `/api/certificates`) and the --report file
// show one model, a RunPicture (adapters/sinks/run_picture.hpp): a RunRecorder keeps the
// history the tracker forgets, and each publish hands the HTTP threads a fresh picture to render
// from. The report is written when the run ends (the pipeline's summary): at the end of a
// replay, at the shutdown of a live run.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "adapters/sinks/metrics.hpp"
#include "adapters/sinks/run_picture.hpp"
#include "adapters/sinks/status_server.hpp"
#include "cli/options.hpp"
#include "engine/event_sink.hpp"
#include "engine/pipeline.hpp"

namespace klaxon::cli {

class StatusService final : public EventSink {
 public:
  /// Starts the --listen server when options.listen is set (throws std::runtime_error or
  /// FatalSourceError with the operator's fix when it cannot), and adds itself to `pipeline`'s
  /// sinks. `live`: readiness needs every live source connected; a replay is ready at once.
  StatusService(const RunOptions& options, Pipeline& pipeline, bool live);
  ~StatusService() override;

  /// An incident event: publish soon (tick() does), and call the `wake` given, if any.
  void incident(const IncidentEvent& event) override;
  /// The run ended: writes --report, if asked for.
  void summary(const RunSummary& summary) override;
  /// False when --report was asked for and could not be written (said on stderr).
  bool report_written() const { return report_ok_; }
  /// Called after each incident event, for a loop to schedule a tick() soon (not from inside
  /// the pipeline's call).
  void wake_with(std::function<void()> wake) { wake_ = std::move(wake); }

  /// Publishing happens only when something shows it: --listen, or options.status_board
  /// (which serve shares with its push port).
  bool enabled() const { return board_ != nullptr; }
  /// Where anything with numbers registers them for /metrics.
  sinks::MetricsRegistry& metrics() { return registry_; }
  /// The --listen address actually bound ("127.0.0.1:9095"), empty without --listen.
  std::string address() const;
  /// "https://127.0.0.1:9095/" (http:// without TLS), empty without --listen.
  std::string url() const { return url_; }

  /// Renders and publishes now.
  void publish();
  /// Publishes if a second has passed, or an incident event happened and 100 ms have.
  void tick();

 private:
  void add_pipeline_metrics();
  std::string not_ready() const;
  sinks::RunPicture picture() const;

  Pipeline& pipeline_;
  bool live_;
  Nanos expiry_retention_;  // --expiry-retention: how long an expired certificate stays on /metrics
  std::string base_url_;    // --external-url: the pages' links start there (empty: at /)
  sinks::MetricsRegistry registry_;
  std::shared_ptr<sinks::StatusBoard> board_;
  std::unique_ptr<sinks::StatusServer> server_;
  sinks::RunRecorder recorder_;
  std::string report_path_;
  std::string url_;
  bool report_ok_ = true;
  bool dirty_ = false;
  std::function<void()> wake_;
  std::chrono::steady_clock::time_point last_publish_{};
  std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();
};

}  // namespace klaxon::cli
