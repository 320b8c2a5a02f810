// --state-dir: a restart of klaxon neither announces an open incident again nor forgets a
// stated expiry; a state file it cannot read is moved aside and klaxon starts fresh.
// The real binary (live stdin, --listen, SIGTERM), and the state document read back.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "cli/state_dir.hpp"
#include "engine/civil_time.hpp"
#include "tests/support/klaxon_process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

namespace fs = std::filesystem;
using test::KlaxonProcess;

const std::string kExpiryMetric = "klaxon_certificate_expiry_timestamp_seconds";

Nanos now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Dapr's sentry warning, stamped now: the root expires in 2 days and 15 hours from now.
std::string dapr_warning_now() {
  return R"({"instance":"dapr-sentry-68cbf79bb9-gdqdv","level":"warning","msg":"Dapr root certificate expiration )"
         R"(warning: certificate expires in 2 days and 15 hours","scope":"dapr.sentry","time":")" +
         format_rfc3339(now_ns()) + R"(","type":"log","ver":"1.6.0"})" + "\n";
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::vector<std::string> live_args(const fs::path& dir) {
  return {"--state-dir", dir.string(), "--listen", "127.0.0.1:0", "--format", "jsonl"};
}

TEST(StateDir, ARestartKeepsTheExpiryAndDoesNotAnnounceTheIncidentAgain) {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "state";
  {
    KlaxonProcess first(live_args(dir));
    const std::string address = first.address();
    first.write(dapr_warning_now());
    ASSERT_TRUE(first.wait_for_output(R"("event":"opened")")) << first.err();
    EXPECT_EQ(first.stop(), 0) << first.err();
    EXPECT_EQ(count(first.out(), R"("event":"opened")"), 1u) << first.out();
    (void)address;
  }
  ASSERT_TRUE(fs::exists(dir / "state.json"));

  KlaxonProcess second(live_args(dir));  // no input at all
  const std::string metrics = test::first_metrics(second.address());
  const std::vector<std::string> series = test::metric_lines(metrics, kExpiryMetric);
  ASSERT_EQ(series.size(), 1u) << metrics << second.err();
  EXPECT_NE(series[0].find(R"(certificate=")"), std::string::npos) << series[0];
  EXPECT_EQ(series[0].find("incident="), std::string::npos) << series[0];
  // About 2 days and 15 hours from now (a lower bound, truncated to the hour by Dapr).
  const double at = std::stod(series[0].substr(series[0].rfind(' ') + 1));
  const double in_hours = (at - double(now_ns() / kNanosPerSecond)) / 3600;
  EXPECT_GT(in_hours, 62.9);
  EXPECT_LT(in_hours, 63.1);
  EXPECT_EQ(test::metric_lines(metrics, "klaxon_incidents_open").size(), 1u) << metrics;
  EXPECT_NE(second.err().find("1 open incidents and 1 certificate expiries restored"), std::string::npos)
      << second.err();
  EXPECT_EQ(second.stop(), 0) << second.err();
  EXPECT_EQ(count(second.out(), R"("event":"opened")"), 0u) << second.out();
}

TEST(StateDir, ADamagedOrNewerStateIsMovedAsideAndKlaxonStartsFresh) {
  for (const std::string& bad : {std::string("{\"klaxon_state\":1,\"clock\":{\"latest\":"),
                                 std::string("{\"klaxon_state\":99,\"clock\":{}}"),
                                 std::string("{\"klaxon_state\":1,\"clock\":{\"latest\":1,\"watermark\":0,"
                                             "\"latest_wall\":0},\"incidents\":[{\"id\":7}],\"certificates\":[]}"),
                                 std::string("\x00\xff garbage", 10)}) {
    test::TempDir tmp;
    const fs::path dir = tmp.path();
    std::ofstream(dir / "state.json", std::ios::binary) << bad;
    KlaxonProcess k({"--state-dir", dir.string(), "--format", "jsonl"});
    k.write(dapr_warning_now());
    k.close_stdin();
    EXPECT_EQ(k.wait_exit(), 0) << k.err();
    EXPECT_EQ(count(k.out(), R"("event":"opened")"), 1u) << k.out();
    const std::string err = k.err();
    EXPECT_NE(err.find(bad.find("99") != std::string::npos ? "newer klaxon" : "damaged"), std::string::npos) << err;
    EXPECT_NE(err.find("moved aside"), std::string::npos) << err;
    std::size_t aside = 0;
    for (const auto& e : fs::directory_iterator(dir)) aside += e.path().filename().string().starts_with("state.json.");
    EXPECT_EQ(aside, 1u);
    // And the state written at the end is one klaxon reads.
    std::string error;
    bool newer = false;
    const auto state = cli::parse_state(test::read_file(dir / "state.json"), error, newer);
    ASSERT_TRUE(state) << error;
    EXPECT_EQ(state->tracker.certificates.size(), 1u);
  }
}

TEST(StateDir, OneKlaxonPerDirectory) {
  test::TempDir tmp;
  KlaxonProcess first({"--state-dir", tmp.path().string(), "--listen", "127.0.0.1:0"});
  first.address();  // it holds the lock by now
  KlaxonProcess second({"--state-dir", tmp.path().string()});
  EXPECT_EQ(second.wait_exit(), 2);
  EXPECT_NE(second.err().find("another klaxon is using it"), std::string::npos) << second.err();
}

TEST(StateDir, TheDocumentReadsBackAsWritten) {
  Pipeline::State s;
  s.tracker.latest = 1'712'015'015 * kNanosPerSecond;
  s.tracker.watermark = s.tracker.latest - 30 * kNanosPerSecond;
  s.latest_wall = s.tracker.latest + 5;
  IncidentTracker::State::HeldIncident h;
  h.s.id = "abc";
  h.s.rule = "dapr.sentry.root_cert_expiring";
  h.s.klass = "cert_expiring_soon";
  h.s.severity = Severity::critical;
  h.s.title = "a \"quoted\"\ntitle";
  h.s.labels = {{"namespace", "dapr-system"}, {"instance", "x"}};
  h.s.first_seen = s.tracker.latest - 100;
  h.s.last_seen = s.tracker.latest;
  h.s.count = 12;
  h.s.samples = {"one", "two"};
  h.s.expires_at = s.tracker.latest + 3600 * kNanosPerSecond;
  h.s.certificate = "dapr-root";
  h.generation = 2;
  h.expired = false;
  h.class_since = h.s.first_seen;
  s.tracker.incidents.push_back(h);
  IncidentTracker::State::HeldCertificate c;
  c.c = {"dapr-root", "dapr.sentry.root_cert_expiring", {{"namespace", "dapr-system"}}, h.s.expires_at, h.s.last_seen,
         "-:1"};
  c.imprecision = 86400 * kNanosPerSecond;
  s.tracker.certificates.push_back(c);

  std::string error;
  bool newer = false;
  const auto back = cli::parse_state(cli::render_state(s), error, newer);
  ASSERT_TRUE(back) << error;
  ASSERT_EQ(back->tracker.incidents.size(), 1u);
  const auto& b = back->tracker.incidents[0];
  EXPECT_EQ(b.s.title, h.s.title);
  EXPECT_EQ(b.s.labels, h.s.labels);
  EXPECT_EQ(b.s.severity, Severity::critical);
  EXPECT_EQ(b.s.count, 12u);
  EXPECT_EQ(b.s.samples, h.s.samples);
  EXPECT_EQ(b.s.expires_at, h.s.expires_at);
  EXPECT_EQ(b.generation, 2u);
  ASSERT_EQ(back->tracker.certificates.size(), 1u);
  EXPECT_EQ(back->tracker.certificates[0].c.labels, c.c.labels);
  EXPECT_EQ(back->tracker.certificates[0].imprecision, c.imprecision);
  EXPECT_EQ(back->tracker.latest, s.tracker.latest);
  EXPECT_EQ(back->latest_wall, s.latest_wall);
}

}  // namespace
}  // namespace klaxon
