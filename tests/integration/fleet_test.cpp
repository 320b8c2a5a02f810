// A fleet of klaxons meeting in a real Alertmanager cluster: two prometheus-alertmanager
// processes gossiping on loopback (--cluster.listen-address / --cluster.peer), the inhibit
// rules of `klaxon rules export --as alertmanager-inhibit` in their config, a webhook receiver
// in the test counting what they notify, and three klaxons each reading one node's part of the
// Dapr outage (samples/timelines/): A the sentry's "certificate has expired.", B and C three
// app pods each whose sidecars fail on the expired root. All send to both Alertmanagers with
// --label cluster=c1. The root is notified once; every symptom alert is inhibited by it, and
// no symptom is notified. Also: one Alertmanager that never answers does not hold back the
// other's alerts (each has its own queue).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include <fmt/format.h>
#include <simdjson.h>

#include "tests/integration/alert_test_support.hpp"
#include "tests/support/peer.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::wait_until;

const std::string kBin = KLAXON_BINARY;
const std::string kSource = KLAXON_SOURCE_DIR;
const std::string kAlertmanager = "/usr/bin/prometheus-alertmanager";
constexpr const char* kRoot = "dapr.root_cert_expired";

struct Alert {
  std::map<std::string, std::string> labels;
  std::string fingerprint, state;
  std::vector<std::string> inhibited_by;
};

// One member of the gossip pair.
class Member {
 public:
  Member(const test::fs::path& dir, const std::string& name, const std::string& config, unsigned short cluster_port,
         unsigned short peer_port)
      : port_(test::free_port()) {
    const test::fs::path storage = dir / ("storage-" + name);
    test::fs::create_directories(storage);
    std::vector<std::string> argv = {kAlertmanager, "--config.file=" + config, "--storage.path=" + storage.string(),
                                     "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"};
    if (cluster_port == 0) {
      argv.push_back("--cluster.listen-address=");  // alone
    } else {
      // Loopback: short gossip times keep the test short (the second member waits one peer
      // timeout before it would notify).
      argv.insert(argv.end(), {"--cluster.listen-address=127.0.0.1:" + std::to_string(cluster_port),
                               "--cluster.peer=127.0.0.1:" + std::to_string(peer_port), "--cluster.peer-timeout=2s",
                               "--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=1s"});
    }
    child_ = std::make_unique<Child>(argv, dir, "alertmanager-" + name);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool ready() const { return test::http_get(port_, "/-/ready").status == 200; }
  // Peers this member sees in the cluster (itself included).
  std::size_t peers() const {
    const test::HttpAnswer a = test::http_get(port_, "/api/v2/status");
    simdjson::dom::parser parser;
    simdjson::dom::array list;
    if (a.status != 200 || parser.parse(a.body)["cluster"]["peers"].get_array().get(list)) return 0;
    return list.size();
  }
  std::vector<Alert> alerts() const {
    std::vector<Alert> out;
    const test::HttpAnswer a = test::http_get(port_, "/api/v2/alerts?active=true&inhibited=true&silenced=true");
    simdjson::dom::parser parser;
    simdjson::dom::array list;
    if (a.status != 200 || parser.parse(a.body).get_array().get(list)) return out;
    for (simdjson::dom::element e : list) {
      Alert alert;
      for (auto [k, v] : e["labels"].get_object()) alert.labels[std::string(k)] = std::string(v.get_string().value());
      alert.fingerprint = std::string(e["fingerprint"].get_string().value());
      alert.state = std::string(e["status"]["state"].get_string().value());
      for (simdjson::dom::element by : e["status"]["inhibitedBy"].get_array())
        alert.inhibited_by.emplace_back(by.get_string().value());
      out.push_back(std::move(alert));
    }
    return out;
  }
  std::string err() const { return child_->err(); }

 private:
  unsigned short port_;
  std::unique_ptr<Child> child_;
};

// The alert names in one webhook notification of Alertmanager (firing alerts only).
std::vector<std::string> notified(const std::string& body) {
  std::vector<std::string> names;
  simdjson::dom::parser parser;
  simdjson::dom::array alerts;
  if (parser.parse(body)["alerts"].get_array().get(alerts)) return {"(unparsable notification)"};
  for (simdjson::dom::element a : alerts) {
    std::string_view status, name;
    if (a["status"].get(status) || status != "firing") continue;
    if (a["labels"]["alertname"].get(name)) name = "(no alertname)";
    names.emplace_back(name);
  }
  return names;
}

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KLAXON_REQUIRE_PEER(test::fs::exists(kAlertmanager),
                        "prometheus-alertmanager is not installed (scripts/setup installs it)");
  }
  // A file of the Dapr timeline's lines whose pod matches `pattern` (grep -E).
  std::string node_log(const std::string& name, const std::string& pattern) {
    const std::string path = (dir.path() / (name + ".log")).string();
    auto r = test::run_command("gzip -dc " + kSource + "/samples/timelines/dapr-root-cert-expiry.log.gz | grep -E '" +
                               pattern + "' > " + path);
    EXPECT_EQ(r.status, 0) << r.err;
    return path;
  }
  test::TempDir dir;
};

TEST_F(FleetTest, ThreeKlaxonsTwoAlertmanagersOneRootNotificationEverySymptomInhibited) {
  // The inhibit rules, exported from the shipped packs as an operator would.
  auto inhibit = test::run_klaxon({"--label", "cluster=c1", "rules", "export", "--as", "alertmanager-inhibit"});
  ASSERT_EQ(inhibit.status, 0) << inhibit.err;
  test::HttpReceiver receiver;
  const std::string config = (dir.path() / "alertmanager.yml").string();
  std::ofstream(config) << "route:\n  receiver: team\n  group_by: [alertname, cluster]\n  group_wait: 1s\n"
                           "  group_interval: 5m\n  repeat_interval: 4h\n"
                           "receivers:\n  - name: team\n    webhook_configs:\n      - url: http://127.0.0.1:"
                        << receiver.port() << "/notify\n"
                        << inhibit.out;

  const unsigned short c1 = test::free_port(), c2 = test::free_port();
  Member am1(dir.path(), "1", config, c1, c2), am2(dir.path(), "2", config, c2, c1);
  ASSERT_TRUE(wait_until([&] { return am1.ready() && am2.ready(); }, 30s)) << am1.err() << am2.err();
  ASSERT_TRUE(wait_until([&] { return am1.peers() == 2 && am2.peers() == 2; }, 30s)) << "the pair did not form a cluster";

  const std::string send = kBin + " --format jsonl --send-replayed --label cluster=c1 --alertmanager " + am1.url() +
                           " --alertmanager " + am2.url() + " ";
  // A: the sentry's node. Its root alert reaches both members before the symptoms come.
  auto a = test::run_command(send + node_log("a", "dapr-sentry.*certificate has expired\\."));
  ASSERT_EQ(a.status, 0) << a.err;
  auto has_root = [](const Member& m) {
    for (Alert x : m.alerts())
      if (x.labels["alertname"] == kRoot && x.labels["cluster"] == "c1") return true;
    return false;
  };
  ASSERT_TRUE(wait_until([&] { return has_root(am1) && has_root(am2); }, 20s)) << a.err;

  // B and C: three app pods each, whose sidecars fail on the expired root (the sentry out of sight).
  auto b = test::run_command(send + node_log("b", "^\\[pod/app[123]-"));
  auto c = test::run_command(send + node_log("c", "^\\[pod/app[456]-"));
  ASSERT_EQ(b.status, 0) << b.err;
  ASSERT_EQ(c.status, 0) << c.err;
  // B alone opens one folded incident for its three pods (and pages nobody for them).
  std::size_t opened = 0;
  for (std::size_t at = 0; (at = b.out.find("\"event\":\"opened\"", at)) != std::string::npos; ++at) ++opened;
  EXPECT_EQ(opened, 1u) << b.out;
  EXPECT_NE(b.out.find("certificate that expired at 2023-06-16T12:31:17Z: 3 pods"), std::string::npos) << b.out;

  // Every symptom alert, in both members, is inhibited by the root.
  auto all_inhibited = [&](const Member& m, std::string& why) {
    std::string root;
    std::size_t symptoms = 0;
    const std::vector<Alert> alerts = m.alerts();
    for (const Alert& x : alerts)
      if (x.labels.at("alertname") == kRoot) root = x.fingerprint;
    for (const Alert& x : alerts) {
      if (x.fingerprint == root) continue;
      ++symptoms;
      if (x.state != "suppressed" || std::find(x.inhibited_by.begin(), x.inhibited_by.end(), root) == x.inhibited_by.end()) {
        why = x.labels.at("alertname") + " is " + x.state;
        return false;
      }
    }
    why = fmt::format("{} symptom alerts", symptoms);
    return !root.empty() && symptoms > 0;
  };
  std::string why1, why2;
  ASSERT_TRUE(wait_until([&] { return all_inhibited(am1, why1) && all_inhibited(am2, why2); }, 20s))
      << why1 << "; " << why2;
  for (const Alert& x : am1.alerts())
    if (x.labels.at("alertname") != kRoot) {
      EXPECT_EQ(x.labels.at("alertname"), "dapr.workload_cert_expired");
      EXPECT_EQ(x.labels.at("expired_at"), "2023-06-16T12:31:17Z") << "B's and C's alerts are one: the same cause";
      EXPECT_EQ(x.labels.at("cluster"), "c1");
    }

  // Exactly one notification of the root. The second member would send its own one peer
  // timeout (2 s) after the first unless the first's notification log reached it by gossip:
  // wait well past that before counting.
  ASSERT_TRUE(wait_until([&] { return receiver.count() >= 1; }, 30s)) << am1.err() << am2.err();
  const auto first = std::chrono::steady_clock::now();
  wait_until([&] { return std::chrono::steady_clock::now() - first > 8s; }, 10s);
  std::size_t root_notifications = 0, symptom_notifications = 0;
  for (const auto& request : receiver.requests())
    for (const std::string& name : notified(request.body)) (name == kRoot ? root_notifications : symptom_notifications)++;
  EXPECT_EQ(root_notifications, 1u);
  EXPECT_EQ(symptom_notifications, 0u);
}

// --alertmanager twice: each has its own queue. One that accepts connections and never answers
// (its request timeout is 10 s) does not hold back the other's alerts.
TEST_F(FleetTest, ADeadAlertmanagerDoesNotHoldBackTheOther) {
  const std::string config = (dir.path() / "alertmanager.yml").string();
  std::ofstream(config) << "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n";
  Member live(dir.path(), "live", config, 0, 0);
  ASSERT_TRUE(wait_until([&] { return live.ready(); }, 30s)) << live.err();
  // A listening socket nobody accepts from: connections complete, requests are never answered.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor silent(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const std::string dead = "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port());

  Child klaxon({kBin, "--format", "jsonl", "--label", "cluster=c1", "--alertmanager", dead, "--alertmanager", live.url()},
               dir.path(), "klaxon");
  const auto keep_firing = [&] {
    klaxon.write("[pod/app1-abc/daprd] x509: certificate has expired or is not yet valid: current time "
                 "2023-06-19T13:20:02Z is after 2023-06-16T12:31:17Z\n");
  };
  bool arrived = false;
  // Less than the dead one's request timeout: a sender that waited for it could not make it.
  ASSERT_TRUE(wait_until(
      [&] {
        for (Alert x : live.alerts()) arrived |= x.labels["cluster"] == "c1";
        return arrived;
      },
      8s, keep_firing))
      << klaxon.err();
  klaxon.close_stdin();
  klaxon.wait(30s);
}

}  // namespace
}  // namespace klaxon
