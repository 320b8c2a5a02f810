// cli/run_live.cpp — the event loop for live sources (kubectl, followed files, Loki, push).
//
// Shutdown has two phases, so that what was read is matched and what was matched is sent.
// One stop signal per run: SIGINT/SIGTERM, or a finite source's end (a replay done).
//   1. The source is cancelled (Asio's terminal cancellation, through the slot its coroutine
//      was spawned with): it stops reading and returns. A source that does not end within
//      kSourceGrace is not waited for; a second signal stops at once.
//   2. The loop stops; the pipeline finishes what it has (its summary() posts Alertmanager's
//      final state); alerting flushes its queues within Alerting::kFlushDeadline and says how
//      many alerts were left undelivered.
//   3. Everything is freed.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <utility>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/signal_set.hpp>
#include <unistd.h>

#include <fmt/format.h>

#include "adapters/net/asio.hpp"
#include "adapters/sinks/console_sink.hpp"
#include "adapters/sinks/json_lines_sink.hpp"
#include "cli/alerting.hpp"
#include "cli/certificate_sources.hpp"
#include "cli/options.hpp"
#include "cli/run_live.hpp"
#include "cli/state_dir.hpp"
#include "cli/status.hpp"
#include "engine/printable.hpp"

namespace klaxon::cli {
namespace {

// How long a cancelled source may take to return before the loop stops without it.
constexpr std::chrono::seconds kSourceGrace{2};

// The pipeline as a live source sees it.
class PipelineIntake final : public sources::Intake {
 public:
  explicit PipelineIntake(Pipeline& p) : p_(p) {}
  void bytes(const std::string& stream, std::string_view data, const Labels& labels) override {
    p_.feed(stream, data, labels);
  }
  void line(const std::string& stream, std::string_view line, Nanos time, const Labels& labels) override {
    p_.feed_line(stream, line, time, labels);
  }
  void end(const std::string& stream) override { p_.end_stream(stream); }
  void notice(std::string_view counter, std::string_view message, std::uint64_t count) override {
    p_.count(counter, count);
    if (!message.empty()) std::fprintf(stderr, "klaxon: %s\n", printable(message).c_str());
  }
  void connected(std::string_view source, bool up) override { p_.set_connected(source, up); }
  void flush() override { p_.flush(); }

 private:
  Pipeline& p_;
};

asio::awaitable<void> tick_every_second(Pipeline& pipeline, StatusService& status, StateKeeper* state) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(asio::use_awaitable);
    pipeline.tick_wall();
    pipeline.flush();
    status.tick();
    if (state) state->tick();
  }
}

}  // namespace

int run_live(const RunOptions& options, const LiveSourceFactory& make_source) {
  rules::RuleSet set;
  std::optional<Matcher> matcher = load_matcher(options.rules, &set, options.threads);
  if (!matcher) return kExitUsage;

  std::unique_ptr<EventSink> sink = make_output_sink(options);

  Pipeline pipeline(*matcher, set.correlations, pipeline_options(options), {sink.get()});
  pipeline.count_streams_as(options.source_name);
  PipelineIntake bridge(pipeline);
  std::unique_ptr<StateKeeper> state;  // --state-dir: before anything shows or sends the incidents
  if (!keep_state(options.state_dir, pipeline, state)) return kExitUsage;
  asio::io_context io;
  std::unique_ptr<StatusService> shown;  // --listen and serve's /metrics
  try {
    shown = std::make_unique<StatusService>(options, pipeline, /*live=*/true);
  } catch (const std::runtime_error& e) {  // --listen address bad or taken
    std::fprintf(stderr, "klaxon: %s\n", printable(e.what()).c_str());
    return kExitUsage;
  }
  std::unique_ptr<Alerting> alerting;
  if (!Alerting::start(options.alerts, matcher->rules(), pipeline, shown.get(), alerting)) return kExitUsage;
  std::unique_ptr<sources::LiveSource> source;
  std::unique_ptr<CertificateSources> certificates;  // --certs, --certs-kubernetes, --probe
  try {
    source = make_source(io.get_executor());
    certificates = CertificateSources::create(options.certs, pipeline, shown->metrics());
  } catch (const sources::FatalSourceError& e) {
    std::fprintf(stderr, "klaxon: %s\n", printable(e.what()).c_str());
    return kExitUsage;
  }
  // Incident events show on /metrics and / soon, not only at the next second.
  shown->wake_with([&] { asio::post(io, [&] { shown->tick(); }); });
  pipeline.count_source();

  int status = kExitOk;
  // Phase 1 (see the top of this file): the signal cancels the source.
  asio::cancellation_signal stop_source;
  bool stopping = false;
  asio::steady_timer grace(io);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    stopping = true;
    stop_source.emit(asio::cancellation_type::terminal);
    grace.expires_after(kSourceGrace);
    grace.async_wait([&](const boost::system::error_code& late) {
      if (!late) io.stop();
    });
    signals.async_wait([&](const boost::system::error_code& again, int) {
      if (!again) io.stop();  // asked twice: now
    });
  });
  shown->publish();
  if (certificates) certificates->follow(io.get_executor());
  asio::co_spawn(io, tick_every_second(pipeline, *shown, state.get()), asio::detached);
  asio::co_spawn(io, source->run(bridge), asio::bind_cancellation_slot(stop_source.slot(), [&](std::exception_ptr error) {
    if (error && !stopping) {  // stopping: what it threw is the cancellation's echo
      try {
        std::rethrow_exception(error);
      } catch (const sources::FatalSourceError& e) {
        std::fprintf(stderr, "klaxon: %s\n", printable(e.what()).c_str());
        status = kExitUsage;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "klaxon: error: %s\n", printable(e.what()).c_str());
        status = kExitFailure;
      }
    }
    io.stop();  // a finite source is done (or failed), or it stopped when asked: end the run
  }));
  io.run();
  // Phase 2: the pipeline finishes, then the sinks flush.
  source.reset();
  pipeline.finish();
  if (state) state->finish();
  if (alerting) alerting->finish();
  if (status == kExitOk && !shown->report_written()) status = kExitFailure;
  if (status == kExitOk && options.fail_on && pipeline.worst() && *pipeline.worst() >= *options.fail_on)
    return kExitFailOn;
  return status;
}

}  // namespace klaxon::cli
