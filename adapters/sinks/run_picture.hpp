// adapters/sinks/run_picture.hpp — the run's picture: one model behind the status page, its JSON
// API and the --report file.
//
// What an operator looks at is a picture of the run at one instant: the incidents with their
// roots and the symptoms folded under them, how each one's severity moved (opened, escalated,
// resolved), the certificates whose expiry a line stated and how close each is to its warning
// and critical thresholds, when each source last said anything, and which namespace/pod
// produced the classified lines over time. The tracker knows the present; the history (marks,
// activity over time, arrivals) is what RunRecorder, an EventSink, keeps as events go by,
// bounded whatever the length of the run. take_picture() joins the two into a RunPicture, plain
// immutable data that the pipeline's thread builds and any thread may render: as JSON
// (picture_json, /api/incidents, /api/certificates) or as HTML (adapters/sinks/report_html.hpp).
//
// Everything in a picture that came from a log line (pod names, labels, titles a rule filled
// in, samples) is untrusted text. The JSON writers escape it for embedding in HTML too: `<`,
// `>`, `&`, U+2028 and U+2029 are written as \u escapes, so the document can sit inside a
// <script> element of the report and a `</script>` in a pod name stays text.
//
// Thread safety: RunRecorder is fed on the pipeline's thread; a RunPicture is immutable data.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/event_sink.hpp"
#include "engine/incident_tracker.hpp"
#include "engine/pipeline.hpp"

namespace klaxon::sinks {

/// One moment of an incident's life, as its events told it.
struct IncidentMark {
  IncidentEvent::Kind kind = IncidentEvent::Kind::opened;
  Nanos time = 0;
  Severity severity = Severity::warning;
  std::uint64_t count = 0;
  std::size_t pods = 0;  // distinct pods of the incident (a root: with its symptoms') so far
};

/// A certificate whose expiry a line stated, placed against its thresholds at the picture's clock.
struct CertificateView {
  enum class State { valid, warning, critical, expired };
  IncidentTracker::Certificate certificate;
  Nanos warning_threshold = 0;   // warning from expires_at - warning_threshold on
  Nanos critical_threshold = 0;  // critical from expires_at - critical_threshold on
  State state = State::valid;
};
std::string_view to_string(CertificateView::State s) noexcept;

/// One input: its numbers, when its last line arrived (wall clock; live runs) and the event
/// time of its last classified line.
struct SourceView {
  std::string name;
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  Nanos last_line_arrived = 0;  // wall clock; 0 = no line yet
  Nanos last_match_time = 0;    // event time; 0 = no classified line
};

/// Classified lines per namespace/pod over time: `rows[r].counts[c]` lines in
/// [start + c * bucket, start + (c + 1) * bucket).
struct ActivityMap {
  struct Row {
    std::string namespace_name;  // empty when the line did not say
    std::string pod;             // the pod, else the instance, else the source
    std::vector<std::uint64_t> counts;
    std::uint64_t total = 0;
  };
  Nanos start = 0;
  Nanos bucket = 0;
  std::vector<Row> rows;  // busiest first; the rest folded into one "(other pods)" row
  std::size_t columns() const { return rows.empty() ? 0 : rows.front().counts.size(); }
};

struct RunPicture {
  Nanos taken_at = 0;     // wall clock
  Nanos clock = 0;        // "now" for the picture: the latest event time (replay), the wall clock (live)
  Nanos first_time = 0;   // the earliest event time shown (first incident or classified line)
  Nanos first_line = 0;   // the event time of the first classified line with a time; 0 = none
  Nanos last_line = 0;    // ... and of the last
  bool live = false;
  std::string not_ready;  // empty: ready
  std::uint64_t lines = 0, classified = 0;
  /// Every incident held: roots and incidents with no root first (most severe, then oldest),
  /// then the symptoms (each under its root: symptoms_of()).
  std::vector<IncidentSnapshot> incidents;
  std::map<std::string, std::vector<IncidentMark>> history;  // by incident id, oldest first
  std::map<std::string, std::string> runbook_urls;           // by rule id: its runbook_url annotation
  std::vector<CertificateView> certificates;                 // soonest expiry first
  std::vector<SourceView> sources;
  ActivityMap activity;

  const IncidentSnapshot* find(std::string_view id) const;
  /// The incidents whose caused_by is `root_id`, in the order of `incidents`.
  std::vector<const IncidentSnapshot*> symptoms_of(std::string_view root_id) const;
  /// The runbook URL of an incident's rule, or empty.
  std::string runbook_url(const IncidentSnapshot& i) const;
};

/// The default warning threshold of a certificate whose rule states none (30 days,
/// --expiry-warning).
inline constexpr Nanos kDefaultWarningThreshold = 30 * 86400 * kNanosPerSecond;

/// Keeps what the tracker forgets: each incident's marks, classified lines per pod over time,
/// the event time of each source's last classified line, and when each source's last line
/// arrived (note_arrivals). Bounded: marks per incident are coalesced (an update is kept when
/// the count doubled or the pods grew), at most kMaxIncidents histories and kMaxRows pods are
/// kept, and time buckets widen as the run grows.
class RunRecorder final : public EventSink {
 public:
  static constexpr std::size_t kMaxIncidents = 20'000;
  static constexpr std::size_t kMaxRows = 500;
  static constexpr std::size_t kMaxBuckets = 2'048;

  /// `warning_threshold`: when a certificate whose rule names no warning threshold turns
  /// warning (--expiry-warning).
  explicit RunRecorder(Nanos warning_threshold = kDefaultWarningThreshold) : warning_threshold_(warning_threshold) {}

  void match(const ClassifiedLine& line) override;
  void incident(const IncidentEvent& event) override;

  /// Live runs: the line counts per source now (Pipeline::stats_by_source) at wall time `now`;
  /// a source whose count grew since the last call had a line arrive.
  void note_arrivals(const std::map<std::string, StreamStats>& by_source, Nanos now);

  /// The picture of `pipeline` now. `wall_now`: the wall clock; `live`: the clock is the wall
  /// clock (else the latest event time); `not_ready`: why the run is not ready, or empty.
  RunPicture take_picture(const Pipeline& pipeline, Nanos wall_now, bool live, std::string not_ready) const;

 private:
  void widen_buckets();

  std::map<std::string, std::vector<IncidentMark>> history_;
  // (namespace, pod) -> bucket index (event time / bucket_) -> classified lines
  std::map<std::pair<std::string, std::string>, std::map<Nanos, std::uint64_t>> activity_;
  Nanos bucket_ = 60 * kNanosPerSecond;
  Nanos first_ = 0, last_ = 0;
  std::map<std::string, Nanos> last_match_;  // source -> event time
  std::map<std::string, std::pair<std::uint64_t, Nanos>> arrivals_;  // source -> (lines, wall time of the last growth)
  std::uint64_t classified_ = 0;
  Nanos warning_threshold_;
};

/// The whole picture as one JSON document (embedded in the report).
std::string picture_json(const RunPicture& picture);
/// `/api/incidents`: {"clock":..., "incidents":[...]} (roots first, each with its marks).
std::string incidents_json(const RunPicture& picture);
/// `/api/certificates`: {"clock":..., "certificates":[...]} (soonest expiry first).
std::string certificates_json(const RunPicture& picture);

}  // namespace klaxon::sinks
