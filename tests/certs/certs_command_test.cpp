// tests/certs/certs_command_test.cpp — `klaxon certs` through the real binary, on a directory of
// the certificates an operator has: expired, ending in 10 days, not yet valid, healthy, a
// bundle, a kubeconfig, keys, and garbage. Cross-checked against the openssl command.
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "engine/civil_time.hpp"
#include "tests/certs/test_certificates.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

using test::make_certificate;
using test::run_command;

using test::base64;
constexpr std::time_t kDay = 86400;
using test::write_file;

std::string klaxon_certs(const std::string& args) { return std::string(KLAXON_BINARY) + " certs " + args; }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class CertsCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::time_t now = std::time(nullptr);
    const auto ca = make_certificate({.common_name = "cluster-ca", .not_after = now + 3650 * kDay, .ca = true});
    expired_ = make_certificate({.common_name = "expired", .not_before = now - 400 * kDay, .not_after = now - 2 * kDay,
                                 .issuer = &ca});
    soon_ = make_certificate({.common_name = "soon", .not_after = now + 10 * kDay, .serial = 0x1001, .issuer = &ca});
    future_ = make_certificate({.common_name = "future", .not_before = now + 5 * kDay, .not_after = now + 400 * kDay});
    healthy_ = make_certificate({.common_name = "healthy", .not_after = now + 200 * kDay, .issuer = &ca});
    const auto root = make_certificate({.common_name = "bundle-root", .not_after = now + 900 * kDay, .ca = true});
    const auto admin = make_certificate({.common_name = "admin", .not_after = now + 300 * kDay, .issuer = &ca});
    const auto d = dir_.path();
    write_file(d / "expired.pem", expired_.pem());
    write_file(d / "soon" / "tls.crt", soon_.pem());
    write_file(d / "soon" / "tls.key", soon_.key_pem());
    write_file(d / "future.der", future_.der());
    write_file(d / "healthy.pem", healthy_.pem() + healthy_.key_pem());
    write_file(d / "bundle.pem", ca.pem() + root.pem());
    write_file(d / "garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n");
    write_file(d / "kube" / "config", fmt::format(R"(apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {{server: "https://10.0.0.1:6443", certificate-authority-data: {}}}
users:
- name: admin
  user: {{client-certificate-data: {}, client-key-data: {}}}
)",
                                             base64(ca.pem()), base64(admin.pem()), base64(admin.key_pem())));
    keys_ = {soon_.key_pem(), healthy_.key_pem(), admin.key_pem(), base64(admin.key_pem())};
  }

  // No 16-byte piece of any key appears in `text`.
  void expect_no_key_bytes(const std::string& text) {
    for (const std::string& key : keys_) {
      for (const std::string& line : lines_of(key)) {
        if (line.starts_with("-----")) continue;
        for (std::size_t at = 0; at + 16 <= line.size(); at += 16)
          ASSERT_EQ(text.find(line.substr(at, 16)), std::string::npos) << "key bytes in the output";
      }
    }
  }

  test::TempDir dir_;
  test::MadeCertificate expired_, soon_, future_, healthy_;
  std::vector<std::string> keys_;
};

TEST_F(CertsCommand, TextListsEveryCertificateSoonestFirstAndNamesTheGarbage) {
  const std::string d = dir_.path().string();
  const auto r = run_command(klaxon_certs(d));
  EXPECT_EQ(r.status, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 11u) << r.out;  // header, 8 certificates, summary, the not-yet-valid note
  EXPECT_TRUE(lines[1].starts_with("EXPIRED ")) << lines[1];
  EXPECT_NE(lines[1].find("file:" + d + "/expired.pem  CN=expired"), std::string::npos) << lines[1];
  EXPECT_TRUE(lines[2].starts_with("WARNING ")) << lines[2];
  EXPECT_NE(lines[2].find("file:" + d + "/soon/tls.crt  CN=soon"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find(" 10d "), std::string::npos) << lines[2];
  EXPECT_TRUE(lines[3].starts_with("ok ")) << lines[3];
  EXPECT_NE(lines[3].find("CN=healthy"), std::string::npos);
  EXPECT_NE(lines[4].find("kubeconfig:" + d + "/kube/config:user/admin  CN=admin"), std::string::npos) << lines[4];
  EXPECT_TRUE(lines[5].starts_with("NOT-YET-VALID ")) << lines[5];
  EXPECT_NE(r.out.find("file:" + d + "/bundle.pem#2  CN=bundle-root"), std::string::npos);
  EXPECT_NE(r.out.find("kubeconfig:" + d + "/kube/config:cluster/prod  CN=cluster-ca"), std::string::npos);
  EXPECT_EQ(lines[9], "8 certificates: 1 expired, 1 expiring soon, 1 not yet valid, 5 ok; 1 unreadable (named above)");
  EXPECT_TRUE(lines[10].starts_with("NOT-YET-VALID: its notBefore is ahead of this clock by more than 5m. Check the clocks first"))
      << lines[10];
  EXPECT_EQ(r.err, "klaxon certs: cannot read file:" + d + "/garbage.pem: a certificate block that is not base64 (damaged PEM)\n");
  expect_no_key_bytes(r.out + r.err);
}

TEST_F(CertsCommand, JsonlHasExactDatesStatusesAndAgreesWithOpenssl) {
  const std::string d = dir_.path().string();
  const auto r = run_command(klaxon_certs("--format jsonl " + d));
  EXPECT_EQ(r.status, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 9u) << r.out;  // 8 certificates, 1 error record
  EXPECT_NE(lines[0].find(R"("status":"expired")"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find(R"("status":"expiring_soon")"), std::string::npos) << lines[1];
  EXPECT_NE(lines[4].find(R"("status":"not_yet_valid")"), std::string::npos) << lines[4];
  EXPECT_EQ(lines[8], R"({"type":"error","source":"file:)" + d +
                          R"x(/garbage.pem","message":"a certificate block that is not base64 (damaged PEM)"})x");
  // not_after and serial as openssl itself reads them from the same file.
  const auto end = run_command("openssl x509 -noout -enddate -serial -in " + d + "/soon/tls.crt");
  ASSERT_EQ(end.status, 0) << end.err;
  const auto fields = lines_of(end.out);
  ASSERT_EQ(fields.size(), 2u);
  const auto not_after = parse_instant(fields[0].substr(fields[0].find('=') + 1));
  ASSERT_TRUE(not_after);
  EXPECT_NE(lines[1].find(R"("not_after":")" + format_rfc3339(*not_after) + "\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find(R"("serial":")" + fields[1].substr(fields[1].find('=') + 1) + "\""), std::string::npos)
      << lines[1] << " vs " << fields[1];
  expect_no_key_bytes(r.out + r.err);
}

TEST_F(CertsCommand, FailOnSetsTheExitStatus) {
  const std::string d = dir_.path().string();
  EXPECT_EQ(run_command(klaxon_certs("--fail-on critical " + d)).status, 1);  // expired
  EXPECT_EQ(run_command(klaxon_certs("--fail-on warning " + d + "/soon")).status, 1);
  EXPECT_EQ(run_command(klaxon_certs("--fail-on critical " + d + "/soon")).status, 0);  // 10 days: a warning
  EXPECT_EQ(run_command(klaxon_certs("--critical-before 14d --fail-on critical " + d + "/soon")).status, 1);
  EXPECT_EQ(run_command(klaxon_certs("--warn-before 5d --critical-before 2d --fail-on warning " + d + "/soon")).status, 0);
  EXPECT_EQ(run_command(klaxon_certs("--fail-on warning " + d + "/healthy.pem")).status, 0);
  const auto missing = run_command(klaxon_certs(d + "/nothing-here"));
  EXPECT_EQ(missing.status, 1) << "nothing read at all";
  EXPECT_NE(missing.err.find("cannot read file:" + d + "/nothing-here: no such file or directory"), std::string::npos);
  EXPECT_EQ(run_command(klaxon_certs("--warn-before soon " + d)).status, 2);
}

}  // namespace
}  // namespace klaxon
