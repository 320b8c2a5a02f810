// tests/certs/tls_probe_test.cpp — `klaxon certs --probe` against the real `openssl s_server` on
// 127.0.0.1, and against endpoints that are not TLS, refuse, or never answer.
#include <atomic>
#include <fstream>
#include <thread>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "adapters/certs/tls_probe.hpp"
#include "adapters/net/asio.hpp"
#include "adapters/sources/child_process.hpp"
#include "tests/certs/test_certificates.hpp"
#include "tests/support/klaxon_process.hpp"
#include "tests/support/test_support.hpp"

extern char** environ;

namespace klaxon {
namespace {

// A port nobody listens on now (the kernel's next free one).
std::uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

bool accepts(std::uint16_t port) {
  asio::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  return !ec;
}

// `openssl s_server` serving `cert` (and `chain` after it) until the test ends.
class OpensslServer {
 public:
  OpensslServer(const std::string& dir, const test::MadeCertificate& leaf, const test::MadeCertificate& chain) {
    std::ofstream(dir + "/cert.pem") << leaf.pem();
    std::ofstream(dir + "/key.pem") << leaf.key_pem();
    std::ofstream(dir + "/chain.pem") << chain.pem();
    port_ = free_port();
    const std::string openssl = sources::find_on_path("openssl");
    std::vector<std::string> args{openssl, "s_server", "-quiet", "-accept", fmt::format("127.0.0.1:{}", port_),
                                  "-cert", dir + "/cert.pem", "-key", dir + "/key.pem", "-cert_chain", dir + "/chain.pem"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);  // s_server echoes stdin to clients
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);  // its "unexpected eof" after each probe
    if (posix_spawn(&pid_, openssl.c_str(), &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < 200 && pid_ > 0 && !accepts(port_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ~OpensslServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::uint16_t port() const { return port_; }
  bool running() const { return pid_ > 0 && accepts(port_); }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

// A TCP endpoint that accepts one connection, reads what the client sends first, writes `reply`
// and closes; or (empty reply) says nothing and holds it until the test ends.
class RawServer {
 public:
  explicit RawServer(std::string reply) : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this, reply = std::move(reply)] {
      boost::system::error_code ec;
      acceptor_.accept(held_, ec);
      accepted_ = !ec;
      if (ec || reply.empty()) return;
      char hello[4096];
      held_.read_some(asio::buffer(hello), ec);  // the ClientHello, so that closing sends FIN, not RST
      asio::write(held_, asio::buffer(reply), ec);
      held_.close(ec);
    });
  }
  ~RawServer() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  bool accepted() const { return accepted_; }

 private:
  std::atomic<bool> accepted_{false};
  asio::io_context io_;
  tcp::acceptor acceptor_;
  tcp::socket held_{io_};
  std::thread thread_;
};

test::CommandResult probe(const std::string& args) {
  return test::run_command(std::string(KLAXON_BINARY) + " certs --format jsonl " + args);
}

TEST(TlsProbe, RecordsTheChainOpensslServes) {
  if (sources::find_on_path("openssl").empty()) {
    if (const char* ci = std::getenv("CI"); ci && std::string(ci) == "true") FAIL() << "openssl is not on PATH";
    GTEST_SKIP() << "openssl is not on PATH";
  }
  test::TempDir dir;
  const std::time_t now = std::time(nullptr);
  const auto ca = test::make_certificate({.common_name = "probe-ca", .not_after = now + 900 * 86400, .ca = true});
  const auto leaf = test::make_certificate({.common_name = "probe.example", .not_after = now + 3 * 86400,
                                            .subject_alt_names = "DNS:probe.example,IP:127.0.0.1", .serial = 77,
                                            .issuer = &ca});
  OpensslServer server(dir.path().string(), leaf, ca);
  ASSERT_TRUE(server.running());
  const std::string target = fmt::format("127.0.0.1:{}", server.port());
  const auto r = probe("--probe " + target + " --fail-on critical");
  EXPECT_EQ(r.status, 1) << "3 days left is critical\n" << r.err;
  const auto lines = [&] {
    std::vector<std::string> v;
    std::istringstream in(r.out);
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  }();
  ASSERT_EQ(lines.size(), 2u) << r.out << r.err;
  EXPECT_NE(lines[0].find(R"("source":"endpoint:)" + target + R"(#1","subject":"CN=probe.example","issuer":"CN=probe-ca","serial":"4D")"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[0].find(R"("dns_names":["probe.example"],"ip_addresses":["127.0.0.1"],"is_ca":false,"status":"expiring_soon")"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find(R"("source":"endpoint:)" + target + R"(#2","subject":"CN=probe-ca")"), std::string::npos) << lines[1];
  // SNI given: still the served chain, the target named with it.
  const auto sni = probe("--probe " + target + "@probe.example");
  EXPECT_NE(sni.out.find(R"("source":"endpoint:)" + target + R"(@probe.example#1")"), std::string::npos) << sni.out << sni.err;
}

TEST(TlsProbe, AnEndpointThatIsNotTlsRefusesOrHangsIsOneErrorEach) {
  RawServer http("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  RawServer silent("");
  const std::uint16_t closed = free_port();
  const auto r = probe(fmt::format("--probe 127.0.0.1:{} --probe 127.0.0.1:{} --probe 127.0.0.1:{} --probe-timeout 1s",
                                   http.port(), silent.port(), closed));
  EXPECT_EQ(r.status, 1) << "nothing could be read";
  EXPECT_NE(r.err.find(fmt::format("cannot read endpoint:127.0.0.1:{}: TLS handshake failed (is it TLS?)", http.port())),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(fmt::format("cannot read endpoint:127.0.0.1:{}: no answer in time (handshake)", silent.port())),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(fmt::format("cannot read endpoint:127.0.0.1:{}: connecting: Connection refused", closed)),
            std::string::npos)
      << r.err;
}

TEST(TlsProbe, TargetsAreParsedStrictly) {
  std::string error;
  auto t = certs::parse_probe_target("api.example:443", error);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->server_name, "api.example");
  EXPECT_EQ(t->source, "endpoint:api.example:443");
  t = certs::parse_probe_target("[::1]:8443@mesh.local", error);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->server_name, "mesh.local");
  t = certs::parse_probe_target("10.0.0.1:443", error);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->server_name, "") << "no SNI for an IP";
  EXPECT_FALSE(certs::parse_probe_target("10.0.0.1", error));
  EXPECT_FALSE(certs::parse_probe_target("host:99999", error));
  EXPECT_FALSE(certs::parse_probe_target("host:443@", error));
  EXPECT_EQ(probe("--probe nonsense").status, 2);
}

// Ctrl-C (or a service manager's SIGTERM, the same handler) while --probe waits on an endpoint
// that accepted and never answers: klaxon ends at once, the probe cancelled rather than run to
// its 10 s timeout, so no "no answer in time" is said. On a pipe (the sources read once before
// the first line) and in a live mode (the probe on the certificate watch's thread).
TEST(TlsProbe, StoppingDuringAProbeCancelsIt) {
  for (const bool live : {false, true}) {
    RawServer silent("");
    const std::string target = fmt::format("127.0.0.1:{}", silent.port());
    std::vector<std::string> args{"--format", "jsonl", "--probe", target};
    if (live) args.insert(args.end(), {"serve", "--listen", "127.0.0.1:0"});
    test::KlaxonProcess k(args);
    const auto deadline = std::chrono::steady_clock::now() + test::kProcessWait;
    while (!silent.accepted() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(silent.accepted()) << k.err();
    EXPECT_EQ(k.stop(), 0) << (live ? "serve" : "pipe") << "\n" << k.err();
    EXPECT_EQ(k.err().find("no answer in time"), std::string::npos) << (live ? "serve" : "pipe") << "\n" << k.err();
  }
}

}  // namespace
}  // namespace klaxon
