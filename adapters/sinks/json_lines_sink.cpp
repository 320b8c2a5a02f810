#include "adapters/sinks/json_lines_sink.hpp"

#include <fmt/format.h>

#include "adapters/sinks/incident_json.hpp"
#include "engine/json_text.hpp"

namespace klaxon::sinks {
std::vector<Field> match_labels(const ClassifiedLine& line) {
  std::vector<Field> labels;
  match_labels(line, labels);
  return labels;
}

void match_labels(const ClassifiedLine& line, std::vector<Field>& labels) {
  labels.assign(line.record.labels.begin(), line.record.labels.end());
  for (const std::string& name : line.rule.group_by) {
    bool present = false;
    for (const Field& f : labels) present |= f.name == name;
    if (present) continue;
    bool found = false;
    std::string_view value = line.record.get(name, &found);
    if (found) labels.push_back({name, value});
  }
}

void JsonLinesSink::match(const ClassifiedLine& line) {
  if (!with_matches_) return;
  std::string& b = buf_;
  b += R"({"type":"match","source":)";
  append_json_string(b, line.source);
  b += R"(,"line_no":)";
  append_integer(b, std::int64_t(line.line_no));
  b += R"(,"time":)";
  append_quoted_instant(b, line.record.time, true);
  b += R"(,"rule":)";
  append_json_string(b, line.rule.id);
  b += R"(,"class":)";
  append_json_string(b, line.rule.klass);
  b += R"(,"severity":")";
  b += to_string(line.primary.severity);
  b += R"(","labels":{)";
  bool first = true;
  match_labels(line, labels_);
  for (const Field& f : labels_) {
    if (!first) b += ',';
    first = false;
    append_json_string(b, f.name);
    b += ':';
    append_json_string(b, f.value);
  }
  b += R"(},"fields":{)";
  first = true;
  for (const Value& v : line.primary.values) {
    if (!first) b += ',';
    first = false;
    append_json_string(b, v.name);
    b += ':';
    switch (v.kind) {
      case Value::Kind::seconds: append_integer(b, v.integer); break;
      case Value::Kind::number: fmt::format_to(std::back_inserter(b), "{}", v.number); break;
      case Value::Kind::instant: append_quoted_instant(b, v.integer, false); break;
      case Value::Kind::text: append_json_string(b, v.text); break;
    }
  }
  b += R"(},"line":)";
  append_json_string(b, line.record.line);
  b += "}\n";
  if (b.size() > (1 << 16)) flush();
}

void JsonLinesSink::incident(const IncidentEvent& e) {
  append_incident_event_json(buf_, e);
  buf_ += '\n';
  if (buf_.size() > (1 << 16)) flush();
}

void JsonLinesSink::summary(const RunSummary& s) {
  std::string& b = buf_;
  fmt::format_to(std::back_inserter(b), R"({{"type":"summary","sources":{},"source_errors":{},"lines":{},"bytes":{},)",
                 s.sources, s.source_errors, s.stats.lines, s.stats.bytes);
  if (s.cut_short_by != 0) fmt::format_to(std::back_inserter(b), R"("cut_short_by_signal":{},)", s.cut_short_by);
  fmt::format_to(std::back_inserter(b), R"("candidate_lines":{},"matched_lines":{},"truncated_lines":{},"malformed_json":{},"invalid_utf8":{},)",
                 s.stats.candidates, s.stats.matched, s.stats.truncated, s.stats.malformed_json, s.stats.invalid_utf8);
  b += R"("matches":)";
  append_json_object(b, s.matches_by_class);
  b += R"(,"matches_by_severity":)";
  append_json_object(b, s.matches_by_severity);
  b += R"(,"source_events":)";
  append_json_object(b, s.source_counters);
  std::size_t open = 0;
  std::map<std::string, std::size_t> by_severity;
  for (const IncidentSnapshot& i : s.incidents) {
    open += i.open;
    ++by_severity[std::string(to_string(i.severity))];
  }
  fmt::format_to(std::back_inserter(b), R"(,"incidents":{{"total":{},"open":{},"opened":{},"resolved":{},"escalated":{},"evicted":{},"inhibited":{},"by_severity":)",
                 s.incidents.size(), open, s.tracker.opened, s.tracker.resolved, s.tracker.escalated, s.tracker.evicted,
                 s.tracker.inhibited);
  append_json_object(b, by_severity);
  b += R"(,"list":[)";
  bool first = true;
  for (const IncidentSnapshot& i : s.incidents) {
    if (!first) b += ',';
    first = false;
    b += '{';
    append_incident_json(b, i);
    b += '}';
  }
  b += R"(]},"certificates":[)";
  first = true;
  for (const auto& c : s.certificates) {
    if (!first) b += ',';
    first = false;
    b += R"({"rule":)";
    append_json_string(b, c.rule);
    b += R"(,"labels":)";
    append_json_object(b, c.labels);
    b += R"(,"expires_at":)";
    append_instant_or_null(b, c.expires_at);
    b += R"(,"stated_at":)";
    append_instant_or_null(b, c.stated_at);
    b += R"(,"source":)";
    append_json_string(b, c.source);
    b += '}';
  }
  b += "]}\n";
  flush();
}

void JsonLinesSink::flush() {
  if (!buf_.empty()) std::fwrite(buf_.data(), 1, buf_.size(), out_);
  buf_.clear();
  std::fflush(out_);
}

}  // namespace klaxon::sinks
