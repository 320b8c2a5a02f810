// Delivery: posts reach a real HTTP(S) receiver on 127.0.0.1 through retries, budgets, full
// queues and TLS, and every outcome is counted.
#include <gtest/gtest.h>

#include "adapters/sinks/delivery.hpp"
#include "tests/integration/alert_test_support.hpp"
#include "tests/support/peer.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon::sinks {
namespace {

using namespace std::chrono_literals;
using test::HttpReceiver;
using test::wait_until;

Endpoint local(unsigned short port, const std::string& path = "/hook", bool tls = false) {
  std::string error;
  auto e = parse_endpoint(std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port) + path, error);
  EXPECT_TRUE(e) << error;
  return *e;
}

RetryPolicy fast(int attempts = 6) {
  RetryPolicy p;
  p.first_backoff = 20ms;
  p.max_backoff = 100ms;
  p.max_attempts = attempts;
  p.request_timeout = 5s;
  return p;
}

TEST(Endpoint, ParsesWhatOperatorsWrite) {
  std::string error;
  auto a = parse_endpoint("http://alertmanager:9093", error);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "alertmanager");
  EXPECT_EQ(a->port, "9093");
  EXPECT_EQ(a->target, "/");
  EXPECT_FALSE(a->tls);
  auto b = parse_endpoint("https://hooks.slack.com/services/T0/B0/x?y=1", error);
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->tls);
  EXPECT_EQ(b->port, "443");
  EXPECT_EQ(b->target, "/services/T0/B0/x?y=1");
  auto c = parse_endpoint("http://[::1]:9093/am", error);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->target, "/am");
  EXPECT_FALSE(parse_endpoint("alertmanager:9093", error));
  EXPECT_FALSE(parse_endpoint("http://:9093", error));
  EXPECT_FALSE(parse_endpoint("http://am:port", error));
  EXPECT_FALSE(parse_endpoint("http://user:pw@am:9093", error));
}

TEST(Delivery, RetriesUntilTheReceiverAnswers) {
  HttpReceiver receiver({500, 503});
  DeliveryWorker worker({});
  DeliveryQueue& q = worker.add_queue("webhook test", local(receiver.port()), {{"Authorization", "Bearer t"}},
                                      "application/json", fast());
  q.post(R"({"n":1})");
  ASSERT_TRUE(wait_until([&] { return q.stats().sent == 1; }, 10s)) << receiver.count() << " requests";
  const auto reqs = receiver.requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.body, R"({"n":1})");
    EXPECT_EQ(r.target, "/hook");
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.authorization, "Bearer t");
  }
  const DeliveryStats s = q.stats();
  EXPECT_EQ(s.retries, 2u);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.queue_depth, 0u);
  EXPECT_TRUE(worker.flush(1s));
}

TEST(Delivery, GivesUpAfterTheRetryBudgetAndGoesOn) {
  HttpReceiver receiver({500, 500, 500});
  DeliveryWorker worker({});
  DeliveryQueue& q = worker.add_queue("webhook test", local(receiver.port()), {}, "application/json", fast(3));
  q.post("first");
  q.post("second");
  ASSERT_TRUE(wait_until([&] { return q.stats().sent == 1; }, 10s));
  EXPECT_EQ(q.stats().failed, 1u);
  const auto reqs = receiver.requests();
  ASSERT_EQ(reqs.size(), 4u);  // three tries of the first, then the second
  EXPECT_EQ(reqs.back().body, "second");
}

TEST(Delivery, ARefusedBodyIsNotRetried) {
  HttpReceiver receiver({400});
  DeliveryWorker worker({});
  DeliveryQueue& q = worker.add_queue("webhook test", local(receiver.port()), {}, "application/json", fast());
  q.post("bad");
  ASSERT_TRUE(wait_until([&] { return q.stats().failed == 1; }, 10s));
  EXPECT_EQ(receiver.count(), 1u);
}

TEST(Delivery, ADeadReceiverFillsOnlyItsOwnBoundedQueue) {
  const unsigned short dead = test::free_port();
  HttpReceiver alive;
  DeliveryWorker worker({});
  RetryPolicy small = fast(1000);
  small.capacity = 5;
  DeliveryQueue& stuck = worker.add_queue("webhook dead", local(dead), {}, "application/json", small);
  DeliveryQueue& ok = worker.add_queue("webhook alive", local(alive.port()), {}, "application/json", fast());
  for (int i = 0; i < 50; ++i) stuck.post("event " + std::to_string(i));  // returns at once, never blocks
  ok.post("through");
  ASSERT_TRUE(wait_until([&] { return ok.stats().sent == 1; }, 10s));
  const DeliveryStats s = stuck.stats();
  EXPECT_EQ(s.sent, 0u);
  EXPECT_LE(s.queue_depth, 6u);  // five waiting, one being retried
  EXPECT_GE(s.dropped, 44u);
  EXPECT_FALSE(worker.flush(200ms));
  const DeliveryStats end = worker.stats()[0];
  EXPECT_EQ(end.dropped + end.failed, 50u) << "every post is accounted for";
  EXPECT_EQ(end.queue_depth, 0u);
}

TEST(Delivery, ANewerStateSupersedesWaitingOnes) {
  const unsigned short port = test::free_port();
  DeliveryWorker worker({});
  RetryPolicy p = fast(1000);
  DeliveryQueue& q = worker.add_queue("alertmanager test", local(port), {}, "application/json", p);
  q.post("state 1", true);
  q.post("state 2", true);
  q.post("state 3", true);
  EXPECT_LE(q.stats().queue_depth, 2u);  // one being retried, the newest waiting
  EXPECT_EQ(q.stats().dropped, 0u);
}

// A self-signed certificate for 127.0.0.1, made with the openssl tool.
struct TestCertificate {
  test::TempDir dir;
  std::string cert() const { return (dir.path() / "cert.pem").string(); }
  std::string key() const { return (dir.path() / "key.pem").string(); }
  bool make() const {
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                            "-addext subjectAltName=IP:127.0.0.1 -keyout " + key() + " -out " + cert() + " >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
  }
  std::shared_ptr<boost::asio::ssl::context> server() const {
    auto ctx = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
    ctx->use_certificate_chain_file(cert());
    ctx->use_private_key_file(key(), boost::asio::ssl::context::pem);
    return ctx;
  }
};

TEST(Delivery, HttpsWithTheReceiversCaFile) {
  TestCertificate c;
  KLAXON_REQUIRE_PEER(c.make(), "the openssl tool is missing (apt-get install openssl)");
  HttpReceiver receiver({}, c.server());
  {
    DeliveryWorker trusting(TlsOptions{c.cert(), false});
    DeliveryQueue& q = trusting.add_queue("webhook tls", local(receiver.port(), "/tls", true), {}, "application/json", fast());
    q.post("secret");
    ASSERT_TRUE(wait_until([&] { return q.stats().sent == 1; }, 10s));
    ASSERT_EQ(receiver.count(), 1u);
    EXPECT_EQ(receiver.requests()[0].body, "secret");
  }
  {
    // The system's CAs do not know this certificate: no request may reach the receiver.
    DeliveryWorker strict(TlsOptions{});
    DeliveryQueue& q = strict.add_queue("webhook tls", local(receiver.port(), "/tls", true), {}, "application/json", fast(2));
    q.post("must not arrive");
    ASSERT_TRUE(wait_until([&] { return q.stats().failed == 1; }, 10s));
    EXPECT_EQ(receiver.count(), 1u);
  }
  {
    DeliveryWorker insecure(TlsOptions{"", true});
    DeliveryQueue& q = insecure.add_queue("webhook tls", local(receiver.port(), "/tls", true), {}, "application/json", fast());
    q.post("unchecked");
    ASSERT_TRUE(wait_until([&] { return q.stats().sent == 1; }, 10s));
    EXPECT_EQ(receiver.count(), 2u);
  }
}

TEST(Delivery, AnUnreadableCaFileIsAClearError) {
  test::TempDir dir;
  try {
    DeliveryWorker w(TlsOptions{(dir.path() / "missing.pem").string(), false});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--ca-file"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace klaxon::sinks
