#include "engine/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "engine/printable.hpp"

namespace klaxon {
namespace {

std::string notice_text(const StreamNotice& n, std::size_t max_line_bytes) {
  switch (n.kind) {
    case StreamNotice::Kind::line_truncated:
      return fmt::format("{}:{}: a line longer than {} bytes was cut; its head is still matched "
                         "(further cuts are counted in the summary)",
                         n.source, n.line_no, max_line_bytes);
    case StreamNotice::Kind::malformed_json:
      return fmt::format("{}:{}: broken JSON, read as plain text (further ones are counted in the summary)", n.source,
                         n.line_no);
    case StreamNotice::Kind::invalid_utf8:
      return fmt::format("{}:{}: invalid UTF-8, shown with U+FFFD (further ones are counted in the summary)", n.source,
                         n.line_no);
  }
  return {};
}

}  // namespace

Pipeline::Pipeline(const Matcher& matcher, std::vector<CorrelationSpec> correlations, PipelineOptions options,
                   std::vector<EventSink*> sinks)
    : matcher_(matcher),
      options_(std::move(options)),
      sinks_(std::move(sinks)),
      tracker_(matcher.rules(), std::move(correlations), options_.tracker) {
  set_replay(false);
}

void Pipeline::warn(const std::string& message) const {
  if (options_.warn) options_.warn(message);
  else std::fprintf(stderr, "klaxon: warning: %s\n", printable(message).c_str());
}

void Pipeline::set_replay(bool replay) {
  replay_ = replay;
  tracker_.set_wall_clock(replay ? std::function<Nanos()>{} : std::function<Nanos()>{wall_now});
}

StreamClassifier& Pipeline::stream(const std::string& key, const Labels& labels) {
  auto it = streams_.find(key);
  if (it != streams_.end()) return *it->second;
  StreamOptions so;
  so.max_line_bytes = options_.max_line_bytes;
  so.now = [this] {
    const Nanos reached = tracker_.latest_event_time();
    return replay_ && reached != 0 ? reached : wall_now();
  };
  auto s = std::make_unique<StreamClassifier>(
      matcher_, key, labels, so, [this](const ClassifiedLine& line) { on_match(line); },
      [this](const StreamNotice& n) {
        if (said_.insert(n.kind).second) warn(notice_text(n, options_.max_line_bytes));
      });
  return *streams_.emplace(key, std::move(s)).first->second;
}

void Pipeline::on_match(const ClassifiedLine& line) {
  // What the clock decides before this line (a quiet period ended, a threshold passed) is said
  // before the line itself.
  tracker_.advance_to(line, events_);
  deliver();
  for (EventSink* s : sinks_) s->match(line);
  count_match(line);
  const TrackerStats before = tracker_.stats();
  tracker_.observe(line, events_);
  const TrackerStats& after = tracker_.stats();
  if (before.future_lines == 0 && after.future_lines != 0)
    std::fprintf(stderr,
                 "klaxon: warning: %s:%llu: stamped more than --max-clock-skew ahead of this machine's clock; "
                 "taken at the wall clock's time (all are counted at the end)\n",
                 printable(line.source).c_str(), static_cast<unsigned long long>(line.line_no));
  if (before.skewed_lines == 0 && after.skewed_lines != 0)
    std::fprintf(stderr,
                 "klaxon: warning: %s:%llu: its own time is more than --max-clock-skew from its envelope's (kubelet "
                 "or Loki); taken at the envelope's time (all are counted at the end)\n",
                 printable(line.source).c_str(), static_cast<unsigned long long>(line.line_no));
  if (before.refused_values == 0 && after.refused_values != 0)
    std::fprintf(stderr,
                 "klaxon: warning: %s:%llu: a duration or instant out of range was left out; the line is still "
                 "classified (all are counted at the end)\n",
                 printable(line.source).c_str(), static_cast<unsigned long long>(line.line_no));
  deliver();
}

// The summary's counters by class, severity and rule: each map entry is found once and then
// counted through a pointer (map nodes stay put), not looked up with a key built per match.
void Pipeline::count_match(const ClassifiedLine& line) {
  const auto rule = std::size_t(line.primary.rule);
  if (rule >= rule_counters_.size()) rule_counters_.resize(std::max(rule + 1, matcher_.rules().size()));
  MatchCounters& c = rule_counters_[rule];
  if (c.by_class == nullptr) {
    c.by_class = &summary_.matches_by_class[line.rule.klass];
    c.by_rule = &summary_.matches_by_rule[{line.rule.id, line.rule.klass}];
  }
  ++*c.by_class;
  ++*c.by_rule;
  std::uint64_t*& by_severity = severity_counters_[std::size_t(line.primary.severity)];
  if (by_severity == nullptr) by_severity = &summary_.matches_by_severity[std::string(to_string(line.primary.severity))];
  ++*by_severity;
}

void Pipeline::add_incident_labels(Labels& labels) const {
  add_missing_labels(labels, options_.incident_labels);
}

void Pipeline::deliver() {
  for (IncidentEvent& e : events_) add_incident_labels(e.incident.labels);
  for (const IncidentEvent& e : events_) {
    for (EventSink* s : sinks_) s->incident(e);
    if ((e.kind == IncidentEvent::Kind::opened || e.kind == IncidentEvent::Kind::escalated) &&
        (!worst_ || e.incident.severity > *worst_))
      worst_ = e.incident.severity;
  }
  events_.clear();
}

void Pipeline::after_input() {
  if (tracker_.latest_event_time() != latest_seen_) {
    latest_seen_ = tracker_.latest_event_time();
    latest_seen_wall_ = wall_now();
  }
}

void Pipeline::use_threads(unsigned threads) {
  if (threads <= 1) parallel_.reset();
  else if (!parallel_ || parallel_->threads() != threads)
    parallel_ = std::make_unique<ParallelFeeder>(matcher_, threads, options_.max_line_bytes);
}

void Pipeline::feed(const std::string& key, std::string_view bytes, const Labels& labels) {
  if (parallel_) parallel_->feed(stream(key, labels), bytes);
  else stream(key, labels).feed(bytes);
  after_input();
}

std::span<char> Pipeline::room(std::size_t bytes) {
  if (parallel_) return parallel_->room(bytes);
  if (room_.size() < bytes) room_.resize(bytes);
  return {room_.data(), bytes};
}

void Pipeline::commit(const std::string& key, std::size_t bytes, const Labels& labels) {
  if (parallel_) parallel_->commit(stream(key, labels), bytes);
  else stream(key, labels).feed(std::string_view(room_.data(), bytes));
  after_input();
}

std::string Pipeline::feed_file(const std::string& key, int fd, std::uint64_t size,
                                const std::function<bool()>& keep_going) {
  std::string error = parallel_->feed_file(stream(key, {}), fd, size, [&] {
    after_input();
    return keep_going();
  });
  after_input();
  return error;
}

void Pipeline::feed_line(const std::string& key, std::string_view line, Nanos time, const Labels& labels) {
  stream(key, labels).feed_line(line, time);
  after_input();
}

void Pipeline::end_stream(const std::string& key) {
  auto it = streams_.find(key);
  if (it == streams_.end()) return;
  if (parallel_) parallel_->finish(*it->second);
  else it->second->finish();
  summary_.stats += it->second->stats();
  ended_by_source_[streams_as_.empty() ? key : streams_as_] += it->second->stats();
  streams_.erase(it);
  after_input();
  deliver();
}

std::map<std::string, StreamStats> Pipeline::stats_by_source() const {
  std::map<std::string, StreamStats> out = ended_by_source_;
  for (const auto& [key, s] : streams_) out[streams_as_.empty() ? key : streams_as_] += s->stats();
  return out;
}

std::size_t Pipeline::restore(const State& state) {
  const std::size_t skipped = tracker_.restore(state.tracker);
  latest_seen_ = tracker_.latest_event_time();
  latest_seen_wall_ = state.latest_wall != 0 ? std::min(state.latest_wall, wall_now()) : wall_now();
  return skipped;
}

void Pipeline::tick_wall() {
  if (latest_seen_ == 0 && !inventory_) return;
  tracker_.advance(latest_seen_ == 0 ? wall_now() : latest_seen_ + (wall_now() - latest_seen_wall_), events_);
  deliver();
}

void Pipeline::certificate_read(const InventoryCertificate& certificate) {
  const Nanos now = replay_ ? 0 : wall_now();
  tracker_.certificate_read(certificate, now, events_);
  if (!replay_) {
    inventory_ = true;
    tracker_.advance(now, events_);
  }
  deliver();
}

void Pipeline::certificate_gone(const std::string& source) {
  tracker_.certificate_gone(source, replay_ ? 0 : wall_now(), events_);
  deliver();
}

void Pipeline::failure_predicted(const PredictedFailure& failure) {
  tracker_.failure_predicted(failure, replay_ ? 0 : wall_now(), events_);
  deliver();
}

void Pipeline::prediction_ended(const std::string& key, const std::string& why, const std::string& summary) {
  tracker_.prediction_ended(key, replay_ ? 0 : wall_now(), why, summary, events_);
  deliver();
}

const RunSummary& Pipeline::finish() {
  while (!streams_.empty()) end_stream(streams_.begin()->first);
  // A replay has seen every line: what its last event time decides (a certificate that expired
  // within the window) is said before the summary.
  if (replay_) {
    tracker_.finish(events_);
    deliver();
  }
  summary_.incidents = tracker_.incidents();
  summary_.certificates = tracker_.certificates();
  for (IncidentSnapshot& i : summary_.incidents) add_incident_labels(i.labels);
  for (IncidentTracker::Certificate& c : summary_.certificates) add_incident_labels(c.labels);
  summary_.tracker = tracker_.stats();
  if (summary_.tracker.future_lines > 0)
    warn(fmt::format("{} lines were stamped more than --max-clock-skew ahead of the wall clock",
                     summary_.tracker.future_lines));
  if (summary_.tracker.skewed_lines > 0)
    warn(fmt::format("{} lines were stamped more than --max-clock-skew from their envelope's time",
                     summary_.tracker.skewed_lines));
  if (summary_.tracker.refused_values > 0)
    warn(fmt::format("{} durations or instants out of range were left out", summary_.tracker.refused_values));
  if (summary_.tracker.evicted > 0)
    warn(fmt::format("{} incidents were dropped to stay within --max-incidents {}", summary_.tracker.evicted,
                     options_.tracker.max_incidents));
  for (EventSink* s : sinks_) s->summary(summary_);
  return summary_;
}

}  // namespace klaxon
