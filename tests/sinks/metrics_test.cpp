// The Prometheus text renderer: what a scraper parses, with hostile label values.
#include <gtest/gtest.h>

#include "adapters/sinks/metrics.hpp"
#include "adapters/sinks/status_server.hpp"

namespace klaxon::sinks {
namespace {

TEST(Metrics, RendersHelpTypeAndEscapedLabels) {
  MetricFamily c{"klaxon_matches_total", "Classified lines.\nper rule", MetricFamily::Type::counter, {}};
  c.add({{"rule", "a\"b\\c\nd"}, {"bad-name", "v"}}, 3);
  MetricFamily g{"klaxon_certificate_expiry_timestamp_seconds", "When.", MetricFamily::Type::gauge, {}};
  g.add({}, 1712241815);
  g.add({{"x", "y"}}, 0.5);
  EXPECT_EQ(render_prometheus({c, g}),
            "# HELP klaxon_matches_total Classified lines.\\nper rule\n"
            "# TYPE klaxon_matches_total counter\n"
            "klaxon_matches_total{rule=\"a\\\"b\\\\c\\nd\",bad_name=\"v\"} 3\n"
            "# HELP klaxon_certificate_expiry_timestamp_seconds When.\n"
            "# TYPE klaxon_certificate_expiry_timestamp_seconds gauge\n"
            "klaxon_certificate_expiry_timestamp_seconds 1712241815\n"
            "klaxon_certificate_expiry_timestamp_seconds{x=\"y\"} 0.5\n");
}

// A pod name that is not UTF-8 must not make Prometheus refuse the whole scrape.
TEST(Metrics, LabelValuesAreValidUtf8) {
  MetricFamily c{"klaxon_matches_total", "Classified lines.", MetricFamily::Type::counter, {}};
  c.add({{"pod", "web-\xff\xfe-1"}, {"ns", "caf\xc3\xa9"}, {"cut", "\xe2\x82"}}, 1);
  EXPECT_EQ(render_prometheus({c}),
            "# HELP klaxon_matches_total Classified lines.\n# TYPE klaxon_matches_total counter\n"
            "klaxon_matches_total{pod=\"web-\xef\xbf\xbd\xef\xbf\xbd-1\",ns=\"caf\xc3\xa9\",cut=\"\xef\xbf\xbd\"} 1\n");
}

TEST(Metrics, RegistryMergesFamiliesOfOneNameFromSeveralProducers) {
  MetricsRegistry registry;
  for (const char* sink : {"alertmanager", "webhook"})
    registry.add([sink](std::vector<MetricFamily>& out) {
      out.push_back({"klaxon_sink_sends_total", "Sends.", MetricFamily::Type::counter, {{{{"sink", sink}}, 2}}});
    });
  const std::string text = render_prometheus(registry.collect());
  EXPECT_EQ(text,
            "# HELP klaxon_sink_sends_total Sends.\n# TYPE klaxon_sink_sends_total counter\n"
            "klaxon_sink_sends_total{sink=\"alertmanager\"} 2\nklaxon_sink_sends_total{sink=\"webhook\"} 2\n");
}

// --label cluster=c1: every series of a fleet's klaxons says which one it is; a series' own
// label of that name is kept.
TEST(Metrics, ConstantLabelsAreOnEverySeriesUnlessItHasItsOwn) {
  MetricsRegistry registry;
  registry.set_constant_labels({{"cluster", "c1"}, {"region", "eu"}});
  registry.add([](std::vector<MetricFamily>& out) {
    out.push_back({"klaxon_up", "Up.", MetricFamily::Type::gauge, {{{}, 1}, {{{"cluster", "own"}}, 2}}});
  });
  EXPECT_EQ(render_prometheus(registry.collect()),
            "# HELP klaxon_up Up.\n# TYPE klaxon_up gauge\n"
            "klaxon_up{cluster=\"c1\",region=\"eu\"} 1\nklaxon_up{cluster=\"own\",region=\"eu\"} 2\n");
}

TEST(StatusBoard, AnswersWhatWasPublishedAndReadiness) {
  StatusBoard board;
  EXPECT_EQ(board.answer("/readyz")->status, 503u);
  board.publish("m 1\n", "<html>", "");
  EXPECT_EQ(board.answer("/metrics?x=1")->body, "m 1\n");
  EXPECT_EQ(board.answer("/readyz")->status, 200u);
  EXPECT_EQ(board.answer("/healthz")->status, 200u);
  EXPECT_EQ(board.answer("/")->body, "<html>");
  EXPECT_FALSE(board.answer("/nope"));
  board.publish("", "", "loki_push is not connected");
  EXPECT_NE(board.answer("/readyz")->body.find("loki_push is not connected"), std::string::npos);
}

}  // namespace
}  // namespace klaxon::sinks
