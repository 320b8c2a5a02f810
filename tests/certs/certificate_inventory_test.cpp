// tests/certs/certificate_inventory_test.cpp — reading certificates from files, bundles, DER and
// kubeconfigs: every field exact, every bad input one error that loses nothing else, and no
// byte of a key anywhere.
#include "adapters/certs/certificate_inventory.hpp"

#include <fstream>

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include "tests/certs/test_certificates.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon::certs {
namespace {

using test::CertificateSpec;
using test::make_certificate;

using test::base64;
constexpr std::time_t kDay = 86400;
using test::write_file;

std::string everything_said(const Inventory& inventory) {
  std::string all;
  for (const Certificate& c : inventory.certificates) all += to_json_line(c, Status::ok) + "\n";
  for (const ReadError& e : inventory.errors) all += e.source + ": " + e.message + "\n";
  return all;
}

// The base64 lines of a PEM key, each long enough to be unmistakable.
std::vector<std::string> key_lines(const std::string& key_pem) {
  std::vector<std::string> lines;
  std::istringstream in(key_pem);
  for (std::string line; std::getline(in, line);)
    if (line.size() >= 16 && !line.starts_with("-----")) lines.push_back(line);
  return lines;
}

TEST(CertificateInventory, ReadsEveryFieldOfAPemCertificateExactly) {
  const std::time_t not_before = 1'700'000'000, not_after = 1'800'000'123;
  const auto made = make_certificate({.common_name = "sentry.dapr-system.svc",
                                      .not_before = not_before,
                                      .not_after = not_after,
                                      .subject_alt_names = "DNS:sentry.dapr-system.svc,DNS:sentry,IP:10.0.0.7,IP:::1",
                                      .serial = 0x2A});
  Inventory inventory;
  EXPECT_EQ(read_certificates(made.pem(), "file:leaf.pem", inventory), 1u);
  ASSERT_EQ(inventory.certificates.size(), 1u);
  EXPECT_TRUE(inventory.errors.empty());
  const Certificate& c = inventory.certificates[0];
  EXPECT_EQ(c.source, "file:leaf.pem");
  EXPECT_EQ(c.subject, "CN=sentry.dapr-system.svc");
  EXPECT_EQ(c.issuer, "CN=sentry.dapr-system.svc");
  EXPECT_EQ(c.serial, "2A");
  EXPECT_EQ(c.not_before, not_before);
  EXPECT_EQ(c.not_after, not_after);
  EXPECT_EQ(format_seconds_rfc3339(c.not_after), "2027-01-15T08:02:03Z");
  EXPECT_EQ(c.dns_names, (std::vector<std::string>{"sentry.dapr-system.svc", "sentry"}));
  EXPECT_EQ(c.ip_addresses, (std::vector<std::string>{"10.0.0.7", "::1"}));
  EXPECT_FALSE(c.is_ca);
  EXPECT_TRUE(c.der.empty()) << "a leaf's DER is not kept";
  const std::string der = made.der();
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(der.data()), der.size(), digest);
  std::string expected;
  for (unsigned char b : digest) expected += fmt::format("{:02x}", b);
  EXPECT_EQ(c.sha256, expected);
}

TEST(CertificateInventory, JsonLineHasTheInterfaceShape) {
  const auto made = make_certificate(
      {.common_name = "ca", .not_before = 1'700'000'000, .not_after = 1'700'086'400, .ca = true, .serial = 255});
  Inventory inventory;
  read_certificates(made.pem(), "secret:linkerd/linkerd-identity-issuer/ca.crt", inventory);
  ASSERT_EQ(inventory.certificates.size(), 1u);
  const std::string line = to_json_line(inventory.certificates[0], Status::expired);
  EXPECT_TRUE(line.starts_with(
      R"({"type":"certificate","source":"secret:linkerd/linkerd-identity-issuer/ca.crt","subject":"CN=ca","issuer":"CN=ca","serial":"FF","sha256":")"))
      << line;
  EXPECT_TRUE(line.ends_with(
      R"(","not_before":"2023-11-14T22:13:20Z","not_after":"2023-11-15T22:13:20Z","dns_names":[],"ip_addresses":[],"is_ca":true,"status":"expired"})"))
      << line;
}

TEST(CertificateInventory, ABundleIsNumberedInOrderAndAKeyBesideItIsNeverRead) {
  const auto root = make_certificate({.common_name = "root", .ca = true});
  const auto issuer = make_certificate({.common_name = "issuer", .ca = true, .issuer = &root});
  const auto leaf = make_certificate({.common_name = "leaf", .issuer = &issuer});
  Inventory inventory;
  const std::string bundle = leaf.pem() + leaf.key_pem() + issuer.pem() + "\n# comment\n" + root.pem();
  EXPECT_EQ(read_certificates(bundle, "file:chain.pem", inventory), 3u);
  ASSERT_EQ(inventory.certificates.size(), 3u);
  EXPECT_EQ(inventory.certificates[0].source, "file:chain.pem#1");
  EXPECT_EQ(inventory.certificates[0].subject, "CN=leaf");
  EXPECT_EQ(inventory.certificates[0].issuer, "CN=issuer");
  EXPECT_EQ(inventory.certificates[1].source, "file:chain.pem#2");
  EXPECT_TRUE(inventory.certificates[1].is_ca);
  EXPECT_EQ(inventory.certificates[2].source, "file:chain.pem#3");
  EXPECT_EQ(inventory.certificates[2].subject, "CN=root");
  const std::string said = everything_said(inventory);
  const std::vector<std::string> key = key_lines(leaf.key_pem());
  ASSERT_FALSE(key.empty()) << "a key with no lines proves nothing";
  for (const std::string& line : key) EXPECT_EQ(said.find(line), std::string::npos);
}

TEST(CertificateInventory, ADamagedBlockIsOneErrorAndTheRestOfTheBundleIsRead) {
  const auto a = make_certificate({.common_name = "a"});
  const auto b = make_certificate({.common_name = "b"});
  std::string damaged = b.pem();
  damaged[40] = '!';  // not base64
  std::string truncated = a.pem();
  truncated.resize(truncated.size() / 2);  // no END line, then another block begins
  Inventory inventory;
  EXPECT_EQ(read_certificates(a.pem() + damaged + truncated + b.pem(), "file:mixed.pem", inventory), 2u);
  ASSERT_EQ(inventory.certificates.size(), 2u);
  EXPECT_EQ(inventory.certificates[0].source, "file:mixed.pem#1");
  EXPECT_EQ(inventory.certificates[1].source, "file:mixed.pem#4");
  ASSERT_EQ(inventory.errors.size(), 2u);
  EXPECT_EQ(inventory.errors[0].source, "file:mixed.pem#2");
  EXPECT_EQ(inventory.errors[0].message, "a certificate block that is not base64 (damaged PEM)");
  EXPECT_EQ(inventory.errors[1].source, "file:mixed.pem#3");
  EXPECT_EQ(inventory.errors[1].message, "a certificate block with no END line (truncated PEM)");
}

TEST(CertificateInventory, DerWholeIsReadAndTruncatedDerIsAnError) {
  const auto made = make_certificate({.common_name = "der"});
  Inventory inventory;
  EXPECT_EQ(read_certificates(made.der(), "file:cert.der", inventory), 1u);
  ASSERT_EQ(inventory.certificates.size(), 1u);
  EXPECT_EQ(inventory.certificates[0].subject, "CN=der");
  const std::string der = made.der();
  EXPECT_EQ(read_certificates(der.substr(0, der.size() - 10), "file:short.der", inventory), 0u);
  EXPECT_EQ(read_certificates(der + "tail", "file:long.der", inventory), 0u);
  ASSERT_EQ(inventory.errors.size(), 2u);
  EXPECT_EQ(inventory.errors[0].source, "file:short.der");
  EXPECT_EQ(inventory.errors[0].message, "not a valid X.509 certificate (truncated or damaged DER)");
  EXPECT_EQ(inventory.errors[1].source, "file:long.der");
}

TEST(CertificateInventory, GarbageIsAnErrorThatQuotesNothingOfIt) {
  Inventory inventory;
  EXPECT_EQ(read_certificates("\x1b]0;owned\x07 hello\n", "file:garbage.pem", inventory), 0u);
  ASSERT_EQ(inventory.errors.size(), 1u);
  EXPECT_EQ(inventory.errors[0].source, "file:garbage.pem");
  EXPECT_EQ(inventory.errors[0].message, "holds no certificate (not PEM, DER or a kubeconfig)");
}

TEST(CertificateInventory, NegativeSerialNoSanAndDatesPast2049) {
  const std::time_t far = 4102444800 + 10 * 365 * kDay;  // 2059
  const std::time_t forever = 253402300799;             // 9999-12-31T23:59:59Z (RFC 5280)
  const auto negative = make_certificate({.common_name = "negative", .not_after = far, .serial = -5});
  const auto eternal = make_certificate({.common_name = "eternal", .not_after = forever});
  Inventory inventory;
  read_certificates(negative.pem() + eternal.pem(), "file:odd.pem", inventory);
  ASSERT_EQ(inventory.certificates.size(), 2u) << everything_said(inventory);
  EXPECT_EQ(inventory.certificates[0].serial, "-05");
  EXPECT_EQ(inventory.certificates[0].not_after, far);
  EXPECT_TRUE(inventory.certificates[0].dns_names.empty());
  EXPECT_TRUE(inventory.certificates[0].ip_addresses.empty());
  EXPECT_EQ(inventory.certificates[1].not_after, forever);
  EXPECT_EQ(format_seconds_rfc3339(forever), "9999-12-31T23:59:59Z");
}

TEST(CertificateInventory, StatusAndLevelFollowTheThresholds) {
  const Seconds now = 2'000'000'000;
  const Thresholds t;  // 30d warning, 7d critical
  auto at = [&](Seconds not_before, Seconds not_after) {
    Certificate c;
    c.not_before = not_before;
    c.not_after = not_after;
    return assess(c, now, t);
  };
  auto is = [](Assessment a, Status s, Level l) { return a.status == s && a.level == l; };
  EXPECT_TRUE(is(at(now - kDay, now + 90 * kDay), Status::ok, Level::none));
  EXPECT_TRUE(is(at(now - kDay, now + 31 * kDay), Status::ok, Level::none));
  EXPECT_TRUE(is(at(now - kDay, now + 30 * kDay), Status::expiring_soon, Level::warning));
  EXPECT_TRUE(is(at(now - kDay, now + 10 * kDay), Status::expiring_soon, Level::warning));
  EXPECT_TRUE(is(at(now - kDay, now + 7 * kDay), Status::expiring_soon, Level::critical));
  EXPECT_TRUE(is(at(now - kDay, now), Status::expired, Level::critical));
  EXPECT_TRUE(is(at(now + 301, now + 90 * kDay), Status::not_yet_valid, Level::critical));
  EXPECT_TRUE(is(at(now + 300, now + 90 * kDay), Status::ok, Level::none)) << "within the clock skew allowed";
}

TEST(CertificateInventory, ADirectoryIsReadWholeKeysUnopenedGarbageNamed) {
  test::TempDir dir;
  const auto ca = make_certificate({.common_name = "ca", .ca = true});
  const auto leaf = make_certificate({.common_name = "leaf", .issuer = &ca});
  write_file(dir.path() / "tls.crt", leaf.pem());
  write_file(dir.path() / "tls.key", leaf.key_pem());
  write_file(dir.path() / "key.pem", leaf.key_pem());  // a key under another name: its header says so
  write_file(dir.path() / "sub" / "ca.der", ca.der());
  write_file(dir.path() / "sub" / "garbage.crt", "not a certificate\n");
  // A Kubernetes volume: ..data links to a dated directory; the files must be read once.
  write_file(dir.path() / "vol" / "..2026_12_07" / "ca.crt", ca.pem());
  std::filesystem::create_directory_symlink("..2026_12_07", dir.path() / "vol" / "..data");
  std::filesystem::create_symlink("..data/ca.crt", dir.path() / "vol" / "ca.crt");
  std::filesystem::create_directory_symlink(".", dir.path() / "sub" / "loop");  // not followed
  Inventory inventory;
  read_path(dir.path().string(), inventory);
  std::vector<std::string> sources;
  for (const auto& c : inventory.certificates) sources.push_back(c.source);
  const std::string root = "file:" + dir.path().string();
  EXPECT_EQ(sources, (std::vector<std::string>{root + "/sub/ca.der", root + "/tls.crt", root + "/vol/ca.crt"}));
  ASSERT_EQ(inventory.errors.size(), 1u) << everything_said(inventory);
  EXPECT_EQ(inventory.errors[0].source, root + "/sub/garbage.crt");
  const std::string said = everything_said(inventory);
  const std::vector<std::string> key = key_lines(leaf.key_pem());
  ASSERT_FALSE(key.empty()) << "a key with no lines proves nothing";
  for (const std::string& line : key) EXPECT_EQ(said.find(line), std::string::npos);
}

TEST(CertificateInventory, ANamedKeyFileOrMissingPathIsAnError) {
  test::TempDir dir;
  write_file(dir.path() / "only.key", make_certificate({}).key_pem());
  Inventory inventory;
  read_path((dir.path() / "only.key").string(), inventory);
  read_path((dir.path() / "missing.pem").string(), inventory);
  ASSERT_EQ(inventory.errors.size(), 2u);
  EXPECT_EQ(inventory.errors[0].message, "holds no certificate (a key or a request: not read)");
  EXPECT_EQ(inventory.errors[1].source, "file:" + (dir.path() / "missing.pem").string());
  EXPECT_EQ(inventory.errors[1].message, "no such file or directory");
}

TEST(CertificateInventory, AFileOverTheLimitIsNotRead) {
  test::TempDir dir;
  const auto made = make_certificate({});
  write_file(dir.path() / "big.pem", made.pem() + std::string(kMaxSourceBytes, '\n'));
  write_file(dir.path() / "ok.pem", made.pem());
  Inventory inventory;
  read_path(dir.path().string(), inventory);
  ASSERT_EQ(inventory.certificates.size(), 1u);
  ASSERT_EQ(inventory.errors.size(), 1u);
  EXPECT_EQ(inventory.errors[0].source, "file:" + (dir.path() / "big.pem").string());
  EXPECT_NE(inventory.errors[0].message.find("more than the 16 MiB"), std::string::npos) << inventory.errors[0].message;
}

TEST(CertificateInventory, KubeconfigEmbeddedAndReferencedCertificates) {
  test::TempDir dir;
  const auto ca = make_certificate({.common_name = "kubernetes", .ca = true});
  const auto admin = make_certificate({.common_name = "kubernetes-admin", .issuer = &ca});
  const auto other = make_certificate({.common_name = "other-ca", .ca = true});
  write_file(dir.path() / "pki" / "other-ca.crt", other.pem());
  const std::string kubeconfig = fmt::format(R"(apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: {}
- name: lab
  cluster:
    server: https://10.0.0.2:6443
    certificate-authority: pki/other-ca.crt
- name: broken
  cluster:
    certificate-authority: pki/missing.crt
users:
- name: admin
  user:
    client-certificate-data: {}
    client-key-data: {}
contexts: []
)",
                                             base64(ca.pem()), base64(admin.pem()), base64(admin.key_pem()));
  write_file(dir.path() / "config", kubeconfig);
  Inventory inventory;
  const std::string path = (dir.path() / "config").string();
  read_path(path, inventory);
  Labels found;
  for (const auto& c : inventory.certificates) found.emplace_back(c.source, c.subject);
  EXPECT_EQ(found, (Labels{
                       {"kubeconfig:" + path + ":cluster/prod", "CN=kubernetes"},
                       {"kubeconfig:" + path + ":cluster/lab", "CN=other-ca"},
                       {"kubeconfig:" + path + ":user/admin", "CN=kubernetes-admin"}}));
  ASSERT_EQ(inventory.errors.size(), 1u);
  EXPECT_EQ(inventory.errors[0].source, "kubeconfig:" + path + ":cluster/broken");
  const std::string said = everything_said(inventory);
  EXPECT_EQ(said.find(base64(admin.key_pem()).substr(0, 40)), std::string::npos);
}

}  // namespace
}  // namespace klaxon::certs
