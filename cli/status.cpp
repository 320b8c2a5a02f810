// cli/status.cpp — the pipeline's metric families, the status page, and when to publish them.
#include "cli/status.hpp"

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include <unistd.h>
#include <set>

#include <fmt/format.h>

#include "adapters/net/http_auth.hpp"
#include "adapters/net/tls_server.hpp"
#include "adapters/sinks/report_html.hpp"
#include "adapters/sources/loki_push_source.hpp"
#include "engine/civil_time.hpp"

namespace klaxon::cli {
namespace {

using sinks::MetricFamily;

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
Labels with_labels(Labels ours, const Labels& theirs) {
  for (const auto& [name, value] : theirs) {
    std::string n = sinks::metric_label_name(name);
    if (!has_label(ours, n)) ours.emplace_back(std::move(n), value);
  }
  return ours;
}

// The pages of one picture, rendered when asked for (on an HTTP thread). Their links start at
// --external-url when it is given (the page is reached behind an ingress, under a path).
class PicturePages final : public sinks::StatusPages {
 public:
  PicturePages(sinks::RunPicture picture, std::string base_url) : p_(std::move(picture)), base_(std::move(base_url)) {}
  std::optional<sinks::StatusAnswer> page(std::string_view path) const override {
    constexpr std::string_view kHtml = "text/html; charset=utf-8", kJson = "application/json";
    if (path == "/") return sinks::StatusAnswer{200, std::string(kHtml), linked(sinks::render_status_page(p_))};
    if (path == "/api/incidents") return sinks::StatusAnswer{200, std::string(kJson), sinks::incidents_json(p_)};
    if (path == "/api/certificates") return sinks::StatusAnswer{200, std::string(kJson), sinks::certificates_json(p_)};
    if (path.starts_with("/incident/")) {
      std::string html = sinks::render_incident_page(p_, path.substr(std::string_view("/incident/").size()));
      if (html.empty())
        return sinks::StatusAnswer{404, "text/plain; charset=utf-8",
                                   "klaxon: no such incident now (resolved long ago, or evicted); see /\n"};
      return sinks::StatusAnswer{200, std::string(kHtml), linked(std::move(html))};
    }
    return std::nullopt;
  }

 private:
  // The base was checked when parsed (cli/flags.cpp external_url_check: no quote, no space).
  std::string linked(std::string html) const {
    if (base_.empty()) return html;
    std::string out;
    out.reserve(html.size());
    constexpr std::string_view kLink = "href=\"/";
    std::size_t from = 0;
    for (std::size_t at = html.find(kLink); at != std::string::npos; at = html.find(kLink, from)) {
      out.append(html, from, at - from).append("href=\"").append(base_).append("/");
      from = at + kLink.size();
    }
    return out.append(html, from);
  }

  sinks::RunPicture p_;
  std::string base_;
};

// --report FILE must be writable before a long replay starts, not found out at its end.
void check_report_path(const std::string& path) {
  if (path.empty()) return;
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw std::runtime_error(fmt::format("--report {}: no directory {} (create it, or pick another FILE)", path, dir.string()));
  if (::access(dir.c_str(), W_OK) != 0)
    throw std::runtime_error(fmt::format("--report {}: cannot write in {} (pick another FILE)", path, dir.string()));
  if (std::filesystem::is_directory(path, ec))
    throw std::runtime_error(fmt::format("--report {}: is a directory; give a file name such as report.html", path));
}

// --listen's TLS and credentials from their flags; throws (exit 2) naming what is wrong.
sinks::ListenGuard listen_guard(const RunOptions::ListenGuardFiles& files) {
  sinks::ListenGuard guard;
  if (files.tls_cert_file.empty() != files.tls_key_file.empty())
    throw std::runtime_error("--listen: --tls-cert-file and --tls-key-file go together (the certificate and its key)");
  if (!files.client_ca_file.empty() && files.tls_cert_file.empty())
    throw std::runtime_error("--listen: --client-ca-file needs TLS: give --tls-cert-file and --tls-key-file too");
  if (!files.tls_cert_file.empty())
    guard.tls = std::make_shared<net::ServerTls>(
        net::ServerTlsFiles{files.tls_cert_file, files.tls_key_file, files.client_ca_file, "--listen"});
  if (!files.bearer_token_file.empty() || !files.basic_auth_file.empty())
    guard.auth = std::make_shared<net::HttpAuth>(
        net::HttpAuthFiles{files.bearer_token_file, files.basic_auth_file, {}, "--listen"});
  return guard;
}

}  // namespace

StatusService::StatusService(const RunOptions& options, Pipeline& pipeline, bool live)
    : pipeline_(pipeline), live_(live), expiry_retention_(options.tracker.expiry_retention),
      base_url_(options.alerts.status_url), recorder_(options.tracker.certificate_warning) {
  check_report_path(options.report);
  report_path_ = options.report;
  registry_.set_constant_labels(options.labels);
  add_pipeline_metrics();
  if (options.status_board || !options.listen.empty() || !report_path_.empty()) pipeline_.add_sink(recorder_);
  pipeline_.add_sink(*this);
  board_ = options.status_board;
  if (!options.listen.empty()) {
    if (!board_) board_ = std::make_shared<sinks::StatusBoard>();
    const sinks::ListenGuard guard = listen_guard(options.listen_guard);
    server_ = std::make_unique<sinks::StatusServer>(board_, sources::parse_listen_address(options.listen, "--listen"), guard);
    url_ = fmt::format("{}://{}/", guard.tls ? "https" : "http", server_->address());
    std::string guarded;  // what guards it, said so that an open port is never a surprise
    if (guard.tls) guarded = "; " + guard.tls->describe();
    if (guard.auth) guarded += (guarded.empty() ? "; " : ", ") + guard.auth->describe();
    std::fprintf(stderr, "klaxon: status on %s (/api/incidents /metrics /healthz /readyz%s)\n", url_.c_str(), guarded.c_str());
    if (guard.tls || guard.auth)
      registry_.add([server = server_.get()](std::vector<MetricFamily>& out) {
        const auto refused = server->refusals();
        out.push_back(counter("klaxon_listen_refused_total", "Clients the --listen port turned away, by why")
                          .add({{"reason", "tls"}}, double(refused.tls))
                          .add({{"reason", "credential"}}, double(refused.credentials)));
      });
  } else if (options.listen_guard.any()) {
    throw std::runtime_error(
        "--tls-cert-file, --client-ca-file, --bearer-token-file and --basic-auth-file before the source word guard "
        "--listen: add --listen HOST:PORT (for serve's push port or loki's token, put them after that word)");
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
  recorder_.note_arrivals(pipeline_.stats_by_source(), wall_now());
  board_->publish(sinks::render_prometheus(registry_.collect()), std::make_shared<PicturePages>(picture(), base_url_), not_ready());
}

sinks::RunPicture StatusService::picture() const {
  return recorder_.take_picture(pipeline_, wall_now(), live_, not_ready());
}

void StatusService::summary(const RunSummary&) {
  if (report_path_.empty()) return;
  const std::string error = sinks::write_file_atomically(report_path_, sinks::render_report(picture()));
  report_ok_ = error.empty();
  if (!report_ok_) std::fprintf(stderr, "klaxon: error: --report: %s\n", error.c_str());
  else std::fprintf(stderr, "klaxon: report written to %s\n", report_path_.c_str());
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
    // One series per certificate identity (its name and scope), never per incident: a reopened
    // incident or another rule stating the same expiry must not start a second series, or an
    // alert rule on it fires twice. Kept until a renewal replaces the value or the certificate
    // has been expired for --expiry-retention (the tracker's inventory), across restarts with
    // --state-dir.
    auto expiry = gauge("klaxon_certificate_expiry_timestamp_seconds",
                        "When a certificate expires (unix seconds), as a log line stated it; one series per "
                        "certificate. Alert on it minus time().");
    std::set<Labels> exported;
    for (const IncidentTracker::Certificate& c : pipeline_.tracker().certificates()) {
      Labels labels = with_labels({{"certificate", c.identity}}, c.labels);
      if (exported.insert(labels).second) expiry.add(std::move(labels), seconds(c.expires_at));
    }
    std::map<std::pair<std::string, std::string>, int> open_by;
    for (const IncidentSnapshot& i : pipeline_.tracker().incidents()) {
      if (!i.open) continue;
      ++open_by[{i.klass, std::string(to_string(i.severity))}];
      // An expiry only an incident knows (a line that says when it expired, a rule that is not
      // about one certificate): the certificate is named by the rule.
      if (i.expires_at == 0 || pipeline_.tracker().watermark() - i.expires_at >= expiry_retention_) continue;
      Labels labels = with_labels({{"certificate", i.certificate.empty() ? i.rule : i.certificate}}, i.labels);
      if (exported.insert(labels).second) expiry.add(std::move(labels), seconds(i.expires_at));
    }
    for (const auto& [key, n] : open_by) open.add({{"class", key.first}, {"severity", key.second}}, n);

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

}  // namespace klaxon::cli
