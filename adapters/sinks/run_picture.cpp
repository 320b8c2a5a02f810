// adapters/sinks/run_picture.cpp — recording a run's history, taking its picture, writing it as JSON.
#include "adapters/sinks/run_picture.hpp"

#include <algorithm>
#include <iterator>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "adapters/sinks/incident_json.hpp"
#include "engine/certificate_terms.hpp"
#include "engine/json_text.hpp"

namespace klaxon::sinks {
namespace {

constexpr std::size_t kMaxMarks = 64;
constexpr std::size_t kMaxColumns = 96;  // what a page or a printed report shows across

std::string_view pod_of(const Record& r, std::string_view source) {
  for (std::string_view name : {"pod", "instance"}) {
    bool found = false;
    const std::string_view v = r.get(name, &found);
    if (found && !v.empty()) return v;
  }
  return source;
}

// `warning: 'expires_in < {expiry_warning}'` in a rule states its warning threshold; else `fallback`.
Nanos warning_threshold_of(const RuleSpec* r, Nanos critical, Nanos fallback) {
  const std::optional<Nanos> stated = r ? cert::expiry_threshold(*r, Severity::warning) : std::nullopt;
  return std::max(critical, stated.value_or(fallback));
}

bool lane_before(const IncidentSnapshot& a, const IncidentSnapshot& b) {
  if ((a.symptoms > 0) != (b.symptoms > 0)) return a.symptoms > 0;
  if (a.severity != b.severity) return a.severity > b.severity;
  if (a.open != b.open) return a.open;
  return a.first_seen != b.first_seen ? a.first_seen < b.first_seen : a.id < b.id;
}

// The JSON writers' one rule beyond JSON's own: nothing that can end a <script> element or
// start markup. These characters occur only inside strings, where \u escapes mean the same.
std::string html_safe(std::string json) {
  std::string out;
  out.reserve(json.size() + json.size() / 16);
  for (std::size_t k = 0; k < json.size(); ++k) {
    const char c = json[k];
    if (c == '<') out += "\\u003c";
    else if (c == '>') out += "\\u003e";
    else if (c == '&') out += "\\u0026";
    else if (c == '\xE2' && k + 2 < json.size() && json[k + 1] == '\x80' && (json[k + 2] == '\xA8' || json[k + 2] == '\xA9')) {
      out += json[k + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      k += 2;
    } else {
      out += c;
    }
  }
  return out;
}

void instant(std::string& b, Nanos t) {
  if (t == 0) b += "null";
  else append_json_string(b, format_rfc3339_nano(t));
}

double seconds(Nanos t) { return static_cast<double>(t) / double(kNanosPerSecond); }

void incident_json(std::string& b, const RunPicture& p, const IncidentSnapshot& i) {
  b += '{';
  append_incident_json(b, i);
  if (const std::string url = p.runbook_url(i); !url.empty()) {
    b += R"(,"runbook_url":)";
    append_json_string(b, url);
  }
  b += R"(,"symptom_ids":[)";
  bool first = true;
  for (const IncidentSnapshot* s : p.symptoms_of(i.id)) {
    if (!first) b += ',';
    first = false;
    append_json_string(b, s->id);
  }
  b += R"(],"resolved_because":)";
  if (i.open) b += "null";
  else append_json_string(b, i.resolved_because);
  b += R"(,"history":[)";
  if (auto h = p.history.find(i.id); h != p.history.end())
    for (std::size_t k = 0; k < h->second.size(); ++k) {
      const IncidentMark& m = h->second[k];
      fmt::format_to(std::back_inserter(b), R"({}{{"event":"{}","time":)", k ? "," : "", to_string(m.kind));
      instant(b, m.time);
      fmt::format_to(std::back_inserter(b), R"(,"severity":"{}","count":{},"pods":{}}})", to_string(m.severity),
                     m.count, m.pods);
    }
  b += "]}";
}

void certificate_json(std::string& b, const CertificateView& v, Nanos clock) {
  const auto& c = v.certificate;
  b += R"({"identity":)";
  append_json_string(b, c.identity);
  b += R"(,"rule":)";
  append_json_string(b, c.rule);
  b += R"(,"labels":)";
  append_json_object(b, c.labels);
  b += R"(,"not_after":)";
  instant(b, c.expires_at);
  b += R"(,"warning_at":)";
  instant(b, c.expires_at - v.warning_threshold);
  b += R"(,"critical_at":)";
  instant(b, c.expires_at - v.critical_threshold);
  fmt::format_to(std::back_inserter(b), R"(,"warning_threshold_seconds":{},"critical_threshold_seconds":{})",
                 v.warning_threshold / kNanosPerSecond, v.critical_threshold / kNanosPerSecond);
  fmt::format_to(std::back_inserter(b), R"(,"expires_in_seconds":{},"state":"{}","stated_at":)",
                 (c.expires_at - clock) / kNanosPerSecond, to_string(v.state));
  instant(b, c.stated_at);
  b += R"(,"stated_by":)";
  append_json_string(b, c.source);
  b += '}';
}

void clock_json(std::string& b, const RunPicture& p) {
  b += R"("clock":)";
  instant(b, p.clock);
  fmt::format_to(std::back_inserter(b), R"(,"mode":"{}","ready":{},"not_ready":)", p.live ? "live" : "replay",
                 p.not_ready.empty() ? "true" : "false");
  if (p.not_ready.empty()) b += "null";
  else append_json_string(b, p.not_ready);
}

void incidents_array(std::string& b, const RunPicture& p) {
  b += R"("incidents":[)";
  for (std::size_t k = 0; k < p.incidents.size(); ++k) {
    if (k) b += ',';
    incident_json(b, p, p.incidents[k]);
  }
  b += ']';
}

void certificates_array(std::string& b, const RunPicture& p) {
  b += R"("certificates":[)";
  for (std::size_t k = 0; k < p.certificates.size(); ++k) {
    if (k) b += ',';
    certificate_json(b, p.certificates[k], p.clock);
  }
  b += ']';
}

}  // namespace

std::string_view to_string(CertificateView::State s) noexcept {
  switch (s) {
    case CertificateView::State::valid: return "valid";
    case CertificateView::State::warning: return "warning";
    case CertificateView::State::critical: return "critical";
    case CertificateView::State::expired: return "expired";
  }
  return "valid";
}

const IncidentSnapshot* RunPicture::find(std::string_view id) const {
  for (const IncidentSnapshot& i : incidents)
    if (i.id == id) return &i;
  return nullptr;
}

std::vector<const IncidentSnapshot*> RunPicture::symptoms_of(std::string_view root_id) const {
  std::vector<const IncidentSnapshot*> out;
  for (const IncidentSnapshot& i : incidents)
    if (!i.caused_by.empty() && i.caused_by == root_id) out.push_back(&i);
  return out;
}

std::string RunPicture::runbook_url(const IncidentSnapshot& i) const {
  auto it = runbook_urls.find(i.rule);
  return it == runbook_urls.end() ? std::string() : it->second;
}

// ---- recording --------------------------------------------------------------------------------

void RunRecorder::match(const ClassifiedLine& line) {
  ++classified_;
  const Nanos t = line.record.time;
  last_match_[std::string(line.source)] = std::max(last_match_[std::string(line.source)], t);
  if (t <= 0) return;
  first_ = first_ == 0 ? t : std::min(first_, t);
  last_ = std::max(last_, t);
  std::pair<std::string, std::string> key{std::string(line.record.get("namespace")),
                                          std::string(pod_of(line.record, line.source))};
  auto row = activity_.find(key);
  if (row == activity_.end()) {
    if (activity_.size() >= kMaxRows) key = {"", "(other pods)"};
    row = activity_.try_emplace(std::move(key)).first;
  }
  ++row->second[t / bucket_];
  if ((last_ - first_) / bucket_ >= Nanos(kMaxBuckets)) widen_buckets();
}

void RunRecorder::widen_buckets() {
  while ((last_ - first_) / bucket_ >= Nanos(kMaxBuckets)) {
    bucket_ *= 2;
    for (auto& [key, counts] : activity_) {
      std::map<Nanos, std::uint64_t> wider;
      for (const auto& [index, n] : counts) wider[index / 2] += n;
      counts = std::move(wider);
    }
  }
}

void RunRecorder::incident(const IncidentEvent& e) {
  const IncidentSnapshot& i = e.incident;
  auto it = history_.find(i.id);
  if (it == history_.end()) {
    if (history_.size() >= kMaxIncidents) return;
    it = history_.try_emplace(i.id).first;
  }
  std::vector<IncidentMark>& marks = it->second;
  const IncidentMark m{e.kind, e.time, i.severity, i.count, i.pods.size() + i.symptom_pods.size()};
  if (e.kind == IncidentEvent::Kind::updated && !marks.empty()) {
    // An update is worth a mark when the count doubled or more pods are involved.
    const IncidentMark& last = marks.back();
    if (m.count < 2 * std::max<std::uint64_t>(last.count, 1) && m.pods <= last.pods) return;
  }
  if (marks.size() >= kMaxMarks && e.kind == IncidentEvent::Kind::updated) {
    marks.back() = m;
    return;
  }
  marks.push_back(m);
}

void RunRecorder::note_arrivals(const std::map<std::string, StreamStats>& by_source, Nanos now) {
  for (const auto& [source, s] : by_source) {
    auto [it, fresh] = arrivals_.try_emplace(source, 0, 0);
    if (s.lines > it->second.first) it->second = {s.lines, now};
    (void)fresh;
  }
}

RunPicture RunRecorder::take_picture(const Pipeline& pipeline, Nanos wall_now, bool live, std::string not_ready) const {
  RunPicture p;
  p.taken_at = wall_now;
  p.live = live;
  p.not_ready = std::move(not_ready);
  const IncidentTracker& tracker = pipeline.tracker();
  p.clock = live || tracker.latest_event_time() == 0 ? wall_now : tracker.latest_event_time();
  p.classified = classified_;

  std::map<std::string, const RuleSpec*> rules;
  for (const RuleSpec& r : pipeline.matcher().rules()) rules[r.id] = &r;

  // Roots and incidents of their own first, then symptoms; both in lane order.
  p.incidents = tracker.incidents();
  std::stable_sort(p.incidents.begin(), p.incidents.end(), [](const IncidentSnapshot& a, const IncidentSnapshot& b) {
    if (a.caused_by.empty() != b.caused_by.empty()) return a.caused_by.empty();
    return lane_before(a, b);
  });
  p.first_time = first_;
  p.first_line = first_;
  p.last_line = last_;
  for (const IncidentSnapshot& i : p.incidents) {
    if (i.first_seen > 0) p.first_time = p.first_time == 0 ? i.first_seen : std::min(p.first_time, i.first_seen);
    if (auto h = history_.find(i.id); h != history_.end()) p.history.emplace(i.id, h->second);
    if (auto r = rules.find(i.rule); r != rules.end())
      for (const auto& [name, value] : r->second->annotations)
        if (name == "runbook_url") p.runbook_urls[i.rule] = value;
  }

  // What lines stated and what the inventory read, one table, soonest first.
  std::vector<IncidentTracker::Certificate> known = tracker.certificates();
  for (IncidentTracker::Certificate& c : tracker.inventory_certificates()) known.push_back(std::move(c));
  std::stable_sort(known.begin(), known.end(), [](const auto& a, const auto& b) { return a.expires_at < b.expires_at; });
  for (const IncidentTracker::Certificate& c : known) {
    CertificateView v;
    v.certificate = c;
    auto r = rules.find(c.rule);
    v.critical_threshold = c.threshold;
    v.warning_threshold = warning_threshold_of(r == rules.end() ? nullptr : r->second, c.threshold, warning_threshold_);
    if (p.clock >= c.expires_at) v.state = CertificateView::State::expired;
    else if (p.clock >= c.expires_at - v.critical_threshold) v.state = CertificateView::State::critical;
    else if (p.clock >= c.expires_at - v.warning_threshold) v.state = CertificateView::State::warning;
    p.certificates.push_back(std::move(v));
  }

  for (const auto& [name, s] : pipeline.stats_by_source()) {
    SourceView v{name, s.lines, s.bytes, 0, 0};
    p.lines += s.lines;
    if (auto a = arrivals_.find(name); a != arrivals_.end()) v.last_line_arrived = a->second.second;
    if (auto m = last_match_.find(name); m != last_match_.end()) v.last_match_time = m->second;
    p.sources.push_back(std::move(v));
  }
  // Live sources count under one name; their classified lines come from streams of their own.
  if (p.sources.size() == 1)
    for (const auto& [source, t] : last_match_) p.sources.front().last_match_time = std::max(p.sources.front().last_match_time, t);

  // Activity: at most kMaxColumns columns of a whole number of recorded buckets.
  if (first_ != 0) {
    const Nanos first_index = first_ / bucket_, last_index = last_ / bucket_;
    const Nanos per_column = (last_index - first_index) / Nanos(kMaxColumns) + 1;
    p.activity.bucket = bucket_ * per_column;
    p.activity.start = first_index * bucket_;
    const std::size_t columns = std::size_t((last_index - first_index) / per_column + 1);
    for (const auto& [key, counts] : activity_) {
      ActivityMap::Row row{key.first, key.second, std::vector<std::uint64_t>(columns, 0), 0};
      for (const auto& [index, n] : counts) {
        row.counts[std::size_t((index - first_index) / per_column)] += n;
        row.total += n;
      }
      p.activity.rows.push_back(std::move(row));
    }
    std::stable_sort(p.activity.rows.begin(), p.activity.rows.end(),
                     [](const auto& a, const auto& b) { return a.total > b.total; });
  }
  return p;
}

// ---- JSON ---------------------------------------------------------------------------------------

std::string incidents_json(const RunPicture& p) {
  std::string b = "{";
  clock_json(b, p);
  b += ',';
  incidents_array(b, p);
  b += "}\n";
  return html_safe(std::move(b));
}

std::string certificates_json(const RunPicture& p) {
  std::string b = "{";
  clock_json(b, p);
  b += ',';
  certificates_array(b, p);
  b += "}\n";
  return html_safe(std::move(b));
}

std::string picture_json(const RunPicture& p) {
  std::string b = R"({"klaxon_picture":1,"taken_at":)";
  instant(b, p.taken_at);
  b += ',';
  clock_json(b, p);
  b += R"(,"first_time":)";
  instant(b, p.first_time);
  b += R"(,"first_line":)";
  instant(b, p.first_line);
  b += R"(,"last_line":)";
  instant(b, p.last_line);
  fmt::format_to(std::back_inserter(b), R"(,"lines":{},"classified":{},)", p.lines, p.classified);
  incidents_array(b, p);
  b += ',';
  certificates_array(b, p);
  b += R"(,"sources":[)";
  for (std::size_t k = 0; k < p.sources.size(); ++k) {
    const SourceView& s = p.sources[k];
    b += k ? ",{" : "{";
    b += R"("name":)";
    append_json_string(b, s.name);
    fmt::format_to(std::back_inserter(b), R"(,"lines":{},"bytes":{},"last_line_arrived":)", s.lines, s.bytes);
    instant(b, s.last_line_arrived);
    b += R"(,"last_line_seconds_ago":)";
    if (s.last_line_arrived == 0) b += "null";
    else b += fmt::format("{:.0f}", seconds(p.taken_at - s.last_line_arrived));
    b += R"(,"last_classified_time":)";
    instant(b, s.last_match_time);
    b += '}';
  }
  b += R"(],"activity":{"start":)";
  instant(b, p.activity.start);
  fmt::format_to(std::back_inserter(b), R"(,"bucket_seconds":{},"rows":[)", p.activity.bucket / kNanosPerSecond);
  for (std::size_t k = 0; k < p.activity.rows.size(); ++k) {
    const ActivityMap::Row& r = p.activity.rows[k];
    b += k ? ",{" : "{";
    b += R"("namespace":)";
    append_json_string(b, r.namespace_name);
    b += R"(,"pod":)";
    append_json_string(b, r.pod);
    fmt::format_to(std::back_inserter(b), R"(,"total":{},"counts":[{}]}})", r.total, fmt::join(r.counts, ","));
  }
  b += "]}}\n";
  return html_safe(std::move(b));
}

}  // namespace klaxon::sinks
