// cli/pipeline.hpp — one run of klaxon: streams in, classified lines and incidents out.
//
// Every source, whether a file, a pipe, a kubectl child or a Loki tail, hands its bytes (or
// whole lines with their own time) to the pipeline under a stream key. The pipeline frames each
// stream on its own (StreamClassifier), folds matches into incidents (IncidentTracker), and
// passes lines and incident events to the output sink and to any listeners (network sinks).
// Live sources also tick it on wall time, so a stream that falls silent still resolves.
// Thread safety: none; call it from one thread (the event loop's, in live mode).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "adapters/sinks/output_sink.hpp"
#include "cli/options.hpp"
#include "engine/incident_tracker.hpp"
#include "engine/parallel_feeder.hpp"
#include "engine/stream_classifier.hpp"

namespace klaxon::cli {

class Pipeline {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;
  using IncidentListener = std::function<void(const IncidentEvent&)>;

  Pipeline(const Matcher& matcher, std::vector<CorrelationSpec> correlations, const RunOptions& options,
           sinks::OutputSink& out);

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

  /// What time a line without one of its own gets. Live (the default): its arrival, the wall
  /// clock. Replay: the newest event time the run has seen (the wall clock only before any),
  /// so that an archive replayed today or next year, on any number of threads, gives the same
  /// answer and an untimed line lands beside its timed neighbours, not years after them.
  /// Live, the tracker also bounds a line's time by the wall clock (--max-clock-skew).
  void set_replay(bool replay);

  void add_incident_listener(IncidentListener listener) { listeners_.push_back(std::move(listener)); }
  void count_source_error() { ++summary_.source_errors; }
  /// A source's own counter (restarts, reconnects, dropped entries), for the summary and /metrics.
  void count(std::string_view counter, std::uint64_t n = 1) { summary_.source_counters[std::string(counter)] += n; }
  /// Whether a live source is connected (for /readyz).
  void set_connected(std::string_view source, bool up) { summary_.connected[std::string(source)] = up; }
  void count_source() { ++summary_.sources; }
  void flush() { out_.flush(); }

  /// Ends every stream and prints the summary. Returns it.
  const sinks::RunSummary& finish();

  /// The most severe incident opened or escalated so far (for --fail-on).
  std::optional<Severity> worst() const { return worst_; }
  const IncidentTracker& tracker() const { return tracker_; }
  const sinks::RunSummary& summary() const { return summary_; }

  /// Lines and bytes read so far per source (/metrics): each stream under its own key (a file's
  /// name), or every stream under `name` once count_streams_as(name) was called (live sources,
  /// whose streams come and go with pods). Ended streams are included.
  void count_streams_as(std::string name) { streams_as_ = std::move(name); }
  std::map<std::string, StreamStats> stats_by_source() const;

 private:
  StreamClassifier& stream(const std::string& key, const Labels& labels);
  void on_match(const ClassifiedLine& line);
  void deliver();
  void after_input();

  const Matcher& matcher_;
  const RunOptions& options_;
  sinks::OutputSink& out_;
  IncidentTracker tracker_;
  std::map<std::string, std::unique_ptr<StreamClassifier>> streams_;
  std::unique_ptr<ParallelFeeder> parallel_;
  std::vector<char> room_;  // room() without threads
  std::vector<IncidentListener> listeners_;
  std::vector<IncidentEvent> events_;
  sinks::RunSummary summary_;
  std::set<StreamNotice::Kind> said_;
  std::optional<Severity> worst_;
  Nanos latest_seen_ = 0, latest_seen_wall_ = 0;
  bool replay_ = false;
  std::string streams_as_;
  std::map<std::string, StreamStats> ended_by_source_;
};

}  // namespace klaxon::cli
