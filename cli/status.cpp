// cli/status.cpp — the pipeline's metric families, the status page, and when to publish them.
#include "cli/status.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "adapters/sources/loki_push_source.hpp"
#include "engine/civil_time.hpp"

namespace klaxon::cli {
namespace {

using sinks::MetricFamily;
using sinks::MetricLabels;

constexpr auto kPublishEvery = std::chrono::seconds(1);
constexpr auto kPublishAfterEventWithin = std::chrono::milliseconds(100);

double seconds(Nanos t) { return static_cast<double>(t / kNanosPerSecond); }

MetricFamily counter(std::string name, std::string help) {
  return {std::move(name), std::move(help), MetricFamily::Type::counter, {}};
}
MetricFamily gauge(std::string name, std::string help) {
  return {std::move(name), std::move(help), MetricFamily::Type::gauge, {}};
}

// Stream or incident labels, then ours; a stream label never hides one of ours.
MetricLabels with_labels(MetricLabels ours, const std::vector<std::pair<std::string, std::string>>& theirs) {
  for (const auto& [name, value] : theirs) {
    const std::string n = sinks::metric_label_name(name);
    bool taken = false;
    for (const auto& o : ours) taken = taken || o.first == n;
    if (!taken) ours.emplace_back(n, value);
  }
  return ours;
}

std::string html_escaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

StatusService::StatusService(const RunOptions& options, Pipeline& pipeline, bool live)
    : pipeline_(pipeline), live_(live) {
  registry_.set_constant_labels(options.labels);
  add_pipeline_metrics();
  pipeline_.add_sink(*this);
  board_ = options.status_board;
  if (!options.listen.empty()) {
    if (!board_) board_ = std::make_shared<sinks::StatusBoard>();
    server_ = std::make_unique<sinks::StatusServer>(board_, sources::parse_listen_address(options.listen, "--listen"));
    std::fprintf(stderr, "klaxon: status on http://%s/ (/metrics /healthz /readyz)\n", server_->address().c_str());
  }
}

StatusService::~StatusService() = default;

void StatusService::incident(const IncidentEvent&) {
  dirty_ = true;
  if (wake_) wake_();
}

std::string StatusService::address() const { return server_ ? server_->address() : std::string(); }

void StatusService::tick() {
  if (!board_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_publish_ >= kPublishEvery || (dirty_ && now - last_publish_ >= kPublishAfterEventWithin)) publish();
}

void StatusService::publish() {
  if (!board_) return;
  dirty_ = false;
  last_publish_ = std::chrono::steady_clock::now();
  board_->publish(sinks::render_prometheus(registry_.collect()), render_page(), not_ready());
}

std::string StatusService::not_ready() const {
  const auto& connected = pipeline_.summary().connected;
  if (live_ && connected.empty()) return "the source has not connected yet";
  for (const auto& [source, up] : connected)
    if (!up) return source + " is not connected";
  return {};
}

void StatusService::add_pipeline_metrics() {
  registry_.add([this](std::vector<MetricFamily>& out) {
    const RunSummary& summary = pipeline_.summary();

    auto lines = counter("klaxon_lines_read_total", "Log lines read, per source.");
    auto bytes = counter("klaxon_bytes_read_total", "Bytes of log lines read, per source.");
    auto dropped = counter("klaxon_lines_dropped_total",
                           "Lines or parts of lines not matched as sent, by reason: too_long (the tail past "
                           "--max-line-bytes was cut), late (older than the incident clock), or a source's own.");
    StreamStats all;
    for (const auto& [source, s] : pipeline_.stats_by_source()) {
      lines.add({{"source", source}}, double(s.lines));
      bytes.add({{"source", source}}, double(s.bytes));
      all += s;
    }
    dropped.add({{"reason", "too_long"}}, double(all.truncated));
    dropped.add({{"reason", "late"}}, double(pipeline_.tracker().stats().late_lines));

    auto events = counter("klaxon_source_events_total",
                          "What sources reported: restarts, reconnects, push requests by format, refusals.");
    for (const auto& [name, n] : summary.source_counters) {
      if (name.find("dropped") != std::string::npos) dropped.add({{"reason", name}}, double(n));
      else events.add({{"event", name}}, double(n));
    }
    auto connected = gauge("klaxon_source_connected", "1 when the live source is connected, else 0.");
    for (const auto& [source, up] : summary.connected) connected.add({{"source", source}}, up ? 1 : 0);
    auto errors = counter("klaxon_source_errors_total", "Inputs that could not be read.");
    errors.add({}, double(summary.source_errors));

    auto matches = counter("klaxon_matches_total", "Classified lines, per rule and class.");
    for (const auto& [rule_class, n] : summary.matches_by_rule)
      matches.add({{"rule", rule_class.first}, {"class", rule_class.second}}, double(n));

    auto open = gauge("klaxon_incidents_open", "Incidents open now, by class and severity.");
    auto expiry = gauge("klaxon_certificate_expiry_timestamp_seconds",
                        "When a certificate is predicted to expire (unix seconds): stated by a line "
                        "(cert_validity) or by an open incident. Alert on it minus time().");
    std::map<std::pair<std::string, std::string>, int> open_by;
    for (const IncidentSnapshot& i : pipeline_.tracker().incidents()) {
      if (!i.open) continue;
      ++open_by[{i.klass, std::string(to_string(i.severity))}];
      if (i.expires_at != 0)
        expiry.add(with_labels({{"rule", i.rule}, {"incident", i.id}}, i.labels), seconds(i.expires_at));
    }
    for (const auto& [key, n] : open_by) open.add({{"class", key.first}, {"severity", key.second}}, n);
    for (const IncidentTracker::Certificate& c : pipeline_.tracker().certificates())
      expiry.add(with_labels({{"rule", c.rule}, {"certificate", c.identity}}, c.labels), seconds(c.expires_at));

    const TrackerStats& t = pipeline_.tracker().stats();
    auto lifecycle = counter("klaxon_incident_events_total", "Incident lifecycle events.");
    lifecycle.add({{"event", "opened"}}, double(t.opened));
    lifecycle.add({{"event", "escalated"}}, double(t.escalated));
    lifecycle.add({{"event", "resolved"}}, double(t.resolved));
    lifecycle.add({{"event", "evicted"}}, double(t.evicted));

    auto start = gauge("klaxon_start_time_seconds", "When this klaxon started (unix seconds).");
    start.add({}, double(std::chrono::duration_cast<std::chrono::seconds>(started_.time_since_epoch()).count()));

    for (auto* f : {&lines, &bytes, &dropped, &events, &connected, &errors, &matches, &open, &expiry, &lifecycle, &start})
      out.push_back(std::move(*f));
  });
}

std::string StatusService::render_page() const {
  std::string rows;
  std::size_t open = 0;
  for (const IncidentSnapshot& i : pipeline_.tracker().incidents()) {
    if (!i.open) continue;
    ++open;
    std::string labels;
    for (const auto& [k, v] : i.labels) labels += (labels.empty() ? "" : ", ") + k + "=" + v;
    rows += fmt::format(
        "<tr class=\"{0}\"><td>{0}</td><td>{1}</td><td>{2}<br><small>{3}</small></td><td>{4}</td><td>{5}</td>"
        "<td>{6}</td><td>{7}</td><td>{8}</td></tr>\n",
        to_string(i.severity), html_escaped(i.klass), html_escaped(i.title), html_escaped(i.summary),
        html_escaped(labels), i.count, format_rfc3339(i.first_seen), format_rfc3339(i.last_seen),
        i.expires_at ? format_rfc3339(i.expires_at) : "");
  }
  const std::string why = not_ready();
  return fmt::format(
      "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"10\">"
      "<title>klaxon: {0} open</title><style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;text-align:left}}"
      "tr.critical td:first-child{{color:#b00;font-weight:bold}}tr.warning td:first-child{{color:#a60}}</style>"
      "</head><body><h1>klaxon: {0} open incident{1}</h1><p>{2} &middot; <a href=\"/metrics\">/metrics</a></p>"
      "<table><tr><th>severity</th><th>class</th><th>what</th><th>where</th><th>lines</th><th>first seen</th>"
      "<th>last seen</th><th>expires</th></tr>\n{3}</table></body></html>\n",
      open, open == 1 ? "" : "s", why.empty() ? "ready" : "not ready: " + html_escaped(why), rows);
}

}  // namespace klaxon::cli
