// The real binary with real peers on 127.0.0.1: `klaxon serve` receiving Loki pushes (hand-made
// protobuf+snappy and bad bodies over raw HTTP, and winston-loki, a client nobody here wrote),
// and `--listen` serving /metrics that is scraped, parsed and checked against what was fed.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <crypt.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <snappy.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapters/sources/loki_push.pb.h"
#include "tests/certs/test_certificates.hpp"
#include "tests/support/peer.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kBin = KLAXON_BINARY;
const std::string kSource = KLAXON_SOURCE_DIR;
constexpr auto kWait = 20s;  // for anything to happen; a hung peer fails the test after this

const std::string kDaprLine =
    R"({"instance":"dapr-sentry-68cbf79bb9-gdqdv","level":"warning","msg":"Dapr root certificate expiration warning: )"
    R"(certificate expires in 2 days and 15 hours","scope":"dapr.sentry","time":"2024-04-01T23:43:35.931825236Z","type":"log","ver":"1.6.0"})";
const std::string kExpiredLine =
    "2024-04-01T23:50:00Z warn grpc: addrConn.createTransport failed to connect: transport: authentication handshake "
    "failed: x509: certificate has expired or is not yet valid: current time 2024-04-01T23:50:00Z is after "
    "2024-03-30T12:31:17Z";

using Klaxon = test::KlaxonProcess;

struct HttpReply {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;
};

// One HTTP/1.1 request with Connection: close, on a socket with send/receive timeouts.
HttpReply http(const std::string& address, const std::string& method, const std::string& target,
               const std::string& body = "", const std::vector<std::string>& headers = {}) {
  HttpReply r;
  const std::size_t colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(std::uint16_t(std::stoi(address.substr(colon + 1))));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return r;
  }
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + address + "\r\nConnection: close\r\n";
  for (const auto& h : headers) req += h + "\r\n";
  if (method == "POST") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  for (std::size_t sent = 0; sent < req.size();) {
    const ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // klaxon may answer (413) and close before reading it all
    sent += std::size_t(n);
  }
  std::string in;
  char buf[65536];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) in.append(buf, std::size_t(n));
  ::close(fd);
  if (in.rfind("HTTP/1.1 ", 0) == 0) r.status = std::stoi(in.substr(9, 3));
  const std::size_t head_end = in.find("\r\n\r\n");
  if (head_end != std::string::npos) {
    r.head = in.substr(0, head_end);
    r.body = in.substr(head_end + 4);
  }
  return r;
}

// Prometheus text to {"name{labels}" -> value}; every sample line must parse.
std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    if (space == std::string::npos) continue;
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

double metric(const std::map<std::string, double>& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? -1 : it->second;
}

// Scrapes until `done` holds or kWait passes; returns the last scrape.
template <class Done>
std::map<std::string, double> scrape_until(const std::string& address, Done done) {
  std::map<std::string, double> m;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    const HttpReply r = http(address, "GET", "/metrics");
    if (r.status == 200) {
      m = parse_metrics(r.body);
      if (done(m)) return m;
    }
    std::this_thread::sleep_for(50ms);
  }
  return m;
}

std::string protobuf_push(const std::string& labels, const std::vector<std::string>& lines) {
  logproto::PushRequest req;
  auto* s = req.add_streams();
  s->set_labels(labels);
  std::int64_t ns = 1712015015931825236;
  for (const auto& line : lines) {
    auto* e = s->add_entries();
    e->mutable_timestamp()->set_seconds(ns / 1'000'000'000);
    e->mutable_timestamp()->set_nanos(int(ns % 1'000'000'000));
    e->set_line(line);
    ns += 1'000'000;
  }
  std::string raw, compressed;
  req.SerializeToString(&raw);
  snappy::Compress(raw.data(), raw.size(), &compressed);
  return compressed;
}

const std::string kLinesKey = "klaxon_lines_read_total{source=\"loki_push\"}";

TEST(Serve, HandMadeProtobufPushIsClassifiedAndBadBodiesAreRefusedWithoutLoss) {
  Klaxon k({"--format", "jsonl", "--matches", "serve", "--listen", "127.0.0.1:0", "--max-body-mib", "16"});
  const std::string at = k.address("pushes on http://");
  const std::string path = "/loki/api/v1/push";
  const std::vector<std::string> proto{"Content-Type: application/x-protobuf"};

  EXPECT_EQ(http(at, "GET", "/ready").status, 200);
  const HttpReply good = http(at, "POST", path, protobuf_push(R"({app="dapr-sentry", namespace="dapr-system"})", {kDaprLine, "hello"}), proto);
  EXPECT_EQ(good.status, 204) << good.body;

  // Bad bodies: each refused with a status and a message saying what to do; nothing is fed.
  std::string truncated = protobuf_push(R"({app="broken"})", {kExpiredLine, std::string(500, 'x')});
  truncated.resize(truncated.size() / 2);
  HttpReply r = http(at, "POST", path, truncated, proto);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("snappy"), std::string::npos) << r.body;
  r = http(at, "POST", path, protobuf_push(R"({app="broken"})", {kExpiredLine}), {"Content-Type: text/plain"});
  EXPECT_EQ(r.status, 415);
  EXPECT_NE(r.body.find("application/x-protobuf"), std::string::npos) << r.body;
  r = http(at, "POST", path, R"({"streams":[{"stream":{"app":"broken"},"values":[["x",")" + kExpiredLine + "\"]]}]}",
           {"Content-Type: application/json"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("unix ns"), std::string::npos) << r.body;
  r = http(at, "POST", path, std::string(17u << 20, 'a'), proto);  // over --max-body-mib 16
  EXPECT_EQ(r.status, 413) << r.body;

  // A 10 MiB line: accepted, cut at --max-line-bytes (its head still matched), counted.
  const std::string huge = kExpiredLine + " " + std::string(10u << 20, 'z');
  r = http(at, "POST", path,
           R"({"streams":[{"stream":{"app":"huge"},"values":[["1687180791000000000",")" + huge + "\"]]}]}",
           {"Content-Type: application/json"});
  EXPECT_EQ(r.status, 204) << r.body;
  // And a stream after all that still works (JSON, gzip-less).
  r = http(at, "POST", path,
           R"({"streams":[{"stream":{"app":"after"},"values":[["1687180792000000000",")" + kExpiredLine + "\"]]}]}",
           {"Content-Type: application/json"});
  EXPECT_EQ(r.status, 204) << r.body;

  // /metrics on the push port, as Loki serves it on 3100.
  const auto m = scrape_until(at, [](const auto& m) { return metric(m, kLinesKey) >= 4; });
  EXPECT_EQ(metric(m, kLinesKey), 4);  // 2 + the huge one + after; refused bodies fed nothing
  EXPECT_EQ(metric(m, R"(klaxon_matches_total{rule="dapr.root_cert_expiring",class="cert_expiring_soon"})"), 1);
  EXPECT_EQ(metric(m, R"(klaxon_lines_dropped_total{reason="too_long"})"), 1);
  EXPECT_EQ(metric(m, R"(klaxon_source_events_total{event="loki_push_rejected"})"), 4);
  EXPECT_EQ(metric(m, R"(klaxon_source_events_total{event="loki_push_requests_protobuf"})"), 1);
  EXPECT_EQ(metric(m, R"(klaxon_source_events_total{event="loki_push_requests_json"})"), 2);
  EXPECT_EQ(metric(m, R"(klaxon_source_connected{source="loki_push"})"), 1);

  EXPECT_EQ(k.stop(), 0) << k.err();
  const std::string out = k.out();
  EXPECT_NE(out.find(R"("rule":"dapr.root_cert_expiring")"), std::string::npos) << out.substr(0, 2000);
  EXPECT_NE(out.find(R"("app":"dapr-sentry")"), std::string::npos);  // stream labels reach the output
  EXPECT_EQ(out.find(R"("app":"broken")"), std::string::npos) << "a refused body must feed nothing";
  EXPECT_NE(out.find(R"("app":"after")"), std::string::npos);
  EXPECT_NE(k.err().find("refused a request (415)"), std::string::npos) << k.err();
}

// A client that sends string fields that are not UTF-8 gets a 400 saying so each time; the
// terminal hears of it ten times, however many requests come (protobuf's own log line per
// request was a flood).
TEST(Serve, BadProtobufBodiesAreSaidAtMostTenTimes) {
  Klaxon k({"serve", "--listen", "127.0.0.1:0"});
  const std::string at = k.address("pushes on http://");
  const std::string bad = protobuf_push("{app=\"web-\xff\xfe\"}", {kExpiredLine});
  for (int i = 0; i < 25; ++i) {
    const HttpReply r = http(at, "POST", "/loki/api/v1/push", bad, {"Content-Type: application/x-protobuf"});
    ASSERT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("invalid UTF-8"), std::string::npos) << r.body;
  }
  const auto m = scrape_until(at, [](const auto& m) {
    return metric(m, R"(klaxon_source_events_total{event="loki_push_rejected"})") >= 25;
  });
  EXPECT_EQ(metric(m, R"(klaxon_source_events_total{event="loki_push_rejected"})"), 25);
  EXPECT_EQ(k.stop(), 0) << k.err();
  const std::string err = k.err();
  EXPECT_EQ(err.find("libprotobuf"), std::string::npos) << err;
  std::size_t lines = 0;
  for (char c : err) lines += c == '\n';
  EXPECT_LE(lines, 16u) << err;
}

// True once `done()` holds, polling until kWait has passed.
template <typename Done>
bool eventually(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// A connected socket to klaxon, for a client that holds its connection open.
int connect_to(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(std::uint16_t(std::stoi(address.substr(colon + 1))));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) throw std::runtime_error("connect");
  return fd;
}

// Memory is bounded as a whole: connections past --max-connections get 503, bodies past
// --max-inflight-mib (all connections together) get 429; both are said once; neither stops
// klaxon serving the others.
TEST(Serve, ConnectionsAndBodiesInFlightAreBounded) {
  Klaxon k({"serve", "--listen", "127.0.0.1:0", "--max-connections", "2", "--max-body-mib", "4",
            "--max-inflight-mib", "5"});
  const std::string at = k.address("pushes on http://");
  const std::string path = "/loki/api/v1/push";
  const std::vector<std::string> json{"Content-Type: application/json"};

  // Two clients hold their connections: a third is turned away, whatever it asks.
  int a = connect_to(at), b = connect_to(at);
  const HttpReply turned = http(at, "GET", "/ready");
  EXPECT_EQ(turned.status, 503) << turned.body;
  EXPECT_NE(turned.body.find("retry later"), std::string::npos) << turned.body;
  EXPECT_EQ(http(at, "GET", "/ready").status, 503);
  ::close(a);
  ::close(b);
  ASSERT_TRUE(eventually([&] { return http(at, "GET", "/ready").status == 200; }));

  // A client sends 3 MiB slowly: while it does, another 3 MiB body is over the 5 MiB in flight.
  const int slow = connect_to(at);
  const std::string head = "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           "Content-Length: " + std::to_string(3u << 20) + "\r\n\r\n{";
  ASSERT_EQ(::send(slow, head.data(), head.size(), MSG_NOSIGNAL), ssize_t(head.size()));
  const std::string big(3u << 20, ' ');
  HttpReply r;
  ASSERT_TRUE(eventually([&] { return (r = http(at, "POST", path, big, json)).status == 429; })) << r.body;
  EXPECT_NE(r.body.find("retry later"), std::string::npos) << r.body;
  // (The refused client's connection may not be closed yet: until it is, --max-connections answers.)
  HttpReply small;
  ASSERT_TRUE(eventually([&] { return (small = http(at, "POST", path, R"({"streams":[]})", json)).status != 503; }));
  EXPECT_EQ(small.status, 204) << "a small body still fits";
  // When the slow body is done, the budget is free again.
  const std::string rest((3u << 20) - 1, ' ');
  for (std::size_t sent = 0; sent < rest.size();) {
    const ssize_t n = ::send(slow, rest.data() + sent, rest.size() - sent, MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    sent += std::size_t(n);
  }
  char answer[256] = {};
  ASSERT_GT(::recv(slow, answer, sizeof answer - 1, 0), 0);
  EXPECT_EQ(std::string(answer).rfind("HTTP/1.1 400", 0), 0u) << answer;  // "{" and spaces: not a push
  ::close(slow);
  HttpReply decoded;
  ASSERT_TRUE(eventually([&] { return (decoded = http(at, "POST", path, big, json)).status != 503; }));
  EXPECT_EQ(decoded.status, 400) << "decoded, not refused for room";

  const auto m = scrape_until(at, [](const auto& m) {
    return metric(m, R"(klaxon_source_events_total{event="loki_push_over_inflight"})") >= 1;
  });
  EXPECT_GE(metric(m, R"(klaxon_source_events_total{event="loki_push_busy"})"), 2);
  EXPECT_EQ(k.stop(), 0) << k.err();
  const std::string err = k.err();
  const auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (std::size_t i = err.find(what); i != std::string::npos; i = err.find(what, i + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("the most serve --max-connections allows"), 1u) << err;
  EXPECT_EQ(count("of push bodies at once"), 1u) << err;
}

// A client that sends a fresh label set with every request (a request id as a label) must not
// hold memory for each until they fall idle: past --max-label-sets the least recently seen end.
TEST(Serve, LabelSetsAreBounded) {
  Klaxon k({"serve", "--listen", "127.0.0.1:0", "--max-label-sets", "10"});
  const std::string at = k.address("pushes on http://");
  for (int i = 0; i < 30; ++i) {
    const std::string body = R"({"streams":[{"stream":{"app":"x","request":")" + std::to_string(i) +
                             R"("},"values":[["1687180791000000000","hello"]]}]})";
    ASSERT_EQ(http(at, "POST", "/loki/api/v1/push", body, {"Content-Type: application/json"}).status, 204);
  }
  const auto m = scrape_until(at, [](const auto& m) { return metric(m, kLinesKey) >= 30; });
  EXPECT_GE(metric(m, R"(klaxon_source_events_total{event="loki_push_label_sets_ended"})"), 20);
  EXPECT_EQ(k.stop(), 0) << k.err();
  const std::string err = k.err();
  const std::string said = "more than serve --max-label-sets 10 label sets";
  ASSERT_NE(err.find(said), std::string::npos) << err;
  EXPECT_EQ(err.find(said, err.find(said) + 1), std::string::npos) << "said once: " << err;
}

TEST(Serve, TakenPortIsAClearStartupError) {
  Klaxon first({"serve", "--listen", "127.0.0.1:0"});
  const std::string at = first.address("pushes on http://");
  const auto r = test::run_klaxon({"serve", "--listen", at}, test::ProcessOptions().with_limit(20s));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("cannot listen on " + at), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pick another"), std::string::npos) << r.err;
}

TEST(Listen, MetricsOfAStdinPipeMatchWhatWasFed) {
  Klaxon k({"--format", "jsonl", "--listen", "127.0.0.1:0"});
  const std::string at = k.address("status on http://");
  EXPECT_EQ(http(at, "GET", "/healthz").status, 200);
  k.write(kDaprLine + "\n");
  for (int i = 0; i < 3; ++i) k.write(kExpiredLine + "\n");
  k.write("an ordinary line\n");
  const std::string lines_key = R"(klaxon_lines_read_total{source="stdin"})";
  const auto m = scrape_until(at, [&](const auto& m) { return metric(m, lines_key) >= 5; });
  EXPECT_EQ(metric(m, lines_key), 5);
  const double bytes = double(kDaprLine.size() + 3 * kExpiredLine.size() + std::string("an ordinary line").size() + 5);
  EXPECT_EQ(metric(m, R"(klaxon_bytes_read_total{source="stdin"})"), bytes);
  EXPECT_EQ(metric(m, R"(klaxon_matches_total{rule="dapr.root_cert_expiring",class="cert_expiring_soon"})"), 1);
  double expired = 0, open_expired = 0;
  for (const auto& [k, v] : m) {
    if (k.starts_with("klaxon_matches_total{") && k.find("class=\"cert_expired\"") != std::string::npos) expired += v;
    if (k.starts_with("klaxon_incidents_open{class=\"cert_expired\"")) open_expired += v;
  }
  EXPECT_EQ(expired, 3);
  EXPECT_EQ(open_expired, 1);
  EXPECT_EQ(metric(m, R"(klaxon_incidents_open{class="cert_expiring_soon",severity="critical"})"), 1);
  // 2024-04-01T23:43:35Z + 2 days 15 hours = 2024-04-04T14:43:35Z, the instant the line predicts.
  bool expiry_seen = false;
  for (const auto& [k, v] : m)
    if (k.starts_with("klaxon_certificate_expiry_timestamp_seconds{certificate=\"dapr.trust_bundle\"")) {
      EXPECT_EQ(v, 1712241815) << k;
      expiry_seen = true;
    }
  EXPECT_TRUE(expiry_seen);
  EXPECT_EQ(http(at, "GET", "/readyz").status, 200);
  const HttpReply page = http(at, "GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("Dapr root certificate expires soon"), std::string::npos) << page.body;
  k.close_stdin();
  EXPECT_EQ(k.stop(), 0) << k.err();
}

TEST(Listen, BadAddressIsAUsageError) {
  const auto r = test::run_klaxon({"--listen", "nowhere"}, test::ProcessOptions().with_limit(20s));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("HOST:PORT"), std::string::npos) << r.err;
}

// winston-loki: scripts/test runs `npm ci` in tests/peers (package-lock.json pins the versions).
void push_with_winston(bool json) {
  const std::string peers = kSource + "/tests/peers";
  KLAXON_REQUIRE_PEER(std::system("node --version >/dev/null 2>&1") == 0, "node is not installed (scripts/test installs npm)");
  KLAXON_REQUIRE_PEER(fs::exists(peers + "/node_modules/winston-loki"),
                      "winston-loki is not installed; run: cd tests/peers && npm ci");
  Klaxon k({"serve", "--listen", "127.0.0.1:0", "--format", "jsonl", "--matches"});  // klaxon's flags after serve's
  const std::string at = k.address("pushes on http://");
  std::vector<std::string> push{"/usr/bin/env", "node", peers + "/winston_push.js", "http://" + at};
  if (json) push.push_back("--json");
  for (const std::string& line : {kDaprLine, std::string("an ordinary line"), kExpiredLine}) push.push_back(line);
  const auto r = test::run_process(push, test::ProcessOptions().with_limit(60s));
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  const std::string format_key = std::string(R"(klaxon_source_events_total{event="loki_push_requests_)") +
                                 (json ? "json" : "protobuf") + "\"}";
  const auto m = scrape_until(at, [&](const auto& m) { return metric(m, kLinesKey) >= 3; });
  EXPECT_EQ(metric(m, kLinesKey), 3);
  EXPECT_GE(metric(m, format_key), 1) << "winston-loki should have sent " << (json ? "JSON" : "protobuf");
  EXPECT_EQ(metric(m, R"(klaxon_matches_total{rule="dapr.root_cert_expiring",class="cert_expiring_soon"})"), 1);
  EXPECT_EQ(k.stop(), 0) << k.err();
  const std::string out = k.out();
  EXPECT_NE(out.find(std::string(R"("client":"winston-)") + (json ? "json" : "protobuf")), std::string::npos) << out;
  EXPECT_NE(out.find(R"("class":"cert_expired")"), std::string::npos) << out;
}

TEST(Serve, WinstonLokiProtobufSnappyPush) { push_with_winston(false); }
TEST(Serve, WinstonLokiJsonPush) { push_with_winston(true); }

// serve facing a network. The client is winston-loki, configured as an operator would: a CA to
// trust, basic auth or a bearer token, a client certificate. winston-loki ignores the status of
// Loki's answer, so a refusal is checked on klaxon's side: its output and what it said.
struct Pki {
  explicit Pki(const std::string& name)
      : dir(fs::temp_directory_path() / ("klaxon-serve-pki-" + name + "-" + std::to_string(::getpid()))) {
    fs::create_directories(dir);
  }
  ~Pki() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  // A CA, and a server pair it signed for 127.0.0.1, written as NAME-ca.pem, NAME.pem, NAME-key.pem.
  test::MadeCertificate issue(const std::string& name, const std::string& san) {
    const auto ca = test::make_certificate({.common_name = name + " CA", .ca = true});
    const auto leaf = test::make_certificate({.common_name = name, .subject_alt_names = san, .serial = 2, .issuer = &ca});
    test::write_file(dir / (name + "-ca.pem"), ca.pem());
    test::write_file(dir / (name + ".pem"), leaf.pem());
    test::write_file(dir / (name + "-key.pem"), leaf.key_pem());
    return ca;
  }
  // As cert-manager's mounted Secret changes: new files renamed over the old ones.
  void swap_in(const std::string& name, const std::string& as) {
    for (const std::string suffix : {".pem", "-key.pem"}) fs::rename(dir / (name + suffix), dir / (as + suffix));
  }
  std::string path(const std::string& file) const { return (dir / file).string(); }
  fs::path dir;
};

// winston-loki sends `line` to `url` with the KLAXON_PEER_* settings of tests/peers/winston_push.js.
test::CommandResult winston_send(const std::string& url, const std::map<std::string, std::string>& env,
                                 const std::string& line) {
  std::string command = "timeout 60 env";
  for (const auto& [k, v] : env) command += " " + k + "='" + v + "'";
  return test::run_command(command + " node " + kSource + "/tests/peers/winston_push.js " + url + " '" + line + "'");
}

#define REQUIRE_WINSTON()                                                                                              \
  KLAXON_REQUIRE_PEER(std::system("node --version >/dev/null 2>&1") == 0, "node is not installed (scripts/test installs npm)"); \
  KLAXON_REQUIRE_PEER(fs::exists(kSource + "/tests/peers/node_modules/winston-loki"),                                  \
                      "winston-loki is not installed; run: cd tests/peers && npm ci")

// A bcrypt hash of `password` (cost 4: a test, not a vault), as `htpasswd -nbB` writes.
std::string bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof salt)) throw std::runtime_error("no bcrypt salt");
  auto data = std::make_unique<crypt_data>();
  const char* hash = crypt_rn(password.c_str(), salt, data.get(), int(sizeof(crypt_data)));
  if (!hash || hash[0] == '*') throw std::runtime_error("no bcrypt");
  return hash;
}

TEST(ServeTls, WinstonLokiBasicAuthOverTlsWithATestCa) {
  REQUIRE_WINSTON();
  Pki pki("basic");
  pki.issue("server", "IP:127.0.0.1");
  test::write_file(pki.dir / "users", "# klaxon serve --basic-auth-file\npromtail:" + bcrypt("s3cret-pass") + "\n");
  Klaxon k({"--format", "jsonl", "--matches", "serve", "--listen", "127.0.0.1:0", "--tls-cert-file", pki.path("server.pem"),
            "--tls-key-file", pki.path("server-key.pem"), "--basic-auth-file", pki.path("users")});
  const std::string url = "https://" + k.address("pushes on https://");
  const std::string ca = pki.path("server-ca.pem");

  // Not trusting the test CA, winston-loki itself refuses klaxon's certificate.
  EXPECT_NE(winston_send(url, {{"KLAXON_PEER_BASIC_AUTH", "promtail:s3cret-pass"}}, kExpiredLine).status, 0);
  // A wrong password and a wrong user are refused (401): their lines are not read.
  EXPECT_EQ(winston_send(url, {{"KLAXON_PEER_CA", ca}, {"KLAXON_PEER_BASIC_AUTH", "promtail:guess"}}, kDaprLine).status, 0);
  EXPECT_EQ(winston_send(url, {{"KLAXON_PEER_CA", ca}, {"KLAXON_PEER_BASIC_AUTH", "nobody:s3cret-pass"}}, kDaprLine).status, 0);
  // The right one is let in, twice (the second from the verified cache).
  for (int i = 0; i < 2; ++i) {
    const auto r = winston_send(url, {{"KLAXON_PEER_CA", ca}, {"KLAXON_PEER_BASIC_AUTH", "promtail:s3cret-pass"}}, kExpiredLine);
    EXPECT_EQ(r.status, 0) << r.err;
  }
  EXPECT_EQ(k.stop(), 0) << k.err();
  const std::string out = k.out(), err = k.err();
  EXPECT_NE(err.find("(TLS, basic auth (1 user))"), std::string::npos) << err;
  EXPECT_NE(err.find("refused a request (401): wrong credential"), std::string::npos) << err;
  EXPECT_EQ(err.find("s3cret"), std::string::npos) << "a password was printed:\n" << err;
  EXPECT_NE(out.find(R"("class":"cert_expired")"), std::string::npos) << out;
  EXPECT_EQ(out.find("dapr.root_cert_expiring"), std::string::npos) << "a refused push was read:\n" << out;
}

TEST(ServeTls, BearerTokenAndTenantAreCheckedBeforeTheBody) {
  Pki pki("bearer");
  test::write_file(pki.dir / "token", "tok-0123456789abcdef\n");
  Klaxon k({"serve", "--listen", "127.0.0.1:0", "--bearer-token-file", pki.path("token"), "--tenant", "team-a"});
  const std::string at = k.address("pushes on http://");
  const std::string path = "/loki/api/v1/push";
  const std::string body = protobuf_push(R"({app="dapr-sentry"})", {kDaprLine});
  const std::string proto = "Content-Type: application/x-protobuf";
  const std::string tenant_a = "X-Scope-OrgID: team-a";

  const HttpReply none = http(at, "POST", path, body, {proto, tenant_a});
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.head.find("WWW-Authenticate: Bearer realm=\"klaxon\""), std::string::npos) << none.head;
  EXPECT_EQ(http(at, "POST", path, body, {proto, tenant_a, "Authorization: Bearer tok-0123456789abcdeX"}).status, 401);
  EXPECT_EQ(http(at, "POST", path, body, {proto, tenant_a, "Authorization: Bearer tok-0123456789abcde"}).status, 401);
  EXPECT_EQ(http(at, "POST", path, body, {proto, tenant_a, "Authorization: Basic dG9rOnRvaw=="}).status, 401);
  EXPECT_EQ(http(at, "POST", path, body, {proto, "X-Scope-OrgID: team-b", "Authorization: Bearer tok-0123456789abcdef"}).status, 403);
  EXPECT_EQ(http(at, "POST", path, body, {proto, "Authorization: Bearer tok-0123456789abcdef"}).status, 403);
  EXPECT_EQ(http(at, "GET", "/metrics").status, 401) << "metrics name pods and rules: they need the token too";
  EXPECT_EQ(http(at, "GET", "/ready").status, 200) << "probes carry no credential";
  EXPECT_EQ(http(at, "POST", path, body, {proto, tenant_a, "Authorization: Bearer tok-0123456789abcdef"}).status, 204);
  std::map<std::string, double> m;  // scraped until the admitted push shows (counted after the answer)
  for (const auto deadline = std::chrono::steady_clock::now() + kWait;
       metric(m, kLinesKey) < 1 && std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(50ms)) {
    const HttpReply metrics = http(at, "GET", "/metrics", "", {"Authorization: bearer tok-0123456789abcdef"});
    ASSERT_EQ(metrics.status, 200);
    m = parse_metrics(metrics.body);
  }
  EXPECT_EQ(metric(m, kLinesKey), 1) << "only the admitted push is read";
  EXPECT_EQ(k.stop(), 0) << k.err();
  EXPECT_EQ(k.err().find("tok-0123"), std::string::npos) << "the token was printed:\n" << k.err();
}

// A rotated Secret mounted as a file: the new token counts from the next request, the old one
// no longer does; a token file emptied mid-rotation keeps the one in force, said once.
TEST(ServeTls, ARotatedTokenCountsFromTheNextRequest) {
  Pki pki("rotate");
  test::write_file(pki.dir / "token", "tok-before-0123\n");
  Klaxon k({"serve", "--listen", "127.0.0.1:0", "--bearer-token-file", pki.path("token")});
  const std::string at = k.address("pushes on http://");
  const std::string path = "/loki/api/v1/push";
  const std::string body = protobuf_push(R"({app="dapr-sentry"})", {kDaprLine});
  const std::string proto = "Content-Type: application/x-protobuf";
  auto rotate = [&](const std::string& content) {
    test::write_file(pki.dir / "token.new", content);
    fs::rename(pki.dir / "token.new", pki.dir / "token");
  };

  EXPECT_EQ(http(at, "POST", path, body, {proto, "Authorization: Bearer tok-before-0123"}).status, 204);
  rotate("tok-after-4567\n");
  EXPECT_EQ(http(at, "POST", path, body, {proto, "Authorization: Bearer tok-before-0123"}).status, 401);
  EXPECT_EQ(http(at, "POST", path, body, {proto, "Authorization: Bearer tok-after-4567"}).status, 204);
  rotate("");
  EXPECT_EQ(http(at, "POST", path, body, {proto, "Authorization: Bearer tok-after-4567"}).status, 204);
  EXPECT_EQ(http(at, "POST", path, body, {proto, "Authorization: Bearer tok-after-4567"}).status, 204);
  EXPECT_EQ(k.stop(), 0) << k.err();
  const std::string err = k.err();
  EXPECT_NE(err.find("serve: credentials reloaded"), std::string::npos) << err;
  const std::string kept = "still asking for the previous credentials";
  ASSERT_NE(err.find(kept), std::string::npos) << err;
  EXPECT_EQ(err.find(kept), err.rfind(kept)) << "said once per change:\n" << err;
  EXPECT_EQ(err.find("tok-"), std::string::npos) << "a token was printed:\n" << err;
}

TEST(ServeTls, MutualTlsRefusesAClientWithoutACertificateFromTheCa) {
  REQUIRE_WINSTON();
  Pki pki("mtls");
  const auto ca = pki.issue("server", "IP:127.0.0.1");
  const auto client = test::make_certificate({.common_name = "promtail", .serial = 3, .issuer = &ca});
  test::write_file(pki.dir / "client.pem", client.pem());
  test::write_file(pki.dir / "client-key.pem", client.key_pem());
  pki.issue("stranger", "");  // a client certificate from another CA
  Klaxon k({"--format", "jsonl", "--matches", "serve", "--listen", "127.0.0.1:0", "--tls-cert-file", pki.path("server.pem"),
            "--tls-key-file", pki.path("server-key.pem"), "--client-ca-file", pki.path("server-ca.pem")});
  const std::string url = "https://" + k.address("pushes on https://");
  const std::string trust = pki.path("server-ca.pem");

  EXPECT_NE(winston_send(url, {{"KLAXON_PEER_CA", trust}}, kDaprLine).status, 0) << "no client certificate";
  EXPECT_NE(winston_send(url, {{"KLAXON_PEER_CA", trust}, {"KLAXON_PEER_CERT", pki.path("stranger.pem")},
                               {"KLAXON_PEER_KEY", pki.path("stranger-key.pem")}}, kDaprLine).status, 0)
      << "a client certificate from another CA";
  const auto r = winston_send(url, {{"KLAXON_PEER_CA", trust}, {"KLAXON_PEER_CERT", pki.path("client.pem")},
                                    {"KLAXON_PEER_KEY", pki.path("client-key.pem")}}, kExpiredLine);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(k.stop(), 0) << k.err();
  EXPECT_NE(k.err().find("(TLS, client certificates required)"), std::string::npos) << k.err();
  EXPECT_NE(k.err().find("TLS handshake with 127.0.0.1 failed"), std::string::npos) << k.err();
  EXPECT_NE(k.out().find(R"("class":"cert_expired")"), std::string::npos) << k.out();
  EXPECT_EQ(k.out().find("dapr.root_cert_expiring"), std::string::npos) << "a refused client's line was read:\n" << k.out();
}

TEST(ServeTls, ASwappedCertificateIsServedWithoutARestartAndABadOneKeepsTheOld) {
  REQUIRE_WINSTON();
  Pki pki("swap");
  pki.issue("server", "IP:127.0.0.1");
  pki.issue("renewed", "IP:127.0.0.1");  // cert-manager's next certificate, from another CA here
  Klaxon k({"--format", "jsonl", "--matches", "serve", "--listen", "127.0.0.1:0", "--tls-cert-file", pki.path("server.pem"),
            "--tls-key-file", pki.path("server-key.pem")});
  const std::string url = "https://" + k.address("pushes on https://");
  const std::map<std::string, std::string> old_trust{{"KLAXON_PEER_CA", pki.path("server-ca.pem")}};
  const std::map<std::string, std::string> new_trust{{"KLAXON_PEER_CA", pki.path("renewed-ca.pem")}};

  EXPECT_EQ(winston_send(url, old_trust, "first").status, 0);
  EXPECT_NE(winston_send(url, new_trust, "first").status, 0);
  pki.swap_in("renewed", "server");
  EXPECT_EQ(winston_send(url, new_trust, kExpiredLine).status, 0) << "the renewed certificate should be served";
  EXPECT_NE(winston_send(url, old_trust, "second").status, 0) << "the old certificate is still served";
  // A half-written rotation (a key that is not PEM) keeps the renewed pair serving, said once.
  test::write_file(pki.dir / "next-key.pem", "-----BEGIN PRIVATE KEY-----\ntruncated\n");
  fs::rename(pki.dir / "next-key.pem", pki.dir / "server-key.pem");
  EXPECT_EQ(winston_send(url, new_trust, "third").status, 0);
  EXPECT_EQ(winston_send(url, new_trust, "fourth").status, 0);
  EXPECT_EQ(k.stop(), 0) << k.err();
  const std::string err = k.err();
  EXPECT_NE(err.find("TLS certificate reloaded"), std::string::npos) << err;
  const std::string kept = "still serving the previous certificate";
  ASSERT_NE(err.find(kept), std::string::npos) << err;
  EXPECT_EQ(err.find(kept), err.rfind(kept)) << "said once per change:\n" << err;
  EXPECT_NE(k.out().find(R"("class":"cert_expired")"), std::string::npos) << k.out();
}

TEST(ServeTls, BadFilesAreStartupErrors) {
  Pki pki("bad");
  pki.issue("server", "IP:127.0.0.1");
  pki.issue("other", "IP:127.0.0.1");
  test::write_file(pki.dir / "plain-users", "promtail:s3cret-pass\n");
  auto run = [&](const std::string& flags) { return test::run_command("timeout 20 " + kBin + " serve --listen 127.0.0.1:0 " + flags + " </dev/null"); };
  auto r = run("--tls-cert-file " + pki.path("server.pem") + " --tls-key-file " + pki.path("other-key.pem"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("is not the key of the certificate"), std::string::npos) << r.err;
  r = run("--tls-cert-file " + pki.path("server.pem"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("go together"), std::string::npos) << r.err;
  r = run("--basic-auth-file " + pki.path("plain-users"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("line 1: write USER:HASH"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("s3cret"), std::string::npos) << r.err;
  r = run("--bearer-token-file " + pki.path("nonexistent"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("cannot read it"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace klaxon
