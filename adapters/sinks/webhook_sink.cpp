#include "adapters/sinks/webhook_sink.hpp"

#include <cctype>

#include <fmt/format.h>

#include "adapters/sinks/incident_json.hpp"
#include "engine/json_text.hpp"

namespace klaxon::sinks {
namespace {

// Slack's mrkdwn takes `&`, `<` and `>` as its own (`<url|text>`, `<!channel>`): text from
// rules and log lines has them escaped, so a runbook's `<days>` shows as written and a log line
// cannot mention @channel.
std::string slack_escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out += c;
  }
  return out;
}

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

// One Slack message: what happened, where, and what to do.
std::string slack_text(const IncidentEvent& e) {
  const IncidentSnapshot& i = e.incident;
  std::string severity(to_string(i.severity));
  for (char& c : severity) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const char* what = e.kind == IncidentEvent::Kind::opened      ? "opened"
                     : e.kind == IncidentEvent::Kind::escalated ? "escalated"
                     : e.kind == IncidentEvent::Kind::resolved  ? "resolved"
                                                                : "updated";
  std::string text = fmt::format("{} *{}* {}: {}", e.kind == IncidentEvent::Kind::resolved ? "✅" : "🚨",
                                 e.kind == IncidentEvent::Kind::resolved ? "RESOLVED" : severity, what,
                                 slack_escaped(i.title));
  if (!i.summary.empty() && i.summary != i.title) text += "\n" + slack_escaped(i.summary);
  if (!i.labels.empty()) {
    text += "\n";
    bool first = true;
    for (const auto& [k, v] : i.labels) {
      text += fmt::format("{}`{}={}`", first ? "" : " ", slack_escaped(k), slack_escaped(v));
      first = false;
    }
  }
  if (i.expires_at != 0) text += "\nexpires at " + format_rfc3339(i.expires_at);
  text += fmt::format("\nseen {} since {}", plural(i.count, "time", "times"), format_rfc3339(i.first_seen));
  if (i.symptoms > 0)
    text += fmt::format(", {} in {}", plural(i.symptoms, "symptom incident", "symptom incidents"),
                        plural(i.symptom_pods.size(), "pod", "pods"));
  if (!i.runbook.empty() && e.kind != IncidentEvent::Kind::resolved) text += "\nfix: " + slack_escaped(i.runbook);
  return text;
}

}  // namespace

std::optional<std::string> WebhookSink::body(const IncidentEvent& e, WebhookFormat format, const std::string& link) {
  // The incident on the status page (its row's anchor).
  const std::string url = link.empty() ? std::string() : link + "/incident/" + e.incident.id;
  std::string b;
  if (format == WebhookFormat::json) {
    append_incident_event_json(b, e);
    if (!url.empty() && !b.empty() && b.back() == '}') {
      b.pop_back();
      b += R"(,"url":)";
      append_json_string(b, url);
      b += '}';
    }
    return b;
  }
  if (e.kind == IncidentEvent::Kind::updated || !e.incident.caused_by.empty()) return std::nullopt;
  std::string text = slack_text(e);
  if (!url.empty()) text += "\n<" + url + "|status page>";
  b += R"({"text":)";
  append_json_string(b, text);
  b += '}';
  return b;
}

void WebhookSink::incident(const IncidentEvent& e) {
  if (auto b = body(e, format_, link_)) queue_.post(std::move(*b));
}

}  // namespace klaxon::sinks
