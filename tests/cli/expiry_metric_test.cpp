// klaxon_certificate_expiry_timestamp_seconds: one series per certificate identity, labelled by
// what the certificate is (never by an incident), from the first line stating the expiry until
// a renewal replaces the value or it has been expired for --expiry-retention.
// The real packs, the pipeline and the /metrics text StatusService publishes.
#include <gtest/gtest.h>

#include "adapters/sinks/status_server.hpp"
#include "cli/status.hpp"
#include "engine/civil_time.hpp"
#include "tests/support/klaxon_process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

const std::string kExpiryMetric = "klaxon_certificate_expiry_timestamp_seconds";
const Nanos kT0 = Nanos(1'781'308'800) * kNanosPerSecond;  // 2026-06-13T00:00:00Z
constexpr Nanos kHour = 3600 * kNanosPerSecond;

std::string at(Nanos t) { return format_rfc3339(t); }

// Dapr's sentry: the root expires in `days` days and `hours` hours, said by pod `pod` at `t`.
std::string warning(Nanos t, const std::string& pod, int days, int hours) {
  return R"({"instance":")" + pod + R"(","level":"warning","msg":"Dapr root certificate expiration warning: )"
         R"(certificate expires in )" + std::to_string(days) + " days and " + std::to_string(hours) +
         R"( hours","scope":"dapr.sentry","time":")" + at(t) + R"(","type":"log","ver":"1.6.0"})" + "\n";
}
// Another pod's classified line at `t`: it moves event time on.
std::string other(Nanos t) {
  return R"({"app_id":"orders","instance":"orders-5d8f9c7b6-x2k4p","level":"error","msg":"Error renewing identity )"
         R"(certificate, trying again in 10 seconds: error from sentry SignCertificate: rpc error: code = Unavailable )"
         R"(desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify )"
         R"(certificate: x509: certificate signed by unknown authority (possibly because of \\\"x509: ECDSA )"
         R"(verification failure\\\" while trying to verify candidate authority certificate \\\"cluster.local\\\")\"",)"
         R"("scope":"dapr.runtime.security","time":")" + at(t) + R"(","type":"log","ver":"1.12.4"})" + "\n";
}

class ExpiryMetric : public ::testing::Test {
 protected:
  // Replays `log` through the built-in packs; returns the expiry series of /metrics.
  std::vector<std::string> series(const std::string& log, Nanos retention = 7 * 24 * kHour) {
    static const Matcher matcher = test::builtin_matcher();
    PipelineOptions po;
    po.tracker.expiry_retention = retention;
    po.warn = [](const std::string&) {};
    Pipeline pipeline(matcher, {}, po);
    pipeline.set_replay(true);
    cli::RunOptions options;
    options.tracker = po.tracker;
    options.status_board = std::make_shared<sinks::StatusBoard>();
    cli::StatusService status(options, pipeline, /*live=*/false);
    pipeline.feed("test.log", log);
    pipeline.end_stream("test.log");
    status.publish();
    metrics_ = options.status_board->answer("/metrics")->body;
    return test::metric_lines(metrics_, kExpiryMetric);
  }
  static double value(const std::string& line) { return std::stod(line.substr(line.rfind(' ') + 1)); }
  std::string metrics_;
};

TEST_F(ExpiryMetric, OneSeriesPerCertificateWhateverPodSaysItAndNoIncidentLabel) {
  // Two sentry pods (a restart) warn about the same root, then it is observed expired.
  const std::string log = warning(kT0, "dapr-sentry-68cbf79bb9-gdqdv", 2, 15) +
                          warning(kT0 + kHour, "dapr-sentry-68cbf79bb9-zzzzz", 2, 14) +
                          other(kT0 + 2 * kHour);
  const auto s = series(log);
  ASSERT_EQ(s.size(), 1u) << metrics_;
  EXPECT_NE(s[0].find(R"(certificate="dapr.trust_bundle")"), std::string::npos) << s[0];
  EXPECT_EQ(s[0].find("incident"), std::string::npos) << s[0];
  EXPECT_EQ(s[0].find("instance"), std::string::npos) << s[0];
  EXPECT_DOUBLE_EQ(value(s[0]), double((kT0 + 63 * kHour) / kNanosPerSecond));
}

TEST_F(ExpiryMetric, ARenewalReplacesTheValueInTheSameSeries) {
  const std::string log = warning(kT0, "dapr-sentry-a", 0, 5) + warning(kT0 + kHour, "dapr-sentry-b", 364, 0);
  const auto s = series(log);
  ASSERT_EQ(s.size(), 1u) << metrics_;
  EXPECT_DOUBLE_EQ(value(s[0]), double((kT0 + kHour + 364 * 24 * kHour) / kNanosPerSecond));
}

TEST_F(ExpiryMetric, KeptWhileExpiredForTheRetentionThenGone) {
  const std::string warn = warning(kT0, "dapr-sentry-a", 0, 5);
  EXPECT_EQ(series(warn + other(kT0 + 5 * kHour + 6 * 24 * kHour)).size(), 1u) << metrics_;
  EXPECT_EQ(series(warn + other(kT0 + 5 * kHour + 8 * 24 * kHour)).size(), 0u) << metrics_;
  // --expiry-retention 1h
  EXPECT_EQ(series(warn + other(kT0 + 7 * kHour), kHour).size(), 0u) << metrics_;
}

}  // namespace
}  // namespace klaxon
