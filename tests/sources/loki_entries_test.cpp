// Loki's JSON as entries, and the exactly-once memory, without a server.
#include <gtest/gtest.h>

#include "adapters/sources/loki_entries.hpp"

namespace klaxon::sources {
namespace {

TEST(LokiEntries, TailFrameIsUnescapedLabelledAndMergedInTimeOrder) {
  // As Loki writes it: Go escapes <, > and & in JSON strings; one stream object per run.
  const std::string frame =
      R"({"streams":[{"stream":{"pod":"p1","app":"sentry"},"values":[["1700000000000000003","x509: \u003cnil\u003e \u0026 \"q\""]]},)"
      R"({"stream":{"app":"daprd"},"values":[["1700000000000000001","first"],["1700000000000000005","last"]]}]})";
  LokiBatch batch;
  std::string error;
  ASSERT_TRUE(parse_tail_frame(frame, batch, error)) << error;
  ASSERT_EQ(batch.entries.size(), 3u);
  EXPECT_EQ(batch.entries[0].line, "first");
  EXPECT_EQ(batch.entries[1].line, "x509: <nil> & \"q\"");
  EXPECT_EQ(batch.entries[1].time, 1700000000000000003);
  EXPECT_EQ(batch.entries[2].line, "last");
  const LokiStream& sentry = batch.streams[batch.entries[1].stream];
  EXPECT_EQ(sentry.key, R"({app="sentry", pod="p1"})");
  ASSERT_EQ(sentry.labels.size(), 2u);
  EXPECT_EQ(sentry.labels[0], (std::pair<std::string, std::string>{"app", "sentry"}));
  EXPECT_EQ(batch.dropped_entries, 0u);
}

TEST(LokiEntries, DroppedEntriesAreCountedEvenWithoutStreams) {
  LokiBatch batch;
  std::string error;
  ASSERT_TRUE(parse_tail_frame(R"({"streams":null,"dropped_entries":[{"labels":{"a":"b"},"timestamp":"1"},{"labels":{},"timestamp":"2"}]})",
                               batch, error))
      << error;
  EXPECT_TRUE(batch.entries.empty());
  EXPECT_EQ(batch.dropped_entries, 2u);
}

TEST(LokiEntries, WhatIsNotAFrameIsSaid) {
  LokiBatch batch;
  std::string error;
  EXPECT_FALSE(parse_tail_frame("not json", batch, error));
  EXPECT_FALSE(parse_tail_frame(R"({"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]})", batch, error));
  EXPECT_NE(error.find("<unix ns>"), std::string::npos) << error;
  EXPECT_FALSE(parse_tail_frame(R"({"streams":[{"stream":{"a":"b"},"values":[["12x","x"]]}]})", batch, error));
}

TEST(LokiEntries, QueryRangeAnswerAndMetricQueries) {
  LokiBatch batch;
  std::string error;
  ASSERT_TRUE(parse_query_range(
      R"({"status":"success","data":{"resultType":"streams","result":[{"stream":{"a":"1"},"values":[["20","b"],["10","a"]]}],"stats":{}}})",
      batch, error))
      << error;
  ASSERT_EQ(batch.entries.size(), 2u);
  EXPECT_EQ(batch.entries[0].line, "a");  // in time order
  EXPECT_FALSE(parse_query_range(R"({"status":"success","data":{"resultType":"matrix","result":[]}})", batch, error));
  EXPECT_NE(error.find("metric"), std::string::npos) << error;
  EXPECT_FALSE(parse_query_range(R"({"status":"error","error":"x"})", batch, error));
}

TEST(EntryMemory, DropsRepeatsAtTheLastInstantPerStreamAndLine) {
  EntryMemory m;
  using O = EntryMemory::Older;
  EXPECT_TRUE(m.admit("a", 10, "x", O::seen));
  EXPECT_TRUE(m.admit("a", 10, "y", O::seen));   // another line at the same nanosecond
  EXPECT_TRUE(m.admit("b", 10, "x", O::seen));   // the same line in another stream
  EXPECT_FALSE(m.admit("a", 10, "x", O::seen));  // a resumed page repeats it
  EXPECT_FALSE(m.admit("a", 9, "old", O::seen)); // a fill: older than delivered = delivered
  EXPECT_TRUE(m.admit("a", 9, "late", O::deliver));  // a live tail: an out-of-order write, sent once
  EXPECT_TRUE(m.admit("a", 11, "x", O::seen));
  EXPECT_EQ(m.newest(), 11);
  EXPECT_EQ(m.streams(), 2u);
}

}  // namespace
}  // namespace klaxon::sources
