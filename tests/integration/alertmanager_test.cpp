// klaxon and the real Alertmanager (Debian's prometheus-alertmanager) on 127.0.0.1: an incident
// becomes an alert with the right labels and annotations, stays active while klaxon re-sends
// it, is resolved when the incident resolves, and arrives even when Alertmanager was down when
// the incident opened or was killed mid-run. Everything is checked through Alertmanager's own
// GET /api/v2/alerts.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include <simdjson.h>

#include "tests/integration/alert_test_support.hpp"
#include "tests/support/peer.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::wait_until;

const std::string kBin = KLAXON_BINARY;
const std::string kSource = KLAXON_SOURCE_DIR;
const std::string kAlertmanager = "/usr/bin/prometheus-alertmanager";  // Debian's package puts it there

// One line that opens (or keeps open) the test pack's incident for `pod`.
std::string expired_line(const std::string& pod) {
  return "[pod/" + pod + "/app] x509: certificate has expired or is not yet valid\n";
}

// An alert as Alertmanager lists it.
struct Alert {
  std::map<std::string, std::string> labels, annotations;
  std::string state, starts_at, ends_at, updated_at, generator_url;
};

class Alertmanager {
 public:
  Alertmanager(const test::TempDir& dir, unsigned short port) : dir_(dir), port_(port) {
    std::ofstream(dir.path() / "alertmanager.yml") << "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n";
  }
  // Starts it (with fresh storage: what it knows after a restart, it learnt from klaxon).
  void start() {
    ++runs_;
    const test::fs::path storage = dir_.path() / ("am-data-" + std::to_string(runs_));
    child_ = std::make_unique<Child>(
        std::vector<std::string>{kAlertmanager, "--config.file=" + (dir_.path() / "alertmanager.yml").string(),
                                 "--storage.path=" + storage.string(),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--cluster.listen-address=",
                                 "--log.level=warn"},
        dir_.path(), "alertmanager" + std::to_string(runs_));
    ASSERT_TRUE(wait_until([&] { return test::http_get(port_, "/-/ready").status == 200; }, 20s))
        << "Alertmanager did not become ready: " << child_->err();
  }
  void kill() {
    child_->signal(SIGKILL);
    child_->wait(10s);
    child_.reset();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<Alert> alerts() const {
    std::vector<Alert> out;
    const test::HttpAnswer a = test::http_get(port_, "/api/v2/alerts");
    if (a.status != 200) return out;
    simdjson::dom::parser parser;
    simdjson::dom::array list;
    if (parser.parse(a.body).get_array().get(list)) return out;
    for (simdjson::dom::element e : list) {
      Alert alert;
      for (auto [k, v] : e["labels"].get_object()) alert.labels[std::string(k)] = std::string(v.get_string().value());
      for (auto [k, v] : e["annotations"].get_object())
        alert.annotations[std::string(k)] = std::string(v.get_string().value());
      alert.state = std::string(e["status"]["state"].get_string().value());
      alert.starts_at = std::string(e["startsAt"].get_string().value());
      alert.ends_at = std::string(e["endsAt"].get_string().value());
      alert.updated_at = std::string(e["updatedAt"].get_string().value());
      if (auto g = e["generatorURL"].get_string(); !g.error()) alert.generator_url = std::string(g.value());
      out.push_back(std::move(alert));
    }
    return out;
  }
  std::optional<Alert> alert_for(const std::string& pod) const {
    for (const Alert& a : alerts())
      if (a.labels.count("pod") && a.labels.at("pod") == pod) return a;
    return std::nullopt;
  }

 private:
  const test::TempDir& dir_;
  unsigned short port_;
  int runs_ = 0;
  std::unique_ptr<Child> child_;
};

class AlertmanagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KLAXON_REQUIRE_PEER(test::fs::exists(kAlertmanager),
                        "prometheus-alertmanager is not installed (scripts/setup installs it)");
  }
  std::unique_ptr<Child> start_klaxon(const Alertmanager& am, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {kBin, "--format", "jsonl", "--no-default-rules", "--rules",
                                     kSource + "/tests/integration/short_rules.yaml", "--allowed-lateness", "0s",
                                     "--alertmanager", am.url(), "--alertmanager-resend", "1s"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Child>(argv, dir.path(), "klaxon");
  }
  static bool said(const Child& klaxon, const std::string& event, const std::string& pod) {
    const std::string out = klaxon.out();
    std::size_t at = 0;
    while ((at = out.find("\"event\":\"" + event + "\"", at)) != std::string::npos) {
      const std::size_t end = out.find('\n', at);
      if (out.substr(at, end - at).find("\"pod\":\"" + pod + "\"") != std::string::npos) return true;
      at = end;
    }
    return false;
  }
  test::TempDir dir;
};

TEST_F(AlertmanagerTest, AnIncidentIsAnAlertWhileItFiresAndResolvedAfter) {
  Alertmanager am(dir, test::free_port());
  am.start();
  const unsigned short status_port = test::free_port();
  auto klaxon = start_klaxon(am, {"--listen", "127.0.0.1:" + std::to_string(status_port)});
  const auto keep_firing = [&] { klaxon->write(expired_line("app1-abc")); };

  std::optional<Alert> alert;
  ASSERT_TRUE(wait_until([&] { return (alert = am.alert_for("app1-abc")).has_value(); }, 20s, keep_firing))
      << klaxon->err();
  EXPECT_EQ(alert->state, "active");
  EXPECT_EQ(alert->labels["alertname"], "short.cert_expired");
  EXPECT_EQ(alert->labels["severity"], "critical");
  EXPECT_EQ(alert->labels["class"], "cert_expired");
  EXPECT_EQ(alert->annotations["summary"], "workload certificate of the test pod expired");
  EXPECT_EQ(alert->annotations["description"], "A test rule: the pod cannot complete mTLS handshakes.");
  EXPECT_EQ(alert->annotations["runbook"], "renew the test certificate");
  EXPECT_EQ(alert->annotations["runbook_url"], "https://runbooks.example/test-cert");
  EXPECT_EQ(alert->generator_url, "http://127.0.0.1:" + std::to_string(status_port) + "/") << "klaxon's status page";
  // klaxon's /metrics counts what it sent to Alertmanager.
  const std::string sink = "alertmanager " + am.url();
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string m = test::http_get(status_port, "/metrics").body;
        return m.find("klaxon_alert_posts_total{sink=\"" + sink + "\",result=\"sent\"}") != std::string::npos &&
               m.find("klaxon_alert_queue_depth{sink=\"" + sink + "\"}") != std::string::npos;
      },
      10s, keep_firing))
      << test::http_get(status_port, "/metrics").body;

  // Re-sent every second: Alertmanager sees fresh posts (updatedAt moves) and keeps it active.
  std::set<std::string> updates{alert->updated_at};
  ASSERT_TRUE(wait_until(
      [&] {
        auto now = am.alert_for("app1-abc");
        if (!now || now->state != "active") return false;
        updates.insert(now->updated_at);
        return updates.size() >= 4;
      },
      20s, keep_firing))
      << "the alert was not kept active by re-sends";
  EXPECT_EQ(am.alert_for("app1-abc")->starts_at, alert->starts_at) << "one alert, not a new one per post";

  // Quiet: the incident resolves after 2 s and the alert is resolved (firing alerts are sent
  // with an end at least 5 minutes ahead, so only the resolved post can end it this soon).
  ASSERT_TRUE(wait_until([&] { return !am.alert_for("app1-abc").has_value(); }, 30s))
      << "still active: " << klaxon->err();
  EXPECT_TRUE(said(*klaxon, "resolved", "app1-abc"));
  klaxon->close_stdin();
  EXPECT_EQ(klaxon->wait(20s), 0) << klaxon->err();
}

TEST_F(AlertmanagerTest, AnAlertRaisedWhileAlertmanagerIsDownArrivesWhenItStarts) {
  Alertmanager am(dir, test::free_port());
  auto klaxon = start_klaxon(am);
  const auto keep_firing = [&] { klaxon->write(expired_line("app2-def")); };
  // Matching goes on without Alertmanager: the incident opens and klaxon says it cannot deliver.
  ASSERT_TRUE(wait_until([&] { return said(*klaxon, "opened", "app2-def"); }, 20s, keep_firing)) << klaxon->err();
  ASSERT_TRUE(wait_until([&] { return klaxon->err().find("retrying") != std::string::npos; }, 20s, keep_firing))
      << klaxon->err();

  am.start();
  ASSERT_TRUE(wait_until([&] { return am.alert_for("app2-def").has_value(); }, 20s, keep_firing)) << klaxon->err();
  EXPECT_EQ(am.alert_for("app2-def")->state, "active");
  klaxon->close_stdin();
  EXPECT_EQ(klaxon->wait(20s), 0) << klaxon->err();
}

TEST_F(AlertmanagerTest, AlertmanagerKilledMidRunLosesNothing) {
  Alertmanager am(dir, test::free_port());
  am.start();
  auto klaxon = start_klaxon(am);
  std::vector<std::string> pods = {"before-1"};
  const auto keep_firing = [&] {
    for (const auto& p : pods) klaxon->write(expired_line(p));
  };
  ASSERT_TRUE(wait_until([&] { return am.alert_for("before-1").has_value(); }, 20s, keep_firing)) << klaxon->err();

  am.kill();
  // While it is gone, reading and matching go on: new incidents open.
  pods.push_back("during-2");
  ASSERT_TRUE(wait_until([&] { return said(*klaxon, "opened", "during-2"); }, 20s, keep_firing)) << klaxon->err();

  am.start();  // empty storage: it can only learn the alerts from klaxon
  ASSERT_TRUE(wait_until([&] { return am.alert_for("before-1") && am.alert_for("during-2"); }, 20s, keep_firing))
      << klaxon->err();
  klaxon->close_stdin();
  EXPECT_EQ(klaxon->wait(20s), 0) << klaxon->err();
}

TEST_F(AlertmanagerTest, LiveSourcesSendToo) {
  // --follow runs on the live event loop (cli/run_live.cpp), not the file replay.
  Alertmanager am(dir, test::free_port());
  am.start();
  const std::string file = (dir.path() / "app.log").string();
  std::ofstream(file) << expired_line("followed-1") << std::flush;
  auto klaxon = start_klaxon(am, {"--follow", file});
  ASSERT_TRUE(wait_until([&] { return am.alert_for("followed-1").has_value(); }, 20s)) << klaxon->err();
  klaxon->signal(SIGTERM);
  EXPECT_EQ(klaxon->wait(20s), 0) << klaxon->err();
}

TEST_F(AlertmanagerTest, ReplayedFilesPageNobodyUnlessAsked) {
  Alertmanager am(dir, test::free_port());
  am.start();
  const std::string file = (dir.path() / "old.log").string();
  std::ofstream(file) << "[pod/replayed-1/app] 2023-06-19T13:19:51Z x509: certificate has expired\n";
  const std::vector<std::string> common{"--no-default-rules", "--rules", kSource + "/tests/integration/short_rules.yaml",
                                        "--alertmanager", am.url()};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), common.begin(), common.end());
    return test::run_klaxon(more);
  };
  auto quiet = with({file});
  EXPECT_EQ(quiet.status, 0) << quiet.err;
  EXPECT_NE(quiet.err.find("--send-replayed"), std::string::npos) << quiet.err;
  EXPECT_TRUE(am.alerts().empty()) << "a replay paged someone";

  auto sent = with({"--send-replayed", file});
  EXPECT_EQ(sent.status, 0) << sent.err;
  // The replayed incident was still open at the end: Alertmanager has it, once.
  std::optional<Alert> alert;
  ASSERT_TRUE(wait_until([&] { return (alert = am.alert_for("replayed-1")).has_value(); }, 10s));
  EXPECT_EQ(alert->starts_at.substr(0, 19), "2023-06-19T13:19:51");
}

TEST_F(AlertmanagerTest, ExternalUrlIsTheBaseOfGeneratorUrl) {
  Alertmanager am(dir, test::free_port());
  am.start();
  const unsigned short status_port = test::free_port();
  auto klaxon = start_klaxon(am, {"--external-url", "https://klaxon.example/prod-eu/", "--label", "cluster=prod-eu",
                                  "--listen", "127.0.0.1:" + std::to_string(status_port)});
  const auto keep_firing = [&] { klaxon->write(expired_line("app1-ext")); };
  std::optional<Alert> alert;
  ASSERT_TRUE(wait_until([&] { return (alert = am.alert_for("app1-ext")).has_value(); }, 20s, keep_firing))
      << klaxon->err();
  EXPECT_EQ(alert->generator_url, "https://klaxon.example/prod-eu/");
  EXPECT_EQ(alert->labels["cluster"], "prod-eu");  // --label: which cluster, for routing and inhibition
  // The status page behind that base links there too, to a page per incident.
  std::string page;
  EXPECT_TRUE(wait_until([&] {
    page = test::http_get(status_port, "/").body;
    return page.find("href=\"https://klaxon.example/prod-eu/incident/" + alert->annotations["incident_id"] + "\"") !=
           std::string::npos;
  }, 10s)) << page;
  EXPECT_NE(page.find(R"(href="https://klaxon.example/prod-eu/metrics")"), std::string::npos) << page;
  klaxon->close_stdin();
  EXPECT_EQ(klaxon->wait(20s), 0) << klaxon->err();

  for (const std::string bad : {"klaxon.example", "https://", "https://a b", "ftp://x", "https://x/\"><script>"}) {
    auto r = test::run_klaxon({"--external-url", bad}, test::ProcessOptions().with_input("x\n"));
    EXPECT_EQ(r.status, 2) << bad;
    EXPECT_NE(r.err.find("is not a URL klaxon can link to"), std::string::npos) << r.err;
  }
}

TEST_F(AlertmanagerTest, ABadUrlIsAUsageError) {
  auto r = test::run_klaxon({"--alertmanager", "alertmanager:9093"}, test::ProcessOptions().with_input("x\n"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--alertmanager alertmanager:9093"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("http://"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace klaxon
