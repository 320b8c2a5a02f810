// --max-clock-skew: one line cannot hijack the incident clock. A line whose own time is far from
// its envelope's (the kubelet's, Loki's) counts at the envelope's; in a replay as live, a line
// stamped in the wall clock's future moves no clock, while a real gap (a quiet night) does.
#include <gtest/gtest.h>

#include "engine/civil_time.hpp"
#include "engine/pipeline.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

Nanos T(const char* rfc3339) { return *parse_rfc3339_prefix(rfc3339); }

// A CRI line: the kubelet's time, then the container's own JSON with its own `ts` (unix seconds).
std::string cri(const char* envelope, long long ts, const char* msg) {
  return std::string(envelope) + " stderr F {\"ts\":" + std::to_string(ts) + ",\"msg\":\"" + msg + "\"}\n";
}
// A line with only its own time (no envelope: a file an application wrote).
std::string plain(const char* time, const char* msg) {
  return std::string("{\"time\":\"") + time + "\",\"msg\":\"" + msg + "\"}\n";
}

constexpr const char* kExpired = "x509: certificate has expired";
constexpr const char* kLost = "http2: client connection lost";
const long long k2100 = 4102444800;

struct Events : EventSink {
  void incident(const IncidentEvent& e) override { all.push_back(e); }
  std::size_t count(IncidentEvent::Kind k) const {
    std::size_t n = 0;
    for (const auto& e : all) n += e.kind == k;
    return n;
  }
  std::vector<IncidentEvent> all;
};

class ClockSkew : public ::testing::Test {
 protected:
  void replay(const std::string& text) {
    PipelineOptions po;
    po.warn = [](const std::string&) {};
    pipeline = std::make_unique<Pipeline>(matcher, std::vector<CorrelationSpec>{}, po, std::vector<EventSink*>{&events});
    pipeline->set_replay(true);
    pipeline->feed("test.log", text);
    pipeline->finish();
  }
  const TrackerStats& stats() const { return pipeline->tracker().stats(); }
  Matcher matcher = test::two_rule_matcher();
  Events events;
  std::unique_ptr<Pipeline> pipeline;
};

TEST_F(ClockSkew, APayloadFarFromItsEnvelopeCountsAtTheEnvelopesTime) {
  replay(cri("2026-06-13T00:00:00.000000000Z", 1781308800, kLost) +
         cri("2026-06-13T00:01:00.000000000Z", k2100, kExpired) +
         cri("2026-06-13T00:02:00.000000000Z", 1781308920, kLost));
  EXPECT_EQ(stats().skewed_lines, 1u);
  EXPECT_EQ(pipeline->tracker().latest_event_time(), T("2026-06-13T00:02:00Z"));
  EXPECT_EQ(events.count(IncidentEvent::Kind::resolved), 0u) << "the year-2100 line resolved something";
  ASSERT_FALSE(pipeline->tracker().incidents().empty());
  for (const IncidentSnapshot& i : pipeline->tracker().incidents()) EXPECT_LT(i.last_seen, T("2026-06-14T00:00:00Z"));
}

TEST_F(ClockSkew, InAReplayALineFromTheFutureMovesNoClock) {
  replay(plain("2026-06-13T00:00:00Z", kLost) + plain("2100-01-01T00:00:00Z", kExpired) +
         plain("2026-06-13T00:01:00Z", kLost));
  EXPECT_EQ(stats().future_lines, 1u);
  EXPECT_EQ(pipeline->tracker().latest_event_time(), T("2026-06-13T00:01:00Z"));
  EXPECT_EQ(events.count(IncidentEvent::Kind::resolved), 0u);
}

TEST_F(ClockSkew, InAReplayAQuietDayIsARealGap) {
  replay(plain("2026-06-13T00:00:00Z", kLost) + plain("2026-06-14T09:00:00Z", kExpired) +
         plain("2026-06-14T09:00:30Z", kExpired));
  EXPECT_EQ(stats().future_lines, 0u);
  EXPECT_EQ(pipeline->tracker().latest_event_time(), T("2026-06-14T09:00:30Z"));
  // The lost connection went quiet a day before: it resolved, at its own quiet instant.
  ASSERT_EQ(events.count(IncidentEvent::Kind::resolved), 1u);
}

TEST_F(ClockSkew, AtTheEndALastLineIsBelievedUnlessItIsInTheWallClocksFuture) {
  replay(plain("2026-06-13T00:00:00Z", kLost) + plain("2026-06-13T09:00:00Z", kExpired));
  EXPECT_EQ(pipeline->tracker().latest_event_time(), T("2026-06-13T09:00:00Z")) << "a quiet night is a real gap";
  events.all.clear();
  replay(plain("2026-06-13T00:00:00Z", kLost) + plain("2100-01-01T00:00:00Z", kExpired));
  EXPECT_EQ(pipeline->tracker().latest_event_time(), T("2026-06-13T00:00:00Z"));
  EXPECT_EQ(events.count(IncidentEvent::Kind::resolved), 0u);
}

TEST_F(ClockSkew, LiveAPayloadFarBehindItsEnvelopeCountsAtTheEnvelopesTime) {
  const Nanos now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string envelope = format_rfc3339_nano(now);
  PipelineOptions po;
  po.warn = [](const std::string&) {};
  Pipeline p(matcher, {}, po, {&events});
  p.feed("live", cri(envelope.c_str(), now / kNanosPerSecond - 86400, kExpired));
  p.flush();
  ASSERT_EQ(events.count(IncidentEvent::Kind::opened), 1u);
  EXPECT_EQ(events.all[0].incident.first_seen, now) << "a node clock a day behind";
  EXPECT_EQ(p.tracker().stats().skewed_lines, 1u);
}

}  // namespace
}  // namespace klaxon
