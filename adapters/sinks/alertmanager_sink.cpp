#include "adapters/sinks/alertmanager_sink.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "adapters/net/asio.hpp"
#include "engine/json_text.hpp"

namespace klaxon::sinks {

namespace {

// Prometheus keeps sending resolved alerts for 15 minutes, so a receiver that missed one post
// still learns of the resolution.
constexpr Nanos kResolvedRetention = 15 * 60 * kNanosPerSecond;
constexpr Nanos kMinFiringHorizon = 5 * 60 * kNanosPerSecond;

Labels alert_labels(const IncidentSnapshot& i, const CertificateAlertNames& names) {
  std::string alertname = i.rule;
  if (!i.certificate.empty())
    if (auto n = names.find({i.certificate, i.klass}); n != names.end()) alertname = n->second;
  Labels labels = {
      {"alertname", std::move(alertname)}, {"severity", std::string(to_string(i.severity))}, {"class", i.klass}};
  const std::size_t fixed = labels.size();
  for (const auto& [k, v] : i.labels) {
    std::string name = alertmanager_label_name(k);
    if (name.empty() || v.empty()) continue;  // Alertmanager drops empty values anyway
    if (has_label(labels, name)) continue;
    labels.emplace_back(std::move(name), v);
  }
  std::sort(labels.begin() + fixed, labels.end());
  return labels;
}

std::string label_key(const Labels& labels) {
  std::string key;
  append_json_object(key, labels);
  return key;
}

}  // namespace

CertificateAlertNames certificate_alert_names(const std::vector<RuleSpec>& rules) {
  CertificateAlertNames names;
  for (const RuleSpec& r : rules)
    if (r.lifecycle == Lifecycle::certificate) names.try_emplace({r.certificate, r.klass}, r.id);
  return names;
}

std::string alertmanager_label_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9' && !out.empty());
    out += ok ? c : '_';
  }
  return out;
}

AlertmanagerSink::AlertmanagerSink(DeliveryWorker& worker, const std::vector<Endpoint>& alertmanagers,
                                   const std::vector<RuleSpec>& rules, AlertmanagerOptions options)
    : worker_(worker), options_(std::move(options)), certificate_names_(certificate_alert_names(rules)) {
  for (const RuleSpec& r : rules) {
    std::pair<std::string, std::string> extra;
    for (const auto& [k, v] : r.annotations) {
      if (k == "description") extra.first = v;
      if (k == "runbook_url") extra.second = v;
    }
    if (!extra.first.empty() || !extra.second.empty()) rule_annotations_[r.id] = std::move(extra);
  }
  RetryPolicy retry = options_.retry;
  retry.max_backoff = std::min(retry.max_backoff, options_.resend);
  // Only the newest state matters, so one waiting post is enough.
  retry.capacity = 1;
  for (Endpoint e : alertmanagers) {
    while (!e.target.empty() && e.target.back() == '/') e.target.pop_back();
    e.target += "/api/v2/alerts";
    queues_.push_back(&worker_.add_queue("alertmanager " + e.shown, e, {}, "application/json", retry));
  }
  asio::co_spawn(
      worker_.executor(),
      [this]() -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        for (;;) {
          timer.expires_after(options_.resend);
          boost::system::error_code ec;
          co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          post_state();
        }
      },
      asio::detached);
}

void AlertmanagerSink::incident(const IncidentEvent& e) {
  const IncidentSnapshot& i = e.incident;
  const Nanos now = wall_now();
  // Routine updates (a count, a last-seen) ride on the next resend; what changes an alert's
  // state is posted at once.
  bool urgent = false;
  {
    std::lock_guard lock(mu_);
    auto mapped = key_of_incident_.find(i.id);
    if (!i.caused_by.empty()) {
      // A symptom: its root's alert counts it. If it was sent before its root appeared, that
      // alert is resolved now: the root says it all.
      symptoms_of_[i.caused_by].insert(i.id);
      urgent = mapped != key_of_incident_.end();
      if (urgent) {
        if (auto a = alerts_.find(mapped->second); a != alerts_.end() && a->second.ends_at == 0)
          a->second.ends_at = a->second.resolved_wall = now;
        key_of_incident_.erase(mapped);
      }
    } else {
      auto labels = alert_labels(i, certificate_names_);
      std::string key = label_key(labels);
      urgent = e.kind != IncidentEvent::Kind::updated || mapped == key_of_incident_.end() || mapped->second != key;
      if (mapped != key_of_incident_.end() && mapped->second != key) {
        // Escalated: new labels make a new alert in Alertmanager; the old one ends now.
        if (auto a = alerts_.find(mapped->second); a != alerts_.end() && a->second.ends_at == 0)
          a->second.ends_at = a->second.resolved_wall = now;
      }
      Alert& a = alerts_[key];
      a.incident = i;
      a.labels = std::move(labels);
      a.ends_at = e.kind == IncidentEvent::Kind::resolved ? std::min(e.time > 0 ? e.time : now, now) : 0;
      if (a.ends_at != 0 && a.ends_at <= a.incident.first_seen) a.ends_at = a.incident.first_seen + 1;
      a.resolved_wall = a.ends_at != 0 ? now : 0;
      if (a.ends_at != 0) {
        key_of_incident_.erase(i.id);
        symptoms_of_.erase(i.id);
      } else {
        key_of_incident_[i.id] = std::move(key);
      }
    }
  }
  if (urgent) schedule_post();
}

void AlertmanagerSink::schedule_post() {
  // A burst of events (forty pods failing at once) becomes one post.
  if (!post_scheduled_.exchange(true)) asio::post(worker_.executor(), [this] { post_state(); });
}

void AlertmanagerSink::summary(const RunSummary&) { post_state(); }

void AlertmanagerSink::post_state() {
  post_scheduled_ = false;
  std::size_t alerts = 0;
  std::string body = alerts_json(wall_now(), &alerts);
  if (alerts == 0) return;
  last_posted_ = alerts;
  for (DeliveryQueue* q : queues_) q->post(body, /*supersede=*/true);
}

std::size_t AlertmanagerSink::firing() const {
  std::lock_guard lock(mu_);
  return std::count_if(alerts_.begin(), alerts_.end(), [](const auto& kv) { return kv.second.ends_at == 0; });
}

std::string AlertmanagerSink::annotations_json(const Alert& a) const {
  const IncidentSnapshot& i = a.incident;
  std::vector<std::pair<std::string, std::string>> ann;
  ann.emplace_back("summary", i.summary.empty() ? i.title : i.summary);
  auto extra = rule_annotations_.find(i.rule);
  const bool has_description = extra != rule_annotations_.end() && !extra->second.first.empty();
  ann.emplace_back("description", has_description ? extra->second.first : i.title);
  if (!i.runbook.empty()) ann.emplace_back("runbook", i.runbook);
  if (extra != rule_annotations_.end() && !extra->second.second.empty()) ann.emplace_back("runbook_url", extra->second.second);
  if (i.expires_at != 0) ann.emplace_back("expires_at", format_rfc3339(i.expires_at));
  ann.emplace_back("count", std::to_string(i.count));
  std::size_t symptoms = i.symptoms;
  if (auto s = symptoms_of_.find(i.id); s != symptoms_of_.end()) symptoms = std::max(symptoms, s->second.size());
  if (symptoms > 0) {
    ann.emplace_back("symptoms", i.symptom_pods.empty()
                                     ? fmt::format("{} incidents caused by this one", symptoms)
                                     : fmt::format("{} incidents in {} pods caused by this one", symptoms, i.symptom_pods.size()));
  }
  ann.emplace_back("incident_id", i.id);
  std::string b;
  append_json_object(b, ann);
  return b;
}

std::string AlertmanagerSink::alerts_json(Nanos now, std::size_t* count) {
  std::lock_guard lock(mu_);
  const Nanos horizon = std::max<Nanos>(4 * std::chrono::nanoseconds(options_.resend).count(), kMinFiringHorizon);
  std::string b = "[";
  for (auto it = alerts_.begin(); it != alerts_.end();) {
    const Alert& a = it->second;
    if (a.ends_at != 0 && a.resolved_wall < now - kResolvedRetention) {
      it = alerts_.erase(it);
      continue;
    }
    if (b.size() > 1) b += ',';
    b += R"({"labels":)";
    append_json_object(b, a.labels);
    b += R"(,"annotations":)";
    b += annotations_json(a);
    b += R"(,"startsAt":)";
    append_json_string(b, format_rfc3339_nano(a.incident.first_seen));
    b += R"(,"endsAt":)";
    append_json_string(b, format_rfc3339_nano(a.ends_at != 0 ? a.ends_at : now + horizon));
    if (!options_.generator_url.empty()) {
      b += R"(,"generatorURL":)";
      append_json_string(b, options_.generator_url);
    }
    b += '}';
    ++it;
    if (count) ++*count;
  }
  b += ']';
  return b;
}

}  // namespace klaxon::sinks
