#include "cli/alerting.hpp"

#include <cstdio>
#include <stdexcept>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/flags.hpp"
#include "cli/status.hpp"
#include "engine/pipeline.hpp"
#include "engine/printable.hpp"
#include "engine/trim.hpp"

namespace klaxon::cli {
namespace {

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

// The status page as people reach it: a wildcard listen address is replaced by the host name.
std::string status_page_url(std::string address) {
  if (address.empty()) return {};
  for (std::string_view wildcard : {"0.0.0.0:", "[::]:", ":"}) {
    if (!address.starts_with(wildcard)) continue;
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0')
      address = std::string(host) + ":" + address.substr(wildcard.size());
    break;
  }
  return "http://" + address + "/";
}

void add_delivery_metrics(sinks::MetricsRegistry& registry, const sinks::DeliveryWorker& worker) {
  registry.add([&worker](std::vector<sinks::MetricFamily>& out) {
    using Type = sinks::MetricFamily::Type;
    sinks::MetricFamily posts{"klaxon_alert_posts_total",
                              "Posts to Alertmanager and webhooks by outcome: sent, failed (after the retry budget, "
                              "or refused), dropped (queue full, or left at exit)",
                              Type::counter, {}};
    sinks::MetricFamily retries{"klaxon_alert_retries_total", "Posts retried after a failed attempt", Type::counter, {}};
    sinks::MetricFamily depth{"klaxon_alert_queue_depth", "Posts waiting or in flight, per sink", Type::gauge, {}};
    for (const sinks::DeliveryStats& s : worker.stats()) {
      posts.add({{"sink", s.sink}, {"result", "sent"}}, double(s.sent));
      posts.add({{"sink", s.sink}, {"result", "failed"}}, double(s.failed));
      posts.add({{"sink", s.sink}, {"result", "dropped"}}, double(s.dropped));
      retries.add({{"sink", s.sink}}, double(s.retries));
      depth.add({{"sink", s.sink}}, double(s.queue_depth));
    }
    out.push_back(std::move(posts));
    out.push_back(std::move(retries));
    out.push_back(std::move(depth));
  });
}

}  // namespace

void add_alert_flags(CLI::App& app, AlertOptions& alerts, const std::string& group) {
  app.add_option("--alertmanager", alerts.alertmanagers, "Send incidents as alerts (repeatable, for an HA pair)")
      ->type_name("URL")
      ->allow_extra_args(false)
      ->group(group);
  app.add_option("--alertmanager-resend", alerts.alertmanager_resend, "Re-send firing alerts this often [1m]")
      ->check(duration_check())
      ->type_name("DUR")
      ->group(group);
  app.add_option("--webhook", alerts.webhooks, "POST incident events to this URL (repeatable)")
      ->type_name("URL")
      ->allow_extra_args(false)
      ->group(group);
  app.add_option("--webhook-format", alerts.webhook_format, "json (the incident object) or slack (a message) [json]")
      ->type_name("FMT")
      ->group(group);
  app.add_option("--webhook-header", alerts.webhook_headers, "Add 'Name: value' to webhook posts (repeatable)")
      ->type_name("HDR")
      ->allow_extra_args(false)
      ->group(group);
  app.add_option("--ca-file", alerts.ca_file, "Trust these CA certificates (PEM) for https receivers")
      ->type_name("PATH")
      ->group(group);
  app.add_flag("--insecure-skip-verify", alerts.insecure_skip_verify, "Do not check receivers' certificates (unsafe)")
      ->group(group);
  app.add_option("--external-url", alerts.status_url, "Where people reach klaxon's status page: links in alerts start here")
      ->check(external_url_check())
      ->type_name("URL")
      ->group(group);
  app.add_flag("--send-replayed", alerts.send_replayed, "Alert on replayed files too (default: live input only)")
      ->group(group);
}

std::unique_ptr<Alerting> Alerting::create(const AlertOptions& options, const std::vector<RuleSpec>& rules,
                                           std::string& error, StatusService* status) {
  std::vector<sinks::Endpoint> alertmanagers, webhooks;
  auto endpoints = [&](const std::vector<std::string>& urls, const char* flag, const char* example,
                       std::vector<sinks::Endpoint>& into) {
    for (const std::string& url : urls) {
      auto e = sinks::parse_endpoint(url, error);
      if (!e) {
        error = fmt::format("{} {}: {} (write {})", flag, redact_url(url), error, example);
        return false;
      }
      into.push_back(std::move(*e));
    }
    return true;
  };
  if (!endpoints(options.alertmanagers, "--alertmanager", "http://alertmanager:9093", alertmanagers) ||
      !endpoints(options.webhooks, "--webhook", "https://hooks.example.com/path", webhooks))
    return nullptr;
  std::vector<std::pair<std::string, std::string>> headers;
  for (const std::string& h : options.webhook_headers) {
    const std::size_t colon = h.find(':');
    std::string name{colon == std::string::npos ? "" : trim(std::string_view(h).substr(0, colon))};
    if (name.empty() || name.find_first_of(" \t\r\n") != std::string::npos || h.find_first_of("\r\n") != std::string::npos) {
      // The value is not repeated: it is often a token.
      error = "--webhook-header '" + printable(name.empty() ? std::string("?") : name) +
              ": …': write 'Name: value' (e.g. 'Authorization: Bearer TOKEN')";
      return nullptr;
    }
    headers.emplace_back(std::move(name), std::string(trim(std::string_view(h).substr(colon + 1))));
  }
  const std::chrono::milliseconds resend = duration_ms(options.alertmanager_resend);  // checked by the flag
  if (options.webhook_format != "json" && options.webhook_format != "slack") {
    error = "--webhook-format " + options.webhook_format + ": write json or slack";
    return nullptr;
  }
  const sinks::WebhookFormat format =
      options.webhook_format == "slack" ? sinks::WebhookFormat::slack : sinks::WebhookFormat::json;

  std::unique_ptr<Alerting> a(new Alerting());
  sinks::TlsOptions tls{options.ca_file, options.insecure_skip_verify};
  try {
    a->worker_ = std::make_unique<sinks::DeliveryWorker>(tls);
  } catch (const std::runtime_error& e) {
    error = e.what();
    return nullptr;
  }
  if (options.insecure_skip_verify)
    std::fprintf(stderr, "klaxon: warning: --insecure-skip-verify: receivers' TLS certificates are not checked; "
                         "anyone on the path can read and fake alerts (use --ca-file instead)\n");
  if (!alertmanagers.empty()) {
    sinks::AlertmanagerOptions am;
    am.resend = resend;
    am.generator_url = options.status_url.empty() ? std::string() : options.status_url + "/";
    if (am.generator_url.empty() && status) am.generator_url = status_page_url(status->address());
    a->alertmanager_ = std::make_unique<sinks::AlertmanagerSink>(*a->worker_, alertmanagers, rules, am);
  }
  // Numbered: two webhooks on one host (two Slack channels) are two sinks.
  for (sinks::Endpoint& e : webhooks) {
    std::string name = fmt::format("webhook-{} {}", a->webhooks_.size() + 1, e.shown);
    sinks::DeliveryQueue& q = a->worker_->add_queue(std::move(name), std::move(e), headers, "application/json");
    a->webhooks_.push_back(std::make_unique<sinks::WebhookSink>(q, format, options.status_url));
  }
  if (status) add_delivery_metrics(status->metrics(), *a->worker_);
  return a;
}

bool Alerting::start(const AlertOptions& options, const std::vector<RuleSpec>& rules, Pipeline& pipeline,
                     StatusService* status, std::unique_ptr<Alerting>& out) {
  out.reset();
  if (!options.any()) return true;
  std::string error;
  out = create(options, rules, error, status);
  if (!out) {
    std::fprintf(stderr, "klaxon: %s\n", printable(error).c_str());
    return false;
  }
  out->attach(pipeline);
  return true;
}

Alerting::~Alerting() = default;

void Alerting::attach(Pipeline& pipeline) {
  if (alertmanager_) {
    // Incidents restored from --state-dir are alerts Alertmanager was told of: they are posted
    // again (the same labels, the same startsAt), or it would let them end at their endsAt.
    for (const IncidentSnapshot& i : pipeline.tracker().incidents())
      if (i.open) alertmanager_->incident({IncidentEvent::Kind::updated, i.last_seen, i});
    pipeline.add_sink(*alertmanager_);
  }
  for (auto& w : webhooks_) pipeline.add_sink(*w);
}

bool Alerting::finish(std::chrono::milliseconds limit) {
  if (finished_) return true;
  // The Alertmanager sink posted its final state in the pipeline's finish() (its summary()).
  worker_->flush(limit);
  finished_ = true;
  bool all = true;
  for (const sinks::DeliveryStats& s : worker_->stats()) {
    if (s.failed == 0 && s.dropped == 0) continue;
    all = false;
    // What the receiver missed, in its own unit: Alertmanager takes states (each post holds
    // every alert), a webhook one incident event per post.
    const bool alertmanager = alertmanager_ && s.sink.starts_with("alertmanager ");
    std::string missed;
    if (alertmanager && s.left_at_exit > 0)
      missed = fmt::format("; its last state ({}) did not reach it", plural(alertmanager_->last_posted(), "alert", "alerts"));
    else if (!alertmanager)
      missed = fmt::format("; {} did not reach it", plural(s.failed + s.dropped, "incident event", "incident events"));
    const std::string left =
        s.left_at_exit == 0 ? std::string()
                            : fmt::format(", {} still queued when the {}s deadline passed", s.left_at_exit,
                                          std::chrono::duration_cast<std::chrono::seconds>(limit).count());
    std::fprintf(stderr, "klaxon: error: %s: %llu posts not delivered (%llu failed after retries, %llu dropped%s)%s; "
                         "check that the receiver is up and reachable\n",
                 s.sink.c_str(), static_cast<unsigned long long>(s.failed + s.dropped),
                 static_cast<unsigned long long>(s.failed), static_cast<unsigned long long>(s.dropped), left.c_str(),
                 missed.c_str());
  }
  return all;
}

}  // namespace klaxon::cli
