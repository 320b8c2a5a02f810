// The real binary against a Loki-protocol server: a live tail cut twice and a replay of the same
// window give the same matches and incidents; configuration errors exit 2 with Loki's reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include "engine/civil_time.hpp"
#include "tests/support/loki_test_server.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

extern char** environ;

namespace klaxon {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::LokiTestServer;

const std::string kSource = KLAXON_SOURCE_DIR;
const std::string kQuery = R"({namespace="dapr-system"})";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::vector<std::string> starting_with(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  for (auto& l : lines_of(text))
    if (l.starts_with(prefix)) out.push_back(l);
  std::sort(out.begin(), out.end());
  return out;
}

std::set<std::string> opened_incident_ids(const std::string& text) {
  std::set<std::string> ids;
  for (const auto& l : starting_with(text, R"({"type":"incident","event":"opened")")) {
    const std::size_t at = l.find(R"("id":")");
    ids.insert(l.substr(at + 6, l.find('"', at + 6) - at - 6));
  }
  return ids;
}

/// What one sorted list holds that the other does not, for a readable failure.
std::string difference(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> only_a, only_b;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only_a));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(only_b));
  std::string out;
  for (const auto& l : only_a) out += "live only:   " + l.substr(0, 300) + "\n";
  for (const auto& l : only_b) out += "replay only: " + l.substr(0, 300) + "\n";
  return out;
}

template <class Condition>
bool wait_for(Condition condition, std::chrono::seconds limit) {
  for (auto until = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < until;) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

TEST(LokiIntegration, LiveTailCutTwiceAndReplayGiveTheSameMatchesAndIncidents) {
  test::LokiServerOptions so;
  so.tails = {{test::LokiTailCut::close_1011, 15}, {test::LokiTailCut::reset, 15}};
  LokiTestServer server(so);
  // klaxon's own flags after the source word's (they are taken anywhere on the line).
  test::KlaxonProcess live({"loki", "--url", server.url(), "--query", kQuery, "--format", "jsonl", "--matches"});
  ASSERT_TRUE(wait_for([&] { return server.tails_opened() >= 1; }, 30s)) << live.err();

  // The seeds, one Loki stream per file, appended line by line as an ingester would receive them.
  Nanos first = 0, last = 0;
  for (const auto& entry : fs::directory_iterator(kSource + "/samples/seeds")) {
    if (entry.path().extension() != ".log") continue;
    const std::string stream = R"({"namespace":"dapr-system","file":")" + entry.path().filename().string() + "\"}";
    for (const auto& line : lines_of(test::read_file(entry.path().string()))) {
      if (line.empty()) continue;
      last = server.append(stream, line);
      if (first == 0) first = last;
      std::this_thread::sleep_for(2ms);
    }
  }
  auto replay = test::run_klaxon({"--format", "jsonl", "--matches", "loki", "--url", server.url(), "--query", kQuery, "--from",
                                  format_rfc3339_nano(first), "--to", format_rfc3339_nano(last + 1)});
  ASSERT_EQ(replay.status, 0) << replay.err;
  const auto expected = starting_with(replay.out, R"({"type":"match")");
  ASSERT_GE(expected.size(), 30u) << "the seeds hold many classified lines";

  EXPECT_TRUE(wait_for([&] { return starting_with(live.out(), R"({"type":"match")").size() >= expected.size(); }, 60s))
      << live.err();
  ASSERT_EQ(live.stop(SIGTERM, 10s), 0) << live.err();
  const std::string live_out = live.out();
  const auto got = starting_with(live_out, R"({"type":"match")");
  EXPECT_TRUE(got == expected) << difference(got, expected);
  EXPECT_EQ(opened_incident_ids(live_out), opened_incident_ids(replay.out));
  EXPECT_GE(server.tails_opened(), 3);
  const std::string err = live.err();
  EXPECT_NE(err.find("reached tail max duration limit"), std::string::npos) << err;
  EXPECT_NE(err.find("reconnecting"), std::string::npos) << err;
  std::size_t ends = 0;
  for (std::size_t at = err.find("the tail ended"); at != std::string::npos; at = err.find("the tail ended", at + 1)) ++ends;
  EXPECT_EQ(ends, 2u) << err;
}

TEST(LokiIntegration, ConfigurationErrorsExitTwoWithWhatToDo) {
  test::LokiServerOptions so;
  so.require_tenant = "team-a";
  LokiTestServer server(so);
  auto r = test::run_klaxon({"loki", "--url", server.url(), "--query", kQuery});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("--tenant"), std::string::npos) << r.err;
  r = test::run_klaxon({"loki", "--url", server.url(), "--tenant", "team-a", "--query", "dapr"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("parse error"), std::string::npos) << r.err;
  r = test::run_klaxon({"loki", "--url", "loki:3100", "--query", kQuery});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("http"), std::string::npos) << r.err;
  r = test::run_klaxon({"loki", "--url", server.url(), "--query", kQuery, "--since", "yesterday"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("not a duration"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace klaxon
