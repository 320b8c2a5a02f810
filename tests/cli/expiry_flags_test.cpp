// tests/cli/expiry_flags_test.cpp — --expiry-warning and --expiry-critical through the real
// binary: one pair of numbers moves the shipped packs' expiry rules, the certificate inventory
// (streaming mode and `klaxon certs`) and the report's countdown, and a bad pair is refused.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <ctime>
#include <sstream>
#include <string>
#include <vector>

#include "tests/certs/test_certificates.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

using test::run_command;
using test::write_file;
constexpr std::time_t kDay = 86400;

// ../shared/seeds/003 (Dapr on AKS): the sentry's hourly warning, 2 days and 15 hours out.
constexpr const char* kDaprLine =
    R"({"instance":"dapr-sentry-68cbf79bb9-gdqdv","level":"warning","msg":"Dapr root certificate expiration warning: certificate expires in 2 days and 15 hours","scope":"dapr.sentry","time":"2024-04-01T23:43:35.931825236Z","type":"log","ver":"1.6.0"})";

std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find(needle) != std::string::npos) out.push_back(line);
  return out;
}

// The severity klaxon gives the Dapr line with `flags`.
std::string dapr_severity(const test::TempDir& dir, const std::string& flags) {
  const auto log = dir.path() / "sentry.log";
  write_file(log, std::string(kDaprLine) + "\n");
  const auto r = run_command(fmt::format("{} --format jsonl --matches {} {}", KLAXON_BINARY, flags, log.string()));
  EXPECT_EQ(r.status, 0) << r.err;
  const auto matches = lines_with(r.out, R"("type":"match")");
  if (matches.size() != 1) return "matched " + std::to_string(matches.size()) + " times:\n" + r.out;
  for (const char* s : {"info", "warning", "critical"})
    if (matches[0].find(fmt::format(R"("severity":"{}")", s)) != std::string::npos) return s;
  return "no severity in " + matches[0];
}

TEST(ExpiryFlags, TheSameDaprLineFollowsTheThresholds) {
  test::TempDir dir;
  EXPECT_EQ(dapr_severity(dir, ""), "critical") << "2d15h is within the default 7d";
  EXPECT_EQ(dapr_severity(dir, "--expiry-warning 30d --expiry-critical 2d"), "warning");
  EXPECT_EQ(dapr_severity(dir, "--expiry-critical 3d"), "critical");
  EXPECT_EQ(dapr_severity(dir, "--expiry-warning 2d --expiry-critical 1d"), "info") << "not within either";
}

TEST(ExpiryFlags, EveryShippedExpiryRuleNamesTheThresholds) {
  // A rule of `klaxon rules list` that is about a certificate expiring soon and whose severity
  // depends on the time left moves with the flags: its summary stays, the severities change.
  test::TempDir dir;
  const auto generic = dir.path() / "generic.log";
  write_file(generic,
             "2024-05-01T10:00:00Z WARN the server certificate expires in 10 days\n"
             "2024-05-01T10:00:00Z WARN cert for api.example.com will expire on 2024-05-11T10:00:00Z\n");
  for (const auto& [flags, want] : std::vector<std::pair<std::string, std::string>>{
           {"", "warning"}, {"--expiry-critical 14d --expiry-warning 60d", "critical"}, {"--expiry-warning 9d --expiry-critical 2d", "info"}}) {
    const auto r = run_command(fmt::format("{} --format jsonl --matches {} {}", KLAXON_BINARY, flags, generic.string()));
    ASSERT_EQ(r.status, 0) << r.err;
    const auto matches = lines_with(r.out, R"("type":"match")");
    ASSERT_EQ(matches.size(), 2u) << r.out;
    for (const std::string& m : matches)
      EXPECT_NE(m.find(fmt::format(R"("severity":"{}")", want)), std::string::npos) << flags << "\n" << m;
  }
}

TEST(ExpiryFlags, AnInventoryCertificateTenDaysOutIsWarningOrCriticalByTheFlags) {
  test::TempDir dir;
  const std::time_t now = std::time(nullptr);
  const auto soon = test::make_certificate({.common_name = "soon", .not_after = now + 10 * kDay});
  write_file(dir.path() / "tls.crt", soon.pem());
  const std::string crt = (dir.path() / "tls.crt").string();
  // The streaming modes' inventory (a pipe is live: judged on the wall clock).
  auto opened = [&](const std::string& flags) {
    const auto r = run_command(fmt::format("printf '' | {} --format jsonl --certs {} {}", KLAXON_BINARY, crt, flags));
    EXPECT_EQ(r.status, 0) << r.err;
    return lines_with(r.out, R"("event":"opened")");
  };
  auto o = opened("");
  ASSERT_EQ(o.size(), 1u);
  EXPECT_NE(o[0].find(R"("class":"cert_expiring_soon","severity":"warning")"), std::string::npos) << o[0];
  o = opened("--expiry-critical 14d --expiry-warning 60d");
  ASSERT_EQ(o.size(), 1u);
  EXPECT_NE(o[0].find(R"("class":"cert_expiring_soon","severity":"critical")"), std::string::npos) << o[0];
  EXPECT_TRUE(opened("--expiry-warning 5d --expiry-critical 2d").empty()) << "10 days out is not within 5 days";

  // `klaxon certs` takes them too, before or after its word; its own flags still win.
  auto certs = [&](const std::string& flags) { return run_command(fmt::format("{} {}", KLAXON_BINARY, flags)).status; };
  EXPECT_EQ(certs("certs --fail-on critical " + crt), 0) << "10 days: a warning by default";
  EXPECT_EQ(certs("certs --expiry-critical 14d --expiry-warning 60d --fail-on critical " + crt), 1);
  EXPECT_EQ(certs("--expiry-critical 14d --expiry-warning 60d certs --fail-on critical " + crt), 1);
  EXPECT_EQ(certs("certs --expiry-warning 5d --expiry-critical 2d --fail-on warning " + crt), 0);
  EXPECT_EQ(certs("certs --expiry-warning 5d --expiry-critical 2d --warn-before 30d --fail-on warning " + crt), 1);
}

TEST(ExpiryFlags, TheReportsCountdownUsesThem) {
  test::TempDir dir;
  const auto log = dir.path() / "sentry.log";
  write_file(log, std::string(kDaprLine) + "\n");
  const auto report = dir.path() / "r.html";
  const auto r = run_command(fmt::format("{} --incidents --expiry-warning 45d --expiry-critical 2d --report {} {}",
                                         KLAXON_BINARY, report.string(), log.string()));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string html = test::read_file(report);
  EXPECT_NE(html.find(R"("warning_threshold_seconds":3888000,"critical_threshold_seconds":172800)"), std::string::npos)
      << "45d and 2d in the picture's certificate";
  EXPECT_NE(html.find("<span class=\"countdown warning\">"), std::string::npos) << "2d15h left: warning at 2d critical";
}

TEST(ExpiryFlags, BadValuesAreRefusedWithTheReason) {
  auto refused = [](const std::string& flags, const std::string& says) {
    const auto r = run_command(fmt::format("{} {} < /dev/null", KLAXON_BINARY, flags));
    EXPECT_EQ(r.status, 2) << flags << "\n" << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
  };
  refused("--expiry-critical 30d", "--expiry-critical 30d must be shorter than --expiry-warning 30d");
  refused("--expiry-warning 5d", "--expiry-critical 7d must be shorter than --expiry-warning 5d");
  refused("--expiry-warning soon", "soon is not a duration");
  refused("--expiry-critical 0", "is too short");
  refused("--expiry-warning 9999d --expiry-critical 1d", "at most 3650d");
  refused("certs --expiry-critical 40d .", "--expiry-critical 40d must be shorter");
}

}  // namespace
}  // namespace klaxon
