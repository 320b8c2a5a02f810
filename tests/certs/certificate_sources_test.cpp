// tests/certs/certificate_sources_test.cpp — `--certs DIR` beside a log, through the real
// binary: the join (a Go `x509: certificate has expired ... is after T` line, where DIR holds
// the certificate whose not_after is T, folds into that certificate's incident, which names
// the file), the certificate alone on a pipe's wall clock, and no byte of a key in any output.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "engine/civil_time.hpp"
#include "tests/certs/test_certificates.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

using test::make_certificate;
using test::run_command;
using test::write_file;
constexpr std::time_t kDay = 86400;

std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find(needle) != std::string::npos) out.push_back(line);
  return out;
}

std::string key_body(const std::string& key_pem) {
  // The base64 of the key, without its armour: what must never appear anywhere.
  const auto begin = key_pem.find('\n') + 1;
  return key_pem.substr(begin, key_pem.find('\n', begin) - begin);
}

TEST(CertificateSources, AGoLineStatingTheEndJoinsTheFilesCertificate) {
  test::TempDir dir;
  const std::time_t end = 1686918677;  // 2023-06-16T12:31:17Z, the seeds' Dapr root
  const auto root = make_certificate(
      {.common_name = "cluster.local", .not_before = end - 365 * kDay, .not_after = end, .ca = true, .serial = 0x2a});
  const auto other = make_certificate({.common_name = "web", .not_before = end - 30 * kDay, .not_after = end + 200 * kDay});
  write_file(dir.path() / "certs" / "root.pem", root.pem());
  write_file(dir.path() / "certs" / "root.key", root.key_pem());
  write_file(dir.path() / "certs" / "web.pem", other.pem() + other.key_pem());
  write_file(dir.path() / "daprd.log",
             R"({"app_id":"app1","instance":"app1-123456-abc7","level":"error","msg":"error starting server: error from authenticator CreateSignedWorkloadCert: error from sentry SignCertificate: rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2023-06-19T13:19:51Z is after 2023-06-16T12:31:17Z\"","scope":"dapr.runtime.grpc.internal","time":"2023-06-19T13:19:53.535259601Z","type":"log","ver":"1.10.4"})"
             "\n"
             R"({"level":"error","ts":"2023-06-19T13:20:09.123Z","caller":"client/client.go:112","msg":"failed to sync","pod":"vault-agent-1","error":"Get \"https://vault.internal:8200/v1/sys/health\": tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2023-06-19T13:20:09Z is after 2023-06-16T12:31:17Z"})"
             "\n");
  const auto r = run_command(fmt::format("{} --format jsonl --certs {} {}", KLAXON_BINARY,
                                         (dir.path() / "certs").string(), (dir.path() / "daprd.log").string()));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string source = "file:" + (dir.path() / "certs" / "root.pem").string();
  const auto incidents = lines_with(r.out, R"("type":"incident")");
  ASSERT_FALSE(incidents.empty()) << r.out;
  for (const std::string& line : incidents) {
    // Every incident is the root's: both lines folded in, none opened its own.
    EXPECT_NE(line.find(fmt::format(R"("certificate":{{"source":"{}","subject":"CN=cluster.local","serial":"2A","not_after":"2023-06-16T12:31:17Z"}})",
                                    source)),
              std::string::npos)
        << line;
  }
  EXPECT_NE(incidents.back().find(R"("class":"cert_expired")"), std::string::npos) << incidents.back();
  const auto summary = lines_with(r.out, R"("type":"summary")");
  ASSERT_EQ(summary.size(), 1u);
  EXPECT_NE(summary[0].find(R"("incidents":{"total":1,)"), std::string::npos) << summary[0];
  EXPECT_NE(summary[0].find(R"("count":2,)"), std::string::npos) << "both lines counted in the root's incident\n" << summary[0];
  EXPECT_NE(summary[0].find(R"("pods":["app1-123456-abc7","vault-agent-1"])"), std::string::npos) << summary[0];
  EXPECT_NE(r.out.find(fmt::format(R"("runbook":"replace {} with a renewed certificate)", (dir.path() / "certs" / "root.pem").string())),
            std::string::npos);
  for (const std::string& body : {key_body(root.key_pem()), key_body(other.key_pem())}) {
    EXPECT_EQ(r.out.find(body), std::string::npos);
    EXPECT_EQ(r.err.find(body), std::string::npos);
  }
}

// A pipe is live: the certificate is judged on the wall clock with no log line at all.
TEST(CertificateSources, OnAPipeACertificateEndingIn10DaysIsAnIncidentWithoutAnyLine) {
  test::TempDir dir;
  const std::time_t now = std::time(nullptr);
  const auto soon = make_certificate({.common_name = "soon", .not_after = now + 10 * kDay});
  write_file(dir.path() / "tls.crt", soon.pem());
  write_file(dir.path() / "garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
  const auto r = run_command(fmt::format("printf '' | {} --format jsonl --certs {} --certs {}", KLAXON_BINARY,
                                         (dir.path() / "tls.crt").string(), (dir.path() / "garbage.pem").string()));
  EXPECT_EQ(r.status, 0) << r.err;
  const auto opened = lines_with(r.out, R"("event":"opened")");
  ASSERT_EQ(opened.size(), 1u) << r.out;
  EXPECT_NE(opened[0].find(R"("class":"cert_expiring_soon","severity":"warning")"), std::string::npos) << opened[0];
  EXPECT_NE(opened[0].find(fmt::format(R"("source":"file:{}")", (dir.path() / "tls.crt").string())), std::string::npos);
  EXPECT_NE(opened[0].find(fmt::format(R"("not_after":"{}")", format_rfc3339(Nanos(now + 10 * kDay) * kNanosPerSecond))),
            std::string::npos)
      << opened[0];
  EXPECT_NE(r.err.find(fmt::format("klaxon: cannot read certificates at file:{}", (dir.path() / "garbage.pem").string())),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace klaxon
