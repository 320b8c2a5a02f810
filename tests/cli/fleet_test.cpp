// A fleet of klaxons, through the real binary: `--label` on everything a klaxon says, the
// Alertmanager inhibit rules exported from the packs, and symptoms folded by the cause they
// state when their root is out of sight (an app node's klaxon never sees the sentry).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/peer.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

using test::run_command;
using test::run_klaxon;

const std::string kBin = KLAXON_BINARY;
const std::string kSource = KLAXON_SOURCE_DIR;

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(Fleet, LabelsAreOnEveryIncidentObject) {
  auto r = run_command(kBin + " --format jsonl --label cluster=c1 --label region=eu-1 " + kSource + "/samples/quickstart.log");
  ASSERT_EQ(r.status, 0) << r.err;
  int incidents = 0;
  for (const std::string& l : lines_of(r.out)) {
    if (!l.starts_with("{\"type\":\"incident\"") && !l.starts_with("{\"type\":\"summary\"")) continue;
    if (l.starts_with("{\"type\":\"incident\"")) ++incidents;
    // Every incident object (the events', and each in the summary) carries both labels.
    std::size_t objects = 0, labelled = 0;
    for (std::size_t at = 0; (at = l.find("\"labels\":{", at)) != std::string::npos; ++at) {
      ++objects;
      const std::string labels = l.substr(at, l.find('}', at) - at);
      labelled += labels.find("\"cluster\":\"c1\"") != std::string::npos &&
                  labels.find("\"region\":\"eu-1\"") != std::string::npos;
    }
    EXPECT_EQ(labelled, objects) << l;
  }
  EXPECT_GT(incidents, 0) << r.out;
}

TEST(Fleet, BadLabelsAreUsageErrorsThatSayWhy) {
  const std::string input = " " + kSource + "/samples/quickstart.log";
  struct Case {
    std::string flags, says;
  } cases[] = {
      {"--label cluster", "NAME=VALUE"},
      {"--label 1st=a", "NAME=VALUE"},
      {"--label 'clu ster=a'", "NAME=VALUE"},
      {"--label cluster=", "value"},
      {"--label alertname=x", "reserved"},
      {"--label severity=x", "reserved"},
      {"--label __name__=x", "reserved"},
      {"--label cluster=a --label cluster=b", "twice"},
  };
  for (const Case& c : cases) {
    auto r = run_command(kBin + " " + c.flags + input);
    EXPECT_EQ(r.status, 2) << c.flags;
    EXPECT_NE(r.err.find("--label"), std::string::npos) << c.flags << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.flags << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << c.flags << ": nothing runs on a usage error";
  }
}

// An app node's klaxon sees the Dapr outage without the sentry: forty sidecars failing on the
// root that expired at one instant are one incident listing the pods, not forty pages.
TEST(Fleet, SymptomsStatingOneCauseFoldIntoOneIncidentWhenTheRootIsOutOfSight) {
  const test::TempDir dir;
  const std::string without_sentry = (dir.path() / "app-nodes.log").string();
  auto cut = run_command("gzip -dc " + kSource + "/samples/timelines/dapr-root-cert-expiry.log.gz | grep -v dapr-sentry > " +
                         without_sentry);
  ASSERT_EQ(cut.status, 0) << cut.err;
  auto r = run_klaxon({"--format", "jsonl", without_sentry});
  ASSERT_EQ(r.status, 0) << r.err;
  int critical = 0;
  std::string folded;
  for (const std::string& l : lines_of(r.out)) {
    if (!l.starts_with("{\"type\":\"incident\",\"event\":\"opened\"")) continue;
    if (l.find("\"severity\":\"critical\"") == std::string::npos) continue;
    ++critical;
    folded = l;
  }
  EXPECT_EQ(critical, 1) << "a page per pod: " << r.out.substr(0, 4000);
  EXPECT_NE(folded.find("\"rule\":\"dapr.workload_cert_expired\""), std::string::npos) << folded;
  EXPECT_NE(folded.find("\"labels\":{\"expired_at\":\"2023-06-16T12:31:17Z\"}"), std::string::npos) << folded;
  // The summary at the end names the cause and lists the forty pods.
  const std::size_t summary = r.out.find("{\"type\":\"summary\"");
  ASSERT_NE(summary, std::string::npos);
  EXPECT_NE(r.out.find("certificate that expired at 2023-06-16T12:31:17Z: 40 pods", summary), std::string::npos);
  for (const char* pod : {"app1-", "app27-5d8c9b7f6-m49bw", "app40-"})
    EXPECT_NE(r.out.find(pod, summary), std::string::npos) << pod;
}

// The packs' correlations as Alertmanager inhibit rules, accepted by the real Alertmanager's
// config checker, with `equal` on the correlation's labels and every --label name.
TEST(Fleet, InhibitRulesExportedFromThePacksAreAValidAlertmanagerConfig) {
  auto r = run_klaxon({"--label", "cluster=c1", "--label", "region=eu", "rules", "export", "--as", "alertmanager-inhibit"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.find("inhibit_rules:\n") != std::string::npos) << r.out;
  // The Dapr outage: the expired root mutes the sidecars' failures in the same cluster and region.
  const std::size_t dapr = r.out.find("# dapr.mtls_outage:");
  ASSERT_NE(dapr, std::string::npos) << r.out;
  const std::string rule = r.out.substr(dapr, r.out.find("\n  #", dapr + 1) - dapr);
  EXPECT_NE(rule.find("source_matchers: ['alertname=\"dapr.root_cert_expired\"']"), std::string::npos) << rule;
  EXPECT_NE(rule.find("dapr\\\\.workload_cert_expired|"), std::string::npos) << rule;
  EXPECT_NE(rule.find("equal: [cluster, region]"), std::string::npos) << rule;

  const std::string amtool = "/usr/bin/amtool";
  KLAXON_REQUIRE_PEER(std::filesystem::exists(amtool), "amtool is not installed (scripts/setup installs prometheus-alertmanager)");
  const test::TempDir dir;
  const auto config = dir.path() / "alertmanager.yml";
  std::ofstream(config) << "route:\n  receiver: team\nreceivers:\n  - name: team\n" << r.out;
  auto check = run_command(amtool + " check-config " + config.string());
  EXPECT_EQ(check.status, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("inhibit rules"), std::string::npos) << check.out;
}

}  // namespace
}  // namespace klaxon
