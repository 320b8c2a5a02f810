// `klaxon loki` against a Loki-protocol server on 127.0.0.1 that cuts the tail in every way Loki
// and networks do: every line must arrive exactly once, in order per stream.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <tuple>
#include <utility>

#include "adapters/net/asio.hpp"
#include "adapters/sources/loki_source.hpp"
#include "tests/support/loki_test_server.hpp"
#include "tests/support/self_signed_cert.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon::sources {
namespace {

using test::LokiTestServer;
using namespace std::chrono_literals;

struct Got {
  std::string stream;
  std::string line;
  Nanos time;
  auto operator<=>(const Got&) const = default;
};

class Collected final : public Intake {
 public:
  void bytes(const std::string&, std::string_view, const Labels&) override { ADD_FAILURE() << "Loki entries are whole lines"; }
  void line(const std::string& stream, std::string_view line, Nanos time, const Labels& labels) override {
    got.push_back({stream, std::string(line), time});
    labels_of[stream] = labels;
  }
  void end(const std::string&) override {}
  void notice(std::string_view counter, std::string_view message, std::uint64_t count) override {
    counters[std::string(counter)] += count;
    if (!message.empty()) messages.emplace_back(message);
  }
  void connected(std::string_view, bool up) override { connected_now = up; }

  std::string said() const {
    std::string all;
    for (const auto& m : messages) all += m + "\n";
    return all;
  }

  std::vector<Got> got;
  std::map<std::string, Labels> labels_of;
  std::map<std::string, std::uint64_t> counters;
  std::vector<std::string> messages;
  bool connected_now = false;
};

LokiOptions quick_options(const LokiTestServer& server) {
  LokiOptions o;
  o.url = server.url();
  o.query = R"({namespace="dapr-system"})";
  o.limit = 7;  // small pages: many page boundaries, some inside one nanosecond
  o.tail_limit = 1000;
  // The test server stamps entries as they arrive (no shipper lag); a re-opened tail still
  // starts this far back, so its first entries overlap what the last tail sent.
  o.ingest_delay = 200'000'000;
  o.reconnect_min = 20'000'000;
  o.reconnect_max = 200'000'000;
  o.idle_timeout = kNanosPerSecond;
  o.request_timeout = 10 * kNanosPerSecond;
  return o;
}

/// Runs the source on its own loop until `done()` holds (checked every 10 ms), it returns, or
/// `limit` passes. Returns what run() threw, if anything.
std::exception_ptr run_until(const LokiOptions& options, Collected& sink, const std::function<bool()>& done,
                             std::chrono::milliseconds limit) {
  asio::io_context io;
  std::unique_ptr<LiveSource> source = make_loki_source(io.get_executor(), options);
  std::exception_ptr error;
  asio::co_spawn(io, source->run(sink), [&](std::exception_ptr e) {
    error = e;
    io.stop();
  });
  asio::steady_timer deadline(io), poll(io);
  deadline.expires_after(limit);
  deadline.async_wait([&](boost::system::error_code ec) {
    if (!ec) io.stop();
  });
  std::function<void()> arm = [&] {
    poll.expires_after(10ms);
    poll.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      if (done()) io.stop();
      else arm();
    });
  };
  arm();
  io.run();
  return error;
}

std::string fatal_text(std::exception_ptr e) {
  try {
    if (e) std::rethrow_exception(e);
  } catch (const FatalSourceError& f) {
    return f.what();
  } catch (const std::exception& other) {
    return std::string("not fatal: ") + other.what();
  }
  return "(no error)";
}

const std::string kA = R"({"namespace":"dapr-system","app":"dapr-sentry"})";
const std::string kB = R"({"namespace":"dapr-system","app":"daprd","pod":"app1-5d8c9"})";
const std::string kKeyA = R"({app="dapr-sentry", namespace="dapr-system"})";
const std::string kKeyB = R"({app="daprd", namespace="dapr-system", pod="app1-5d8c9"})";

/// Appends groups to the server, paced, once klaxon's first tail is open, until `tails` tails have
/// been opened and `after` more groups were appended (at most 5000 groups). Every third
/// group puts three entries on one nanosecond: two lines of one stream and the same text in the
/// other stream. Lines carry characters Loki escapes. Returns what was appended.
std::vector<Got> feed(LokiTestServer& server, int tails, int after) {
  std::vector<Got> all;
  for (int i = 0; i < 1000 && server.tails_opened() == 0; ++i) std::this_thread::sleep_for(5ms);
  int left = after;
  for (int i = 0; i < 5000 && left > 0; ++i) {
    if (server.tails_opened() >= tails) --left;
    const std::string line = "E x509: certificate has expired <n=" + std::to_string(i) + "> & \"q\"";
    if (i % 3 == 2) {
      const Nanos t = server.append_group({{kA, line}, {kA, line + " again"}, {kB, line}});
      all.push_back({kKeyA, line, t});
      all.push_back({kKeyA, line + " again", t});
      all.push_back({kKeyB, line, t});
    } else {
      const bool a = i % 2 == 0;
      all.push_back({a ? kKeyA : kKeyB, line, server.append(a ? kA : kB, line)});
    }
    std::this_thread::sleep_for(1ms);
  }
  return all;
}

void expect_each_once_in_order(const std::vector<Got>& sent, const std::vector<Got>& got) {
  std::map<Got, int> times;
  for (const Got& g : got) ++times[g];
  int missing = 0, repeated = 0;
  for (const Got& s : sent) {
    if (times[s] == 0) ++missing;
    if (times[s] > 1) ++repeated;
  }
  EXPECT_EQ(missing, 0) << "lines lost";
  EXPECT_EQ(repeated, 0) << "lines repeated";
  EXPECT_EQ(got.size(), sent.size());
  std::map<std::string, Nanos> last;
  for (const Got& g : got) {
    EXPECT_GE(g.time, last[g.stream]) << "out of order in " << g.stream;
    last[g.stream] = g.time;
  }
}

TEST(LokiSource, EveryLineExactlyOnceAcrossEveryKindOfCut) {
  LokiTestServer::Options so;
  using Cut = LokiTestServer::Cut;
  so.tails = {{Cut::close_1011, 40}, {Cut::silence, 30}, {Cut::reset, 40}, {Cut::close_1000, 40}, {Cut::dropped_entries, 10}};
  LokiTestServer server(so);
  Collected sink;
  std::vector<Got> sent;
  std::atomic<std::size_t> expected{0};  // set once the feeder is done
  std::thread feeder([&] {
    sent = feed(server, 5, 100);
    expected = sent.size();
  });
  const auto error = run_until(quick_options(server), sink, [&] {
    return expected.load() != 0 && sink.got.size() >= expected.load();
  }, 60s);
  feeder.join();
  ASSERT_FALSE(error) << fatal_text(error);
  ASSERT_GE(server.tails_opened(), 5) << sink.said();  // more if a slow machine stalls a tail past the idle timeout
  expect_each_once_in_order(sent, sink.got);
  EXPECT_EQ(sink.counters["loki_reconnects"], std::uint64_t(server.tails_opened() - 1)) << sink.said();
  EXPECT_EQ(sink.counters["loki_dropped_entries"], 3u);
  const std::string said = sink.said();
  EXPECT_NE(said.find("1011 reached tail max duration limit"), std::string::npos) << said;
  EXPECT_NE(said.find("dropped 3 entries"), std::string::npos) << said;
  EXPECT_NE(said.find("no data or ping"), std::string::npos) << said;
  EXPECT_NE(said.find("Loki closed it: 1000"), std::string::npos) << said;
  EXPECT_NE(said.find("reset"), std::string::npos) << said;
  EXPECT_TRUE(sink.connected_now);
  EXPECT_EQ(sink.labels_of[kKeyB].size(), 3u);
  EXPECT_NE(server.last_tail_target().find("start="), std::string::npos);
}

/// 60 instants, each with three entries (two in one stream), preloaded; pages of 4 end inside
/// an instant most of the time.
std::vector<LokiTestServer::Entry> history(Nanos first) {
  std::vector<LokiTestServer::Entry> out;
  for (int i = 0; i < 60; ++i) {
    const Nanos t = first + i * 1000;
    const std::string line = "line " + std::to_string(i) + " <tls> & more";
    out.push_back({kB, t, line});
    out.push_back({kA, t, line});
    out.push_back({kA, t, line + " (2)"});
  }
  return out;
}

TEST(LokiSource, ReplayPagesThroughOneNanosecondInTimeOrderThenStops) {
  LokiTestServer server;
  const Nanos first = 1'700'000'000 * kNanosPerSecond;
  server.preload(history(first));
  LokiOptions o = quick_options(server);
  o.limit = 4;
  o.from = first;
  o.to = first + 59 * 1000;  // exclusive: the last instant is left out
  o.follow = false;
  Collected sink;
  const auto error = run_until(o, sink, [] { return false; }, 20s);
  ASSERT_FALSE(error) << fatal_text(error);
  std::vector<Got> expected;
  for (const auto& e : history(first))
    if (e.time < *o.to) expected.push_back({e.stream == kA ? kKeyA : kKeyB, e.line, e.time});
  expect_each_once_in_order(expected, sink.got);
  for (std::size_t i = 1; i < sink.got.size(); ++i) EXPECT_LE(sink.got[i - 1].time, sink.got[i].time) << "streams not merged in time order";
  EXPECT_EQ(server.tails_opened(), 0) << "a replay does not tail";
  EXPECT_GE(server.range_queries(), 59 * 3 / 4);
  EXPECT_EQ(sink.counters["loki_skipped_instants"], 0u);
}

TEST(LokiSource, SinceWithFollowHandsOverToTheTailWithoutAGap) {
  LokiTestServer server;
  const Nanos now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
  server.preload(history(now - 10 * kNanosPerSecond));
  LokiOptions o = quick_options(server);
  o.from = now - 20 * kNanosPerSecond;
  o.follow = true;
  Collected sink;
  std::vector<Got> sent;
  for (const auto& e : history(now - 10 * kNanosPerSecond)) sent.push_back({e.stream == kA ? kKeyA : kKeyB, e.line, e.time});
  std::atomic<std::size_t> expected{0};
  std::thread feeder([&] {
    auto live = feed(server, 1, 50);
    sent.insert(sent.end(), live.begin(), live.end());
    expected = sent.size();
  });
  const auto error = run_until(o, sink, [&] { return expected.load() != 0 && sink.got.size() >= expected.load(); }, 30s);
  feeder.join();
  ASSERT_FALSE(error) << fatal_text(error);
  expect_each_once_in_order(sent, sink.got);
  EXPECT_EQ(server.tails_opened(), 1);
}

TEST(LokiSource, MoreEntriesAtOneNanosecondThanAPageIsSaidNotLooped) {
  LokiTestServer server;
  const Nanos t = 1'700'000'000 * kNanosPerSecond;
  std::vector<LokiTestServer::Entry> same;
  for (int i = 0; i < 6; ++i) same.push_back({kA, t, "same instant " + std::to_string(i)});
  same.push_back({kA, t + 1, "after"});
  server.preload(same);
  LokiOptions o = quick_options(server);
  o.limit = 4;
  o.from = t;
  o.to = t + 10;
  o.follow = false;
  Collected sink;
  const auto error = run_until(o, sink, [] { return false; }, 20s);
  ASSERT_FALSE(error) << fatal_text(error);
  EXPECT_EQ(sink.counters["loki_skipped_instants"], 1u);
  ASSERT_EQ(sink.got.size(), 5u) << "four of the instant, then the next one";
  EXPECT_EQ(sink.got.back().line, "after");
  EXPECT_NE(sink.said().find("raise --limit"), std::string::npos) << sink.said();
}

TEST(LokiSource, ATenantIsRequiredAndSentAsXScopeOrgID) {
  test::LokiServerOptions so;
  so.require_tenant = "team-a";
  LokiTestServer server(so);
  const Nanos t = 1'700'000'000 * kNanosPerSecond;
  server.preload({{kA, t, "hello"}});
  LokiOptions o = quick_options(server);
  o.from = t;
  o.to = t + 1;
  o.follow = false;
  Collected without;
  const std::string said = fatal_text(run_until(o, without, [] { return false; }, 20s));
  EXPECT_NE(said.find("no org id"), std::string::npos) << said;
  EXPECT_NE(said.find("--tenant"), std::string::npos) << said;
  EXPECT_TRUE(without.got.empty());

  o.tenant = "team-a";
  Collected with;
  const auto error = run_until(o, with, [] { return false; }, 20s);
  ASSERT_FALSE(error) << fatal_text(error);
  ASSERT_EQ(with.got.size(), 1u);
  EXPECT_EQ(with.got[0].line, "hello");
}

TEST(LokiSource, AMalformedQueryStopsWithLokisOwnText) {
  LokiTestServer server;
  LokiOptions o = quick_options(server);
  o.query = "namespace=dapr-system";  // no braces: not a stream selector
  Collected sink;
  const std::string said = fatal_text(run_until(o, sink, [] { return false; }, 20s));
  EXPECT_NE(said.find("400"), std::string::npos) << said;
  EXPECT_NE(said.find("parse error at line 1, col 1"), std::string::npos) << said;
  EXPECT_EQ(server.tails_opened(), 0);
}

TEST(LokiSource, HttpsAndWssWithTheOperatorsCaOrWithAWarningWithout) {
  const auto cert = test::self_signed_for_loopback();
  test::LokiServerOptions so;
  so.cert_pem = cert.cert_pem;
  so.key_pem = cert.key_pem;
  LokiTestServer server(so);
  ASSERT_EQ(server.url().rfind("https://", 0), 0u);
  const auto ca = std::filesystem::temp_directory_path() / ("klaxon-loki-ca-" + std::to_string(::getpid()) + ".pem");
  std::ofstream(ca) << cert.cert_pem;
  const Nanos t = 1'700'000'000 * kNanosPerSecond;
  server.preload({{kA, t, "over TLS"}});

  // The CA given: a replay over https, then the tail over wss.
  LokiOptions o = quick_options(server);
  o.ca_file = ca.string();
  o.from = t;
  Collected trusted;
  std::vector<Got> sent{{kKeyA, "over TLS", t}};
  std::atomic<std::size_t> expected{0};
  std::thread feeder([&] {
    auto live = feed(server, 1, 10);
    sent.insert(sent.end(), live.begin(), live.end());
    expected = sent.size();
  });
  auto error = run_until(o, trusted, [&] { return expected.load() != 0 && trusted.got.size() >= expected.load(); }, 30s);
  feeder.join();
  ASSERT_FALSE(error) << fatal_text(error);
  expect_each_once_in_order(sent, trusted.got);
  EXPECT_EQ(server.tails_opened(), 1);

  // No CA: the certificate is refused, and a replay gives up with why.
  o.ca_file.clear();
  o.follow = false;
  o.to = t + 1;
  Collected refused;
  error = run_until(o, refused, [] { return false; }, 30s);
  const std::string said = fatal_text(error);
  EXPECT_NE(said.find("certificate verify failed"), std::string::npos) << said;
  EXPECT_NE(said.find("--ca-file"), std::string::npos) << said;
  EXPECT_TRUE(refused.got.empty());

  // --insecure-skip-verify: read, with a warning.
  o.insecure_skip_verify = true;
  Collected insecure;
  error = run_until(o, insecure, [] { return false; }, 30s);
  ASSERT_FALSE(error) << fatal_text(error);
  ASSERT_EQ(insecure.got.size(), 1u);
  EXPECT_EQ(insecure.counters["loki_insecure"], 1u);
  EXPECT_NE(insecure.said().find("not checked"), std::string::npos) << insecure.said();
  std::filesystem::remove(ca);
}

TEST(LokiSource, AnUnusableUrlIsAConfigurationError) {
  asio::io_context io;
  LokiOptions o;
  o.query = "{a=\"b\"}";
  for (const char* url : {"loki:3100", "ftp://loki", "http://user:pw@loki:3100", "http://loki:port"}) {
    o.url = url;
    EXPECT_THROW(make_loki_source(io.get_executor(), o), FatalSourceError) << url;
  }
  o.url = "http://loki:3100";
  o.query.clear();
  EXPECT_THROW(make_loki_source(io.get_executor(), o), FatalSourceError);
}

}  // namespace
}  // namespace klaxon::sources
