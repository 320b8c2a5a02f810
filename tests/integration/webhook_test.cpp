// klaxon posting incident events to an HTTP receiver in the test: DESIGN.md's incident object,
// Slack messages, an auth header, and a receiver that fails twice before it takes the post.
#include <gtest/gtest.h>

#include <fstream>

#include <simdjson.h>

#include "tests/integration/alert_test_support.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::HttpReceiver;
using test::wait_until;

const std::string kBin = KLAXON_BINARY;
const std::string kSource = KLAXON_SOURCE_DIR;
const std::string kLine = "[pod/app1-abc/app] x509: certificate has expired or is not yet valid\n";

std::unique_ptr<Child> start_klaxon(const test::TempDir& dir, const HttpReceiver& receiver,
                                    std::vector<std::string> extra) {
  std::vector<std::string> argv = {kBin, "--format", "jsonl", "--no-default-rules", "--rules",
                                   kSource + "/tests/integration/short_rules.yaml", "--allowed-lateness", "0s",
                                   "--webhook", "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hooks/klaxon"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<Child>(argv, dir.path(), "klaxon");
}

std::string str(simdjson::dom::element e, const char* key) {
  auto v = e[key].get_string();
  return v.error() ? "(absent)" : std::string(v.value());
}

TEST(Webhook, PostsEachIncidentEventAsTheIncidentObject) {
  test::TempDir dir;
  HttpReceiver receiver;
  auto klaxon = start_klaxon(dir, receiver, {"--webhook-header", "Authorization: Bearer s3cret"});
  klaxon->write(kLine);
  // Opened now; resolved after 2 s of quiet.
  ASSERT_TRUE(wait_until([&] { return receiver.count() >= 2; }, 20s)) << klaxon->err();
  klaxon->close_stdin();
  EXPECT_EQ(klaxon->wait(20s), 0) << klaxon->err();

  const auto reqs = receiver.requests();
  ASSERT_EQ(reqs.size(), 2u);
  simdjson::dom::parser parser;
  std::vector<std::string> events;
  for (const auto& r : reqs) {
    EXPECT_EQ(r.target, "/hooks/klaxon");
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.authorization, "Bearer s3cret");
    simdjson::dom::element e = parser.parse(r.body).value();
    EXPECT_EQ(str(e, "type"), "incident");
    EXPECT_EQ(str(e, "rule"), "short.cert_expired");
    EXPECT_EQ(str(e, "class"), "cert_expired");
    EXPECT_EQ(str(e, "severity"), "critical");
    EXPECT_EQ(str(e["labels"], "pod"), "app1-abc");
    EXPECT_EQ(str(e, "summary"), "workload certificate of the test pod expired");
    events.push_back(str(e, "event"));
  }
  EXPECT_EQ(events, (std::vector<std::string>{"opened", "resolved"}));
  // The same objects klaxon printed.
  const std::string out = klaxon->out();
  EXPECT_NE(out.find(reqs[0].body + "\n"), std::string::npos) << out;
}

TEST(Webhook, SlackGetsAMessageAPersonReads) {
  test::TempDir dir;
  HttpReceiver receiver;
  auto klaxon = start_klaxon(dir, receiver, {"--webhook-format", "slack"});
  klaxon->write(kLine);
  ASSERT_TRUE(wait_until([&] { return receiver.count() >= 1; }, 20s)) << klaxon->err();
  klaxon->close_stdin();
  EXPECT_EQ(klaxon->wait(20s), 0) << klaxon->err();
  simdjson::dom::parser parser;
  simdjson::dom::element e = parser.parse(receiver.requests()[0].body).value();
  const std::string text = str(e, "text");
  EXPECT_NE(text.find("CRITICAL"), std::string::npos) << text;
  EXPECT_NE(text.find("opened: Test workload certificate has expired"), std::string::npos) << text;
  EXPECT_NE(text.find("pod=app1-abc"), std::string::npos) << text;
  EXPECT_NE(text.find("fix: renew the test certificate"), std::string::npos) << text;
}

TEST(Webhook, ExternalUrlLinksEachMessageToItsIncident) {
  for (const std::string format : {"json", "slack"}) {
    test::TempDir dir;
    HttpReceiver receiver;
    auto klaxon = start_klaxon(dir, receiver, {"--webhook-format", format, "--external-url", "https://klaxon.example"});
    klaxon->write(kLine);
    ASSERT_TRUE(wait_until([&] { return receiver.count() >= 1; }, 20s)) << klaxon->err();
    klaxon->close_stdin();
    EXPECT_EQ(klaxon->wait(20s), 0) << klaxon->err();
    simdjson::dom::parser parser;
    simdjson::dom::element e = parser.parse(receiver.requests()[0].body).value();
    if (format == "json") {
      EXPECT_EQ(str(e, "url"), "https://klaxon.example/incident/" + str(e, "id"));
    } else {
      const std::string text = str(e, "text");
      EXPECT_NE(text.find("<https://klaxon.example/incident/"), std::string::npos) << text;
    }
  }
}

TEST(Webhook, AReceiverThatFailsTwiceStillGetsTheEvent) {
  test::TempDir dir;
  HttpReceiver receiver({500, 500});
  auto klaxon = start_klaxon(dir, receiver, {});
  klaxon->write(kLine);
  ASSERT_TRUE(wait_until([&] { return receiver.count() >= 3; }, 20s)) << klaxon->err();
  klaxon->close_stdin();
  EXPECT_EQ(klaxon->wait(20s), 0) << klaxon->err();
  const auto reqs = receiver.requests();
  ASSERT_GE(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].body, reqs[2].body) << "the same event, retried";
  EXPECT_NE(reqs[0].body.find("\"event\":\"opened\""), std::string::npos);
  const std::string err = klaxon->err();
  EXPECT_NE(err.find("answered HTTP 500"), std::string::npos) << err;
  EXPECT_NE(err.find("delivering again"), std::string::npos) << err;
  EXPECT_EQ(err.find("not delivered"), std::string::npos) << err;
}

TEST(Webhook, WhatCouldNotBeDeliveredIsSaid) {
  test::TempDir dir;
  const unsigned short dead = test::free_port();
  auto klaxon = std::make_unique<Child>(
      std::vector<std::string>{kBin, "--no-default-rules", "--rules", kSource + "/tests/integration/short_rules.yaml",
                               "--webhook", "http://127.0.0.1:" + std::to_string(dead) + "/"},
      dir.path(), "klaxon");
  klaxon->write(kLine);
  klaxon->close_stdin();
  // The bounded drain ends the run, which failed: a script must not take it for delivered.
  EXPECT_EQ(klaxon->wait(30s), 1) << klaxon->err();
  EXPECT_NE(klaxon->err().find("posts not delivered"), std::string::npos) << klaxon->err();
}

TEST(Webhook, AReplayWhoseAlertsWereNotDeliveredExitsOne) {
  test::TempDir dir;
  const std::string file = (dir.path() / "replay.log").string();
  std::ofstream(file) << kLine;
  const unsigned short dead = test::free_port();
  auto r = test::run_klaxon({"--no-default-rules", "--rules", kSource + "/tests/integration/short_rules.yaml", "--send-replayed",
                              "--webhook", "http://127.0.0.1:" + std::to_string(dead) + "/", file});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("posts not delivered"), std::string::npos) << r.err;
}

TEST(Webhook, TlsOptionsAreCheckedAndTheUnsafeOneWarns) {
  test::TempDir dir;
  auto bad = test::run_klaxon({"--webhook", "https://127.0.0.1:9/", "--ca-file", (dir.path() / "missing.pem").string()}, test::ProcessOptions().with_input("x\n"));
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("--ca-file"), std::string::npos) << bad.err;
  auto unsafe = test::run_klaxon({"--webhook", "https://127.0.0.1:9/", "--insecure-skip-verify"}, test::ProcessOptions().with_input("x\n"));
  EXPECT_EQ(unsafe.status, 0) << unsafe.err;
  EXPECT_NE(unsafe.err.find("warning: --insecure-skip-verify"), std::string::npos) << unsafe.err;
}

TEST(Webhook, ABadHeaderIsAUsageError) {
  auto r = test::run_klaxon({"--webhook", "http://127.0.0.1:9/", "--webhook-header", "NoColon"}, test::ProcessOptions().with_input("x\n"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("'Name: value'"), std::string::npos) << r.err;
}

// For Slack (and many receivers) the URL *is* the secret: whoever reads it can post. stderr,
// the summary and /metrics name the sink by number and host only.
TEST(Webhook, TheUrlIsASecretNeitherPrintedNorExported) {
  test::TempDir dir;
  HttpReceiver receiver({500});  // one failure: the warning names the sink
  const unsigned short status_port = test::free_port();
  const std::string secret = "T0001/B0002/XXXXsecretXXXX";
  std::vector<std::string> argv = {kBin, "--format", "jsonl", "--no-default-rules", "--rules",
                                   kSource + "/tests/integration/short_rules.yaml", "--allowed-lateness", "0s",
                                   "--webhook", "http://127.0.0.1:" + std::to_string(receiver.port()) + "/services/" + secret + "?token=" + secret,
                                   "--webhook-header", "X-Api-Key: " + secret,
                                   "--listen", "127.0.0.1:" + std::to_string(status_port)};
  Child klaxon(argv, dir.path(), "klaxon");
  klaxon.write(kLine);
  ASSERT_TRUE(wait_until([&] { return receiver.count() >= 2; }, 20s)) << klaxon.err();
  // /metrics is published about once a second: wait for the post to show there.
  const std::string sent = "klaxon_alert_posts_total{sink=\"webhook-1 http://127.0.0.1:" +
                           std::to_string(receiver.port()) + "/…\",result=\"sent\"}";
  std::string metrics;
  EXPECT_TRUE(wait_until([&] { return (metrics = test::http_get(status_port, "/metrics").body).find(sent) != std::string::npos; }, 10s))
      << metrics;
  klaxon.close_stdin();
  EXPECT_EQ(klaxon.wait(20s), 0) << klaxon.err();
  EXPECT_NE(klaxon.err().find("webhook-1 http://127.0.0.1:"), std::string::npos) << klaxon.err();
  for (const std::string& said : {klaxon.err(), klaxon.out(), metrics}) {
    EXPECT_EQ(said.find("XXXXsecretXXXX"), std::string::npos) << said;
    EXPECT_EQ(said.find("/services"), std::string::npos) << said;
  }
}

TEST(Webhook, ARefusedUrlWithCredentialsIsNotEchoed) {
  auto r = test::run_klaxon({"--webhook", "https://bot:hunter2@hooks.example.com/T1/B2/sEcReT"}, test::ProcessOptions().with_input("x\n"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("credentials in the URL"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("https://hooks.example.com/…"), std::string::npos) << r.err;
  for (const char* secret : {"hunter2", "bot:", "sEcReT"}) EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
  auto header = test::run_klaxon({"--webhook", "http://127.0.0.1:9/", "--webhook-header", "X-Token s3cr3t"}, test::ProcessOptions().with_input("x\n"));
  EXPECT_EQ(header.status, 2);
  EXPECT_EQ(header.err.find("s3cr3t"), std::string::npos) << header.err;
}

TEST(Webhook, AMissingCaFileIsNamedAndSaidUnreadable) {
  test::TempDir dir;
  const std::string missing = (dir.path() / "missing.pem").string();
  auto r = test::run_klaxon({"--webhook", "https://127.0.0.1:9/", "--ca-file", missing}, test::ProcessOptions().with_input("x\n"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--ca-file " + missing + ": cannot be read (No such file or directory)"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("asio.ssl"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace klaxon
