#include "engine/duration.hpp"

#include <gtest/gtest.h>

namespace klaxon {
namespace {

TEST(Duration, ReadsWhatEmittersPrint) {
  EXPECT_EQ(parse_duration_seconds("2 days and 15 hours"), 226800);  // Dapr sentry
  EXPECT_EQ(parse_duration_seconds("1 days and 0 hours"), 86400);    // Dapr, truncated
  EXPECT_EQ(parse_duration_seconds("1 day, 2 hours and 3 minutes"), 93780);
  EXPECT_EQ(parse_duration_seconds("23 hours"), 82800);
  EXPECT_EQ(parse_duration_seconds("in 29 days"), 2505600);
  EXPECT_EQ(parse_duration_seconds("62h59m59.9s"), 226799);  // Go time.Duration
  EXPECT_EQ(parse_duration_seconds("720h0m0s"), 2592000);
  EXPECT_EQ(parse_duration_seconds("53980 seconds"), 53980);
  EXPECT_EQ(parse_duration_seconds("14 day(s)"), 1209600);  // Nagios check_http / check_curl
  EXPECT_EQ(parse_duration_seconds("in 27 days"), 2332800);
  EXPECT_EQ(parse_duration_seconds("1.5h"), 5400);
  EXPECT_EQ(parse_duration_seconds("250ms"), 0);
}

TEST(Duration, ReadsRuleFileThresholds) {
  EXPECT_EQ(parse_duration_seconds("7d"), 604800);
  EXPECT_EQ(parse_duration_seconds("15m"), 900);
  EXPECT_EQ(parse_duration_seconds("30s"), 30);
  EXPECT_EQ(parse_duration_seconds("2h"), 7200);
  EXPECT_EQ(parse_duration_seconds("1w"), 604800);
}

TEST(Duration, IgnoresTrailingWordsButNotLeadingOnes) {
  EXPECT_EQ(parse_duration_seconds("2 days and 15 hours."), 226800);
  EXPECT_EQ(parse_duration_seconds("3 hours (renewing)"), 10800);
  EXPECT_FALSE(parse_duration_seconds("soon"));
  EXPECT_FALSE(parse_duration_seconds(""));
  EXPECT_FALSE(parse_duration_seconds("42"));
  EXPECT_FALSE(parse_duration_seconds("expires in 2 days"));
}

// A line's text is not trusted: a duration that would overflow an instant is no duration.
TEST(Duration, RefusesWhatNoCertificateLivesFor) {
  EXPECT_EQ(parse_duration_seconds("9223372036 days"), std::nullopt);
  EXPECT_EQ(parse_duration_seconds("99999999999999999999 hours"), std::nullopt);
  EXPECT_EQ(parse_duration_seconds("51 years"), std::nullopt);  // no unit `years`: not a duration either
  EXPECT_EQ(parse_duration_seconds("18263 days"), std::nullopt);  // just over 50 years
  EXPECT_EQ(parse_duration_seconds("18262 days"), 18262 * 86400);
}

TEST(Duration, FormatsAsTheTwoLargestUnits) {
  EXPECT_EQ(format_duration(226800), "2d15h");
  EXPECT_EQ(format_duration(86400), "1d");
  EXPECT_EQ(format_duration(3660), "1h1m");
  EXPECT_EQ(format_duration(45), "45s");
  EXPECT_EQ(format_duration(-90), "-1m30s");
}

// Seconds become 64-bit nanoseconds downstream, and no certificate lives 50 years: a longer
// duration is not one (it would overflow, or predict an expiry centuries away).
TEST(Duration, AbsurdDurationsAreNotDurations) {
  EXPECT_FALSE(parse_duration_seconds("expires in 9223372036 days"));
  EXPECT_FALSE(parse_duration_seconds("99999999999999999999999999999999999999 weeks"));
  EXPECT_FALSE(parse_duration_seconds("36500 days"));
  EXPECT_EQ(parse_duration_seconds("3650 days"), std::int64_t{3650} * 86400);
}

}  // namespace
}  // namespace klaxon
