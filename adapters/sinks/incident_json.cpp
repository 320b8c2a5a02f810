// adapters/sinks/incident_json.cpp — DESIGN.md's incident object, written once.
#include "adapters/sinks/incident_json.hpp"

#include <charconv>
#include <iterator>

#include <fmt/format.h>

#include "engine/civil_time.hpp"
#include "engine/json_text.hpp"

namespace klaxon::sinks {

// Integers and instants are written in place: fmt::format_to through a back_inserter and a
// std::string per instant cost more than the rest of a match's line.
void append_integer(std::string& b, std::int64_t n) {
  char digits[24];
  b.append(digits, std::size_t(std::to_chars(digits, digits + sizeof digits, n).ptr - digits));
}

void append_quoted_instant(std::string& b, Nanos t, bool nano) {
  b += '"';
  if (nano) append_rfc3339_nano(b, t);
  else append_rfc3339(b, t);
  b += '"';
}

void append_instant_or_null(std::string& b, Nanos t) {
  if (t == 0) b += "null";
  else append_quoted_instant(b, t, false);
}

void append_incident_json(std::string& b, const IncidentSnapshot& i) {
  b += R"("id":)";
  append_json_string(b, i.id);
  b += R"(,"rule":)";
  append_json_string(b, i.rule);
  b += R"(,"class":)";
  append_json_string(b, i.klass);
  b += R"(,"severity":")";
  b += to_string(i.severity);
  b += R"(","title":)";
  append_json_string(b, i.title);
  b += R"(,"labels":)";
  append_json_object(b, i.labels);
  b += R"(,"first_seen":)";
  append_quoted_instant(b, i.first_seen, true);
  b += R"(,"last_seen":)";
  append_quoted_instant(b, i.last_seen, true);
  b += R"(,"count":)";
  append_integer(b, std::int64_t(i.count));
  b += R"(,"expires_at":)";
  append_instant_or_null(b, i.expires_at);
  b += R"(,"caused_by":)";
  if (i.caused_by.empty()) b += "null";
  else append_json_string(b, i.caused_by);
  b += R"(,"summary":)";
  append_json_string(b, i.summary.empty() ? i.title : i.summary);
  b += R"(,"pods":[)";
  for (std::size_t k = 0; k < i.pods.size(); ++k) {
    if (k) b += ',';
    append_json_string(b, i.pods[k]);
  }
  b += R"(],"symptoms":)";
  append_integer(b, std::int64_t(i.symptoms));
  b += R"(,"symptom_pods":)";
  append_integer(b, std::int64_t(i.symptom_pods.size()));
  b += i.open ? R"(,"open":true)" : R"(,"open":false)";
  if (!i.runbook.empty()) {
    b += R"(,"runbook":)";
    append_json_string(b, i.runbook);
  }
  if (!i.inventory.source.empty()) {  // the certificate read where it is kept: what to renew
    b += R"(,"certificate":{"source":)";
    append_json_string(b, i.inventory.source);
    b += R"(,"subject":)";
    append_json_string(b, i.inventory.subject);
    b += R"(,"serial":)";
    append_json_string(b, i.inventory.serial);
    b += R"(,"not_after":)";
    append_json_string(b, i.inventory.not_after_text);
    b += '}';
  }
}

void append_incident_event_json(std::string& b, const IncidentEvent& e) {
  b += R"({"type":"incident","event":")";
  b += to_string(e.kind);
  b += R"(","time":)";
  append_quoted_instant(b, e.time, true);
  b += ',';
  append_incident_json(b, e.incident);
  b += '}';
}

}  // namespace klaxon::sinks
