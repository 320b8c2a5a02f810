// engine/pipeline.hpp — one run of klaxon: streams in, classified lines and incidents out.
//
// Every source, whether a file, a pipe, a kubectl child or a Loki tail, hands its bytes (or
// whole lines with their own time) to the pipeline under a stream key. The pipeline frames each
// stream on its own (StreamClassifier), folds matches into incidents (IncidentTracker), and
// pushes lines, incident events and the final summary to its EventSinks (engine/event_sink.hpp:
// the terminal or jsonl printer first, then Alertmanager, webhooks, the status service), in the
// order they were added. Live sources also tick it on wall time, so a stream that falls silent
// still resolves. engine/README.md draws the whole order and which entry point each source uses.
//
// The per-line work (framing, prefilter, decoding, matching) is concrete; the sinks are called
// per match and per incident event only.
// Thread safety: none; call it from one thread (the event loop's, in live mode).
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/event_sink.hpp"
#include "engine/incident_tracker.hpp"
#include "engine/labels.hpp"
#include "engine/line_framer.hpp"
#include "engine/parallel_feeder.hpp"
#include "engine/run_summary.hpp"
#include "engine/stream_classifier.hpp"

namespace klaxon {

struct PipelineOptions {
  std::size_t max_line_bytes = LineFramer::kDefaultMaxLineBytes;  // --max-line-bytes
  TrackerOptions tracker;
  /// Where the pipeline's own warnings go (a cut line, broken JSON, dropped incidents), each
  /// kind once; null: standard error, as "klaxon: warning: ...".
  std::function<void(const std::string&)> warn;
  /// Added to every incident's labels that lacks a label of that name (`--label cluster=c1`:
  /// which of a fleet's klaxons speaks), in every event and in the summary.
  Labels incident_labels;
};

class Pipeline {
 public:

  /// `sinks` receive, in this order, every match, incident event and the summary; they must
  /// outlive the pipeline (or its finish()). More can be added with add_sink().
  Pipeline(const Matcher& matcher, std::vector<CorrelationSpec> correlations, PipelineOptions options,
           std::vector<EventSink*> sinks = {});

  /// The next bytes of stream `key` (any chunking). `labels` are the stream's own (namespace,
  /// pod, container, Loki stream labels); they are taken when the stream is first seen.
  void feed(const std::string& key, std::string_view bytes, const Labels& labels = {});
  /// The same for a reader: read up to `bytes` into room(), then commit() what was read to
  /// stream `key`. Replaying on threads, the bytes land in the block that is scanned, uncopied.
  std::span<char> room(std::size_t bytes);
  void commit(const std::string& key, std::size_t bytes, const Labels& labels = {});
  /// A whole regular file as stream `key`, when replaying on threads (threaded()): its blocks
  /// are read and scanned by the workers (ParallelFeeder::feed_file). Returns an error message
  /// if a read failed.
  bool threaded() const { return parallel_ != nullptr; }
  std::string feed_file(const std::string& key, int fd, std::uint64_t size, const std::function<bool()>& keep_going);
  /// One whole line of stream `key` whose envelope time the source knows (Loki entries).
  void feed_line(const std::string& key, std::string_view line, Nanos time, const Labels& labels = {});
  /// The stream ended: a last line without newline is classified, its state let go.
  void end_stream(const std::string& key);

  /// Replay on `threads` threads (blocks scanned in parallel, delivered in order). Streams are
  /// then fed one at a time: end one before feeding the next, and change this only between.
  void use_threads(unsigned threads);

  /// Live mode: the event clock moves on by the wall time passed since the newest line.
  void tick_wall();

  /// The certificate inventory (adapters/certs feeds it; IncidentTracker::certificate_read):
  /// live, the reading is at the wall clock and moves the clock there (a certificate is judged
  /// with no log line at all); in a replay it has no event time.
  void certificate_read(const InventoryCertificate& certificate);
  void certificate_gone(const std::string& source);
  /// A failure the inventory predicts, and its end (IncidentTracker::failure_predicted).
  void failure_predicted(const PredictedFailure& failure);
  void prediction_ended(const std::string& key, const std::string& why, const std::string& summary);

  /// What time a line without one of its own gets. Live (the default): its arrival, the wall
  /// clock. Replay: the newest event time the run has seen (the wall clock only before any),
  /// so that an archive replayed today or next year, on any number of threads, gives the same
  /// answer and an untimed line lands beside its timed neighbours, not years after them.
  /// Live, the tracker also bounds a line's time by the wall clock (--max-clock-skew).
  void set_replay(bool replay);

  /// One more receiver of matches, incident events and the summary, after those already held.
  void add_sink(EventSink& sink) { sinks_.push_back(&sink); }
  void count_source_error() { ++summary_.source_errors; }
  /// A replay stopped by `signal` before the end of its input: the summary says so.
  void cut_short(int signal) { summary_.cut_short_by = signal; }
  /// A source's own counter (restarts, reconnects, dropped entries), for the summary and /metrics.
  void count(std::string_view counter, std::uint64_t n = 1) { summary_.source_counters[std::string(counter)] += n; }
  /// Whether a live source is connected (for /readyz).
  void set_connected(std::string_view source, bool up) { summary_.connected[std::string(source)] = up; }
  void count_source() { ++summary_.sources; }
  /// Every sink's flush().
  void flush() {
    for (EventSink* s : sinks_) s->flush();
  }

  /// Ends every stream and hands the summary to every sink. Returns it.
  const RunSummary& finish();

  /// The most severe incident opened or escalated so far (for --fail-on).
  std::optional<Severity> worst() const { return worst_; }
  const IncidentTracker& tracker() const { return tracker_; }
  const Matcher& matcher() const { return matcher_; }

  /// What a restart keeps (--state-dir): the tracker's state, and the wall time at which the
  /// newest line's event time was reached, so that live, the clock moves on by the time klaxon
  /// was down (an expiry during the restart is said at once).
  struct State {
    IncidentTracker::State tracker;
    Nanos latest_wall = 0;
  };
  State state() const { return {tracker_.state(), latest_seen_wall_}; }
  /// Before any input. Returns how many saved incidents and certificates were left out (their
  /// rule is gone).
  std::size_t restore(const State& state);
  const RunSummary& summary() const { return summary_; }

  /// Lines and bytes read so far per source (/metrics): each stream under its own key (a file's
  /// name), or every stream under `name` once count_streams_as(name) was called (live sources,
  /// whose streams come and go with pods). Ended streams are included.
  void count_streams_as(std::string name) { streams_as_ = std::move(name); }
  std::map<std::string, StreamStats> stats_by_source() const;

 private:
  StreamClassifier& stream(const std::string& key, const Labels& labels);
  void on_match(const ClassifiedLine& line);
  void count_match(const ClassifiedLine& line);
  void deliver();
  void add_incident_labels(Labels& labels) const;
  void after_input();
  void warn(const std::string& message) const;

  const Matcher& matcher_;
  PipelineOptions options_;
  std::vector<EventSink*> sinks_;
  IncidentTracker tracker_;
  std::map<std::string, std::unique_ptr<StreamClassifier>> streams_;
  std::unique_ptr<ParallelFeeder> parallel_;
  std::vector<char> room_;  // room() without threads
  std::vector<IncidentEvent> events_;
  RunSummary summary_;
  struct MatchCounters {
    std::uint64_t* by_class = nullptr;
    std::uint64_t* by_rule = nullptr;
  };
  std::vector<MatchCounters> rule_counters_;          // by rule index, into summary_'s maps
  std::array<std::uint64_t*, 3> severity_counters_{};  // by Severity, likewise
  std::set<StreamNotice::Kind> said_;
  std::optional<Severity> worst_;
  Nanos latest_seen_ = 0, latest_seen_wall_ = 0;
  bool replay_ = false;
  bool inventory_ = false;  // certificate_read was called: the wall clock moves the tracker
  std::string streams_as_;
  std::map<std::string, StreamStats> ended_by_source_;
};

}  // namespace klaxon
