// Two-phase shutdown of a live run (cli/run_live.cpp): after SIGTERM the source stops, the
// pipeline finishes, and the alert queues flush within Alerting::kFlushDeadline. A slow
// Alertmanager still gets the final state before klaxon exits; a dead one does not hold the
// exit past the deadline, and the operator is told how many alerts it missed.
#include <gtest/gtest.h>

#include <fstream>

#include "cli/alerting.hpp"
#include "tests/integration/alert_test_support.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::HttpReceiver;
using test::wait_until;

const std::string kBin = KLAXON_BINARY;
const std::string kSource = KLAXON_SOURCE_DIR;

std::unique_ptr<Child> follow_with_alertmanager(const test::TempDir& dir, const std::string& file, unsigned short port) {
  std::ofstream(file) << "[pod/" << "app1-stop" << "/app] x509: certificate has expired or is not yet valid\n" << std::flush;
  // A resend of an hour: after the first post, only the shutdown's final state is sent.
  return std::make_unique<Child>(
      std::vector<std::string>{kBin, "--format", "jsonl", "--no-default-rules", "--rules",
                               kSource + "/tests/integration/short_rules.yaml", "--allowed-lateness", "0s", "--alertmanager",
                               "http://127.0.0.1:" + std::to_string(port), "--alertmanager-resend", "1h", "--follow", file},
      dir.path(), "klaxon");
}

TEST(Shutdown, ASlowAlertmanagerGetsTheFinalStateBeforeExit) {
  test::TempDir dir;
  HttpReceiver alertmanager;
  alertmanager.answer_after(1500ms);  // two posts in a row fit the deadline, not much more
  auto klaxon = follow_with_alertmanager(dir, (dir.path() / "app.log").string(), alertmanager.port());
  ASSERT_TRUE(wait_until([&] { return alertmanager.count() >= 1; }, 20s)) << klaxon->err();
  // The first state is still being answered: the final one queues behind it.
  klaxon->signal(SIGTERM);
  const std::optional<int> status = klaxon->wait(std::chrono::duration_cast<std::chrono::milliseconds>(
      cli::Alerting::kFlushDeadline + 20s));
  ASSERT_TRUE(status.has_value()) << "klaxon did not exit after SIGTERM: " << klaxon->err();
  EXPECT_EQ(*status, 0) << klaxon->err();
  const auto posts = alertmanager.requests();
  ASSERT_GE(posts.size(), 2u) << "the final state was not posted: " << klaxon->err();
  EXPECT_EQ(alertmanager.answered(), posts.size()) << "klaxon left before a post was answered";
  EXPECT_EQ(posts.back().target, "/api/v2/alerts");
  EXPECT_NE(posts.back().body.find("app1-stop"), std::string::npos) << posts.back().body;
  EXPECT_EQ(klaxon->err().find("not delivered"), std::string::npos) << klaxon->err();
}

TEST(Shutdown, ADeadAlertmanagerDoesNotHoldTheExitAndWhatItMissedIsSaid) {
  test::TempDir dir;
  const unsigned short dead = test::free_port();
  auto klaxon = follow_with_alertmanager(dir, (dir.path() / "app.log").string(), dead);
  ASSERT_TRUE(wait_until([&] { return klaxon->err().find("retrying") != std::string::npos; }, 20s)) << klaxon->err();
  klaxon->signal(SIGTERM);
  // Bounded: the flush deadline and a source's grace, with room for a loaded machine; a klaxon
  // that retried until its budget was spent (minutes) would not make it.
  const std::optional<int> status = klaxon->wait(std::chrono::duration_cast<std::chrono::milliseconds>(
      cli::Alerting::kFlushDeadline + 20s));
  ASSERT_TRUE(status.has_value()) << "a dead Alertmanager held the exit: " << klaxon->err();
  const std::string err = klaxon->err();
  const std::string deadline = std::to_string(cli::Alerting::kFlushDeadline.count()) + "s deadline passed";
  EXPECT_NE(err.find("still queued when the " + deadline), std::string::npos) << err;
  EXPECT_NE(err.find("its last state (1 alert) did not reach it"), std::string::npos) << err;
}

}  // namespace
}  // namespace klaxon
