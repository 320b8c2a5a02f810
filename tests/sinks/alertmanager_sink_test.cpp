// The Alertmanager sink's state: what each incident event makes of the alerts it posts.
#include <gtest/gtest.h>

#include <simdjson.h>

#include "adapters/sinks/alertmanager_sink.hpp"
#include "tests/integration/alert_test_support.hpp"

namespace klaxon::sinks {
namespace {

using namespace std::chrono_literals;

// Wall time: the sink keeps resolved alerts for a while of wall time.
const Nanos kNow =
    std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();

IncidentEvent event(IncidentEvent::Kind kind, std::string id, std::string rule, Severity severity = Severity::critical) {
  IncidentEvent e{kind, kNow - 10 * kNanosPerSecond, {}};
  e.incident.id = std::move(id);
  e.incident.rule = std::move(rule);
  e.incident.klass = "cert_expired";
  e.incident.severity = severity;
  e.incident.title = "Dapr root certificate has expired";
  e.incident.summary = "root expired at 2023-06-16T12:31:17Z";
  e.incident.runbook = "dapr mtls renew-certificate -k --restart";
  e.incident.labels = {{"namespace", "dapr-system"}, {"app.kubernetes.io/name", "sentry"}, {"empty", ""}};
  e.incident.first_seen = kNow - 60 * kNanosPerSecond;
  e.incident.last_seen = kNow - 10 * kNanosPerSecond;
  e.incident.count = 3;
  e.incident.expires_at = kNow - 86400 * kNanosPerSecond;
  return e;
}

struct Parsed {
  simdjson::dom::parser parser;
  simdjson::dom::array alerts;
  explicit Parsed(const std::string& json) { alerts = parser.parse(json).get_array().value(); }
  std::size_t size() { return alerts.size(); }
  std::string str(std::size_t i, const char* obj, const char* key) {
    auto v = alerts.at(i)[obj][key].get_string();
    return v.error() ? "(absent)" : std::string(v.value());
  }
  std::string top(std::size_t i, const char* key) {
    auto v = alerts.at(i)[key].get_string();
    return v.error() ? "(absent)" : std::string(v.value());
  }
  Nanos instant(std::size_t i, const char* key) { return parse_rfc3339_prefix(top(i, key)).value_or(-1); }
};

class AlertmanagerSinkTest : public ::testing::Test {
 protected:
  test::HttpReceiver receiver;
  DeliveryWorker worker{TlsOptions{}};
  std::unique_ptr<AlertmanagerSink> sink;
  void SetUp() override {
    std::string error;
    auto am = parse_endpoint("http://127.0.0.1:" + std::to_string(receiver.port()) + "/", error);
    RuleSpec rule;
    rule.id = "dapr.root_cert_expired";
    rule.annotations = {{"description", "Sentry's root is valid for 365 days"}, {"runbook_url", "https://runbooks.example/dapr"}};
    AlertmanagerOptions options;
    options.resend = 1h;  // posts only on changes here
    options.generator_url = "http://klaxon.example:8080/";
    sink = std::make_unique<AlertmanagerSink>(worker, std::vector<Endpoint>{*am}, std::vector<RuleSpec>{rule}, options);
  }
  void TearDown() override { worker.flush(0ms); }
};

TEST_F(AlertmanagerSinkTest, AnOpenIncidentIsAFiringAlertWithLabelsAndAnnotations) {
  sink->incident(event(IncidentEvent::Kind::opened, "root1", "dapr.root_cert_expired"));
  Parsed p(sink->alerts_json(kNow));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p.str(0, "labels", "alertname"), "dapr.root_cert_expired");
  EXPECT_EQ(p.str(0, "labels", "severity"), "critical");
  EXPECT_EQ(p.str(0, "labels", "class"), "cert_expired");
  EXPECT_EQ(p.str(0, "labels", "namespace"), "dapr-system");
  EXPECT_EQ(p.str(0, "labels", "app_kubernetes_io_name"), "sentry");  // Alertmanager's label name rules
  EXPECT_EQ(p.str(0, "labels", "empty"), "(absent)");
  EXPECT_EQ(p.str(0, "annotations", "summary"), "root expired at 2023-06-16T12:31:17Z");
  EXPECT_EQ(p.str(0, "annotations", "description"), "Sentry's root is valid for 365 days");
  EXPECT_EQ(p.str(0, "annotations", "runbook"), "dapr mtls renew-certificate -k --restart");
  EXPECT_EQ(p.str(0, "annotations", "runbook_url"), "https://runbooks.example/dapr");
  EXPECT_EQ(p.str(0, "annotations", "expires_at"), format_rfc3339(kNow - 86400 * kNanosPerSecond));
  EXPECT_EQ(p.instant(0, "startsAt"), kNow - 60 * kNanosPerSecond);
  // Firing: ends in the future, so Alertmanager resolves it only if klaxon stops re-sending.
  EXPECT_GE(p.instant(0, "endsAt"), kNow + 4 * 3600 * kNanosPerSecond);
  EXPECT_EQ(p.top(0, "generatorURL"), "http://klaxon.example:8080/");
  EXPECT_EQ(sink->firing(), 1u);
  // The change was posted at once, to the API v2 path.
  ASSERT_TRUE(test::wait_until([&] { return receiver.count() >= 1; }, 10s));
  EXPECT_EQ(receiver.requests()[0].target, "/api/v2/alerts");
  EXPECT_EQ(receiver.requests()[0].content_type, "application/json");
}

TEST_F(AlertmanagerSinkTest, SymptomsAreCountedByTheirRootNotSent) {
  sink->incident(event(IncidentEvent::Kind::opened, "root1", "dapr.root_cert_expired"));
  // A symptom that opened before its root was found is sent, then resolved when adopted.
  auto early = event(IncidentEvent::Kind::opened, "s1", "dapr.workload_cert_failed");
  early.incident.labels = {{"pod", "app1"}};
  sink->incident(early);
  EXPECT_EQ(sink->firing(), 2u);
  early.kind = IncidentEvent::Kind::updated;
  early.incident.caused_by = "root1";
  sink->incident(early);
  auto late = event(IncidentEvent::Kind::opened, "s2", "dapr.workload_cert_failed");
  late.incident.labels = {{"pod", "app2"}};
  late.incident.caused_by = "root1";
  sink->incident(late);
  EXPECT_EQ(sink->firing(), 1u);
  Parsed p(sink->alerts_json(kNow));
  ASSERT_EQ(p.size(), 2u);  // the root, and the early symptom's alert, now ended
  int roots = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p.str(i, "labels", "alertname") == "dapr.root_cert_expired") {
      ++roots;
      EXPECT_EQ(p.str(i, "annotations", "symptoms"), "2 incidents caused by this one");
    } else {
      EXPECT_EQ(p.str(i, "labels", "pod"), "app1");
      EXPECT_LE(p.instant(i, "endsAt"), kNow + 60 * kNanosPerSecond) << "ended when adopted";
    }
  }
  EXPECT_EQ(roots, 1);
}

TEST_F(AlertmanagerSinkTest, ResolvedIncidentsEndAndAreForgottenAfterTheRetention) {
  sink->incident(event(IncidentEvent::Kind::opened, "root1", "dapr.root_cert_expired"));
  auto resolved = event(IncidentEvent::Kind::resolved, "root1", "dapr.root_cert_expired");
  resolved.time = kNow - 5 * kNanosPerSecond;
  sink->incident(resolved);
  EXPECT_EQ(sink->firing(), 0u);
  Parsed p(sink->alerts_json(kNow));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p.instant(0, "endsAt"), kNow - 5 * kNanosPerSecond);
  // Still re-sent for a while (a receiver that missed it learns it), then let go.
  const Nanos wall = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_EQ(Parsed(sink->alerts_json(wall + 60 * kNanosPerSecond)).size(), 1u);
  EXPECT_EQ(sink->alerts_json(wall + 16 * 60 * kNanosPerSecond), "[]");
}

TEST_F(AlertmanagerSinkTest, AnEscalationEndsTheAlertOfTheOldSeverity) {
  sink->incident(event(IncidentEvent::Kind::opened, "i1", "dapr.root_cert_expiring", Severity::warning));
  sink->incident(event(IncidentEvent::Kind::escalated, "i1", "dapr.root_cert_expiring", Severity::critical));
  EXPECT_EQ(sink->firing(), 1u);
  Parsed p(sink->alerts_json(kNow));
  ASSERT_EQ(p.size(), 2u);
  for (std::size_t i = 0; i < p.size(); ++i) {
    const bool warning = p.str(i, "labels", "severity") == "warning";
    EXPECT_EQ(p.instant(i, "endsAt") < kNow + 60 * kNanosPerSecond, warning) << i;
  }
}

TEST(AlertmanagerSink, AnHaPairGetsEveryAlertAndOneDeadMemberDoesNotHoldTheOther) {
  test::HttpReceiver live;
  const unsigned short dead = test::free_port();
  DeliveryWorker worker{TlsOptions{}};
  std::string error;
  std::vector<Endpoint> pair = {*parse_endpoint("http://127.0.0.1:" + std::to_string(dead), error),
                                *parse_endpoint("http://127.0.0.1:" + std::to_string(live.port()) + "/am/", error)};
  AlertmanagerOptions options;
  options.resend = 1h;
  AlertmanagerSink sink(worker, pair, {}, options);
  sink.incident(event(IncidentEvent::Kind::opened, "root1", "dapr.root_cert_expired"));
  ASSERT_TRUE(test::wait_until([&] { return live.count() >= 1; }, 10s));
  EXPECT_EQ(live.requests()[0].target, "/am/api/v2/alerts");  // a route prefix is kept
  EXPECT_NE(live.requests()[0].body.find("dapr.root_cert_expired"), std::string::npos);
  const auto stats = worker.stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].sent, 0u);
  EXPECT_EQ(stats[1].sent, 1u);
  worker.flush(0ms);
}

}  // namespace
}  // namespace klaxon::sinks
