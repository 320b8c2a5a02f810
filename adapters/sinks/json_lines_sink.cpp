#include "adapters/sinks/json_lines_sink.hpp"

#include <fmt/format.h>

#include "engine/json_text.hpp"

namespace klaxon::sinks {

std::vector<Field> match_labels(const ClassifiedLine& line) {
  std::vector<Field> labels = line.record.labels;
  for (const std::string& name : line.rule.group_by) {
    bool present = false;
    for (const Field& f : labels) present |= f.name == name;
    if (present) continue;
    bool found = false;
    std::string_view value = line.record.get(name, &found);
    if (found) labels.push_back({name, value});
  }
  return labels;
}

void JsonLinesSink::match(const ClassifiedLine& line) {
  if (!with_matches_) return;
  std::string& b = buf_;
  b += R"({"type":"match","source":)";
  append_json_string(b, line.source);
  fmt::format_to(std::back_inserter(b), R"(,"line_no":{},"time":")", line.line_no);
  b += format_rfc3339_nano(line.record.time);
  b += R"(","rule":)";
  append_json_string(b, line.rule.id);
  b += R"(,"class":)";
  append_json_string(b, line.rule.klass);
  fmt::format_to(std::back_inserter(b), R"(,"severity":"{}","labels":{{)", to_string(line.primary.severity));
  bool first = true;
  for (const Field& f : match_labels(line)) {
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
      case Value::Kind::seconds: fmt::format_to(std::back_inserter(b), "{}", v.integer); break;
      case Value::Kind::number: fmt::format_to(std::back_inserter(b), "{}", v.number); break;
      case Value::Kind::instant: append_json_string(b, format_rfc3339(v.integer)); break;
      case Value::Kind::text: append_json_string(b, v.text); break;
    }
  }
  b += R"(},"line":)";
  append_json_string(b, line.record.line);
  b += "}\n";
  if (b.size() > (1 << 16)) flush();
}

void JsonLinesSink::summary(const RunSummary& s) {
  std::string& b = buf_;
  fmt::format_to(std::back_inserter(b), R"({{"type":"summary","sources":{},"source_errors":{},"lines":{},"bytes":{},)",
                 s.sources, s.source_errors, s.stats.lines, s.stats.bytes);
  fmt::format_to(std::back_inserter(b), R"("matched_lines":{},"truncated_lines":{},"malformed_json":{},"invalid_utf8":{},)",
                 s.stats.matched, s.stats.truncated, s.stats.malformed_json, s.stats.invalid_utf8);
  b += R"("matches":{)";
  bool first = true;
  for (const auto& [klass, n] : s.matches_by_class) {
    if (!first) b += ',';
    first = false;
    append_json_string(b, klass);
    fmt::format_to(std::back_inserter(b), ":{}", n);
  }
  b += R"(},"matches_by_severity":{)";
  first = true;
  for (const auto& [sev, n] : s.matches_by_severity) {
    if (!first) b += ',';
    first = false;
    append_json_string(b, sev);
    fmt::format_to(std::back_inserter(b), ":{}", n);
  }
  b += "}}\n";
  flush();
}

void JsonLinesSink::flush() {
  if (!buf_.empty()) std::fwrite(buf_.data(), 1, buf_.size(), out_);
  buf_.clear();
  std::fflush(out_);
}

}  // namespace klaxon::sinks
