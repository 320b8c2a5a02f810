// The global --listen port (status page, /metrics, /api/*) facing a network: TLS with a test CA,
// client certificates, a bearer token or basic-auth users, each re-read when its file changes
// (a rotated Secret mounted as a file). The client is curl, as an operator or a scraper would
// run it; every failure is a real client refused: a failed handshake or a 401.
#include <gtest/gtest.h>

#include <crypt.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "adapters/sources/child_process.hpp"
#include "tests/certs/test_certificates.hpp"
#include "tests/support/peer.hpp"
#include "tests/support/process.hpp"

namespace klaxon {
namespace {

namespace fs = std::filesystem;

const std::string kExpiredLine =
    "[pod/orders-7d9f/daprd] 2024-04-01T23:50:00Z x509: certificate has expired or is not yet valid: current time "
    "2024-04-01T23:50:00Z is after 2024-03-30T12:31:17Z";

struct Dir {
  explicit Dir(const std::string& name)
      : path(fs::temp_directory_path() / ("klaxon-listen-guard-" + name + "-" + std::to_string(::getpid()))) {
    fs::create_directories(path);
  }
  ~Dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& file) const { return (path / file).string(); }
  // A CA and a pair it signed, written as NAME-ca.pem, NAME.pem, NAME-key.pem.
  test::MadeCertificate issue(const std::string& name, const std::string& san) const {
    const auto ca = test::make_certificate({.common_name = name + " CA", .ca = true});
    const auto leaf = test::make_certificate({.common_name = name, .subject_alt_names = san, .serial = 2, .issuer = &ca});
    test::write_file(path / (name + "-ca.pem"), ca.pem());
    test::write_file(path / (name + ".pem"), leaf.pem());
    test::write_file(path / (name + "-key.pem"), leaf.key_pem());
    return ca;
  }
  // As the kubelet updates a mounted Secret: a new file renamed over the old one.
  void replace(const std::string& file, const std::string& content) const {
    test::write_file(path / (file + ".new"), content);
    fs::rename(path / (file + ".new"), path / file);
  }
  fs::path path;
};

// A bcrypt hash of `password` (cost 4: a test, not a vault), as `htpasswd -nbB` writes.
std::string bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof salt)) throw std::runtime_error("no bcrypt salt");
  auto data = std::make_unique<crypt_data>();
  const char* hash = crypt_rn(password.c_str(), salt, data.get(), int(sizeof(crypt_data)));
  if (!hash || hash[0] == '*') throw std::runtime_error("no bcrypt");
  return hash;
}

struct Fetched {
  int curl = -1;  // curl's exit status: 0 when an HTTP answer came
  int status = 0;  // the HTTP status, when one came
  std::string head, body, err;
};

// GET `url` with curl and `options` (--cacert, -u, -H, --cert ...), bounded in time.
Fetched curl(const std::string& url, std::vector<std::string> options = {}) {
  std::vector<std::string> argv{sources::find_on_path("curl"), "-sS", "--max-time", "10", "-D", "/dev/stderr", "-o", "/dev/stdout"};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back(url);
  const auto r = test::run_process(argv, test::ProcessOptions{}.with_limit(std::chrono::seconds(30)));
  Fetched f{r.status, 0, r.err, r.out, r.err};
  if (r.status == 0 && r.err.starts_with("HTTP/")) f.status = std::stoi(r.err.substr(r.err.find(' ') + 1, 3));
  return f;
}

// /metrics fetched until it holds `series` (it is published every second), at most 20 s.
std::string metrics_with(const std::string& base, const std::vector<std::string>& options, const std::string& series) {
  std::string body;
  for (int i = 0; i < 100 && body.find(series) == std::string::npos; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    body = curl(base + "/metrics", options).body;
  }
  return body;
}

#define REQUIRE_CURL() KLAXON_REQUIRE_PEER(!sources::find_on_path("curl").empty(), "curl is not installed (apt-get install curl)")

// A replay held open on a port guarded by `guard` flags; the address it prints.
struct Held {
  Held(const Dir& dir, std::vector<std::string> guard, const std::string& scheme) {
    test::write_file(dir.path / "incident.log", kExpiredLine + "\n");
    std::vector<std::string> args{"--listen", "127.0.0.1:0", "--hold"};
    args.insert(args.end(), guard.begin(), guard.end());
    args.push_back(dir / "incident.log");
    k = std::make_unique<test::KlaxonProcess>(args);
    base = scheme + "://" + k->address("status on " + scheme + "://");
    EXPECT_TRUE(k->wait_for_err("replay done; holding " + base)) << k->err();
  }
  std::unique_ptr<test::KlaxonProcess> k;
  std::string base;
};

TEST(ListenGuard, TlsAndBasicAuthLetInOnlyTheRightClient) {
  REQUIRE_CURL();
  Dir dir("basic");
  dir.issue("server", "IP:127.0.0.1");
  test::write_file(dir.path / "users", "prometheus:" + bcrypt("scrape-pass") + "\n");
  Held h(dir, {"--tls-cert-file", dir / "server.pem", "--tls-key-file", dir / "server-key.pem", "--basic-auth-file", dir / "users"},
         "https");
  const std::string ca = dir / "server-ca.pem";

  const Fetched in = curl(h.base + "/metrics", {"--cacert", ca, "-u", "prometheus:scrape-pass"});
  ASSERT_EQ(in.status, 200) << in.err;
  EXPECT_NE(in.body.find("klaxon_matches_total{"), std::string::npos) << in.body;
  EXPECT_EQ(curl(h.base + "/api/incidents", {"--cacert", ca, "-u", "prometheus:scrape-pass"}).status, 200);
  // Refused: a client that does not trust the test CA, plain HTTP on the TLS port, no
  // credential, a wrong password, an unknown user.
  EXPECT_EQ(curl(h.base + "/metrics", {"-u", "prometheus:scrape-pass"}).curl, 60) << "curl trusted an unknown CA";
  const std::string plain = "http" + h.base.substr(5);
  EXPECT_NE(curl(plain + "/metrics", {"-u", "prometheus:scrape-pass"}).status, 200);
  const Fetched none = curl(h.base + "/metrics", {"--cacert", ca});
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.head.find("WWW-Authenticate: Basic realm=\"klaxon\""), std::string::npos) << none.head;
  EXPECT_EQ(none.body.find("klaxon_"), std::string::npos) << "a refused client saw metrics:\n" << none.body;
  EXPECT_EQ(curl(h.base + "/", {"--cacert", ca, "-u", "prometheus:guess"}).status, 401);
  EXPECT_EQ(curl(h.base + "/api/incidents", {"--cacert", ca, "-u", "nobody:scrape-pass"}).status, 401);
  // Probes carry no credential.
  EXPECT_EQ(curl(h.base + "/healthz", {"--cacert", ca}).status, 200);
  EXPECT_EQ(curl(h.base + "/readyz", {"--cacert", ca}).status, 200);
  // The refusals are counted.
  const std::string refused = "klaxon_listen_refused_total{reason=\"credential\"} 3\n";
  const std::string counted = metrics_with(h.base, {"--cacert", ca, "-u", "prometheus:scrape-pass"}, refused);
  EXPECT_NE(counted.find(refused), std::string::npos) << counted;

  EXPECT_EQ(h.k->stop(SIGINT), 0) << h.k->err();
  const std::string err = h.k->err();
  EXPECT_NE(err.find("status on https://"), std::string::npos) << err;
  EXPECT_NE(err.find("; TLS, basic auth (1 user))"), std::string::npos) << err;
  EXPECT_NE(err.find("(401): wrong credential"), std::string::npos) << err;
  EXPECT_EQ(err.find("scrape-pass"), std::string::npos) << "a password was printed:\n" << err;
}

TEST(ListenGuard, MutualTlsRefusesAClientWithoutACertificateFromTheCa) {
  REQUIRE_CURL();
  Dir dir("mtls");
  const auto ca = dir.issue("server", "IP:127.0.0.1");
  const auto client = test::make_certificate({.common_name = "prometheus", .serial = 3, .issuer = &ca});
  test::write_file(dir.path / "client.pem", client.pem());
  test::write_file(dir.path / "client-key.pem", client.key_pem());
  dir.issue("stranger", "");  // a client certificate from another CA
  Held h(dir, {"--tls-cert-file", dir / "server.pem", "--tls-key-file", dir / "server-key.pem", "--client-ca-file",
               dir / "server-ca.pem"},
         "https");
  const std::string trust = dir / "server-ca.pem";

  EXPECT_NE(curl(h.base + "/metrics", {"--cacert", trust}).status, 200) << "no client certificate";
  EXPECT_NE(curl(h.base + "/metrics", {"--cacert", trust, "--cert", dir / "stranger.pem", "--key", dir / "stranger-key.pem"}).status, 200)
      << "a client certificate from another CA";
  const std::vector<std::string> trusted{"--cacert", trust, "--cert", dir / "client.pem", "--key", dir / "client-key.pem"};
  const Fetched in = curl(h.base + "/metrics", trusted);
  ASSERT_EQ(in.status, 200) << in.err;
  const std::string refused = "klaxon_listen_refused_total{reason=\"tls\"} 2\n";
  const std::string counted = metrics_with(h.base, trusted, refused);
  EXPECT_NE(counted.find(refused), std::string::npos) << counted;
  EXPECT_EQ(h.k->stop(SIGINT), 0) << h.k->err();
  EXPECT_NE(h.k->err().find("; TLS, client certificates required)"), std::string::npos) << h.k->err();
  EXPECT_NE(h.k->err().find("--listen: TLS handshake with 127.0.0.1 failed"), std::string::npos) << h.k->err();
}

// A Secret rotated under a running klaxon: the token, the users and the certificate in force are
// the files' current ones from the next request on; a file that does not load keeps the last
// good one, said once.
TEST(ListenGuard, RotatedTokenUsersAndCertificateCountWithoutARestart) {
  REQUIRE_CURL();
  Dir dir("rotate");
  dir.issue("server", "IP:127.0.0.1");
  dir.issue("renewed", "IP:127.0.0.1");  // cert-manager's next certificate, from another CA here
  test::write_file(dir.path / "token", "token-before-0123\n");
  test::write_file(dir.path / "users", "grafana:" + bcrypt("old-pass") + "\n");
  Held h(dir, {"--tls-cert-file", dir / "server.pem", "--tls-key-file", dir / "server-key.pem", "--bearer-token-file",
               dir / "token", "--basic-auth-file", dir / "users"},
         "https");
  const std::string old_ca = dir / "server-ca.pem", new_ca = dir / "renewed-ca.pem";
  auto bearer = [](const std::string& token) { return "Authorization: Bearer " + token; };

  EXPECT_EQ(curl(h.base + "/metrics", {"--cacert", old_ca, "-H", bearer("token-before-0123")}).status, 200);
  EXPECT_EQ(curl(h.base + "/metrics", {"--cacert", old_ca, "-u", "grafana:old-pass"}).status, 200);
  dir.replace("token", "token-after-4567\n");
  dir.replace("users", "grafana:" + bcrypt("new-pass") + "\n");
  EXPECT_EQ(curl(h.base + "/metrics", {"--cacert", old_ca, "-H", bearer("token-before-0123")}).status, 401)
      << "the rotated-out token still works";
  EXPECT_EQ(curl(h.base + "/metrics", {"--cacert", old_ca, "-u", "grafana:old-pass"}).status, 401)
      << "the old password still works (remembered from before the rotation)";
  EXPECT_EQ(curl(h.base + "/metrics", {"--cacert", old_ca, "-H", bearer("token-after-4567")}).status, 200);
  EXPECT_EQ(curl(h.base + "/metrics", {"--cacert", old_ca, "-u", "grafana:new-pass"}).status, 200);
  // The certificate: renamed over, as cert-manager's renewal is mounted.
  for (const std::string suffix : {".pem", "-key.pem"}) fs::rename(dir.path / ("renewed" + suffix), dir.path / ("server" + suffix));
  EXPECT_EQ(curl(h.base + "/metrics", {"--cacert", new_ca, "-H", bearer("token-after-4567")}).status, 200)
      << "the renewed certificate is not served";
  EXPECT_EQ(curl(h.base + "/metrics", {"--cacert", old_ca, "-H", bearer("token-after-4567")}).curl, 60)
      << "the old certificate is still served";
  // A half-written rotation (an empty token file) keeps the token in force, said once.
  dir.replace("token", "");
  EXPECT_EQ(curl(h.base + "/metrics", {"--cacert", new_ca, "-H", bearer("token-after-4567")}).status, 200);
  EXPECT_EQ(curl(h.base + "/metrics", {"--cacert", new_ca, "-H", bearer("token-after-4567")}).status, 200);
  EXPECT_EQ(curl(h.base + "/metrics", {"--cacert", new_ca, "-H", "Authorization: Bearer "}).status, 401);

  EXPECT_EQ(h.k->stop(SIGINT), 0) << h.k->err();
  const std::string err = h.k->err();
  EXPECT_NE(err.find("--listen: credentials reloaded"), std::string::npos) << err;
  EXPECT_NE(err.find("--listen: TLS certificate reloaded"), std::string::npos) << err;
  const std::string kept = "still asking for the previous credentials";
  ASSERT_NE(err.find(kept), std::string::npos) << err;
  EXPECT_EQ(err.find(kept), err.rfind(kept)) << "said once per change:\n" << err;
  for (const std::string secret : {"token-before-0123", "token-after-4567", "old-pass", "new-pass"})
    EXPECT_EQ(err.find(secret), std::string::npos) << "a secret was printed:\n" << err;
}

TEST(ListenGuard, BadOrMisplacedFlagsAreUsageErrors) {
  Dir dir("bad");
  dir.issue("server", "IP:127.0.0.1");
  dir.issue("other", "IP:127.0.0.1");
  test::write_file(dir.path / "a.log", kExpiredLine + "\n");
  auto run = [&](std::vector<std::string> args) {
    args.push_back(dir / "a.log");
    return test::run_klaxon(args);
  };
  auto r = run({"--bearer-token-file", dir / "server.pem"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("add --listen HOST:PORT"), std::string::npos) << r.err;
  r = run({"--listen", "127.0.0.1:0", "--tls-cert-file", dir / "server.pem"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("go together"), std::string::npos) << r.err;
  r = run({"--listen", "127.0.0.1:0", "--tls-cert-file", dir / "server.pem", "--tls-key-file", dir / "other-key.pem"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--listen --tls-key-file"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("is not the key of the certificate"), std::string::npos) << r.err;
  r = run({"--listen", "127.0.0.1:0", "--basic-auth-file", dir / "nonexistent"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--listen --basic-auth-file"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace klaxon
