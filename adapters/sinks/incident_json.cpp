// adapters/sinks/incident_json.cpp — DESIGN.md's incident object, written once.
#include "adapters/sinks/incident_json.hpp"

#include <iterator>

#include <fmt/format.h>

#include "engine/json_text.hpp"

namespace klaxon::sinks {

void append_instant_or_null(std::string& b, Nanos t) {
  if (t == 0) b += "null";
  else append_json_string(b, format_rfc3339(t));
}

void append_incident_json(std::string& b, const IncidentSnapshot& i) {
  b += R"("id":)";
  append_json_string(b, i.id);
  b += R"(,"rule":)";
  append_json_string(b, i.rule);
  b += R"(,"class":)";
  append_json_string(b, i.klass);
  fmt::format_to(std::back_inserter(b), R"(,"severity":"{}","title":)", to_string(i.severity));
  append_json_string(b, i.title);
  b += R"(,"labels":)";
  append_json_object(b, i.labels);
  b += R"(,"first_seen":)";
  append_json_string(b, format_rfc3339_nano(i.first_seen));
  b += R"(,"last_seen":)";
  append_json_string(b, format_rfc3339_nano(i.last_seen));
  fmt::format_to(std::back_inserter(b), R"(,"count":{},"expires_at":)", i.count);
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
  fmt::format_to(std::back_inserter(b), R"(],"symptoms":{},"symptom_pods":{},"open":{})", i.symptoms,
                 i.symptom_pods.size(), i.open ? "true" : "false");
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
  fmt::format_to(std::back_inserter(b), R"({{"type":"incident","event":"{}","time":")", to_string(e.kind));
  b += format_rfc3339_nano(e.time);
  b += "\",";
  append_incident_json(b, e.incident);
  b += '}';
}

}  // namespace klaxon::sinks
