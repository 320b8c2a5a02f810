#include "engine/civil_time.hpp"

#include <gtest/gtest.h>

namespace klaxon {
namespace {

std::string iso(std::string_view text) {
  auto t = parse_instant(text);
  return t ? format_rfc3339(*t) : "(none)";
}

TEST(CivilTime, ParsesTheShapesEmittersPrint) {
  EXPECT_EQ(iso("2023-06-16T12:31:17Z"), "2023-06-16T12:31:17Z");
  EXPECT_EQ(iso("2023-06-16T14:31:17+02:00"), "2023-06-16T12:31:17Z");
  EXPECT_EQ(iso("2023-06-16 12:31:17 +0000 UTC"), "2023-06-16T12:31:17Z");     // Go time.Time.String()
  EXPECT_EQ(iso("2024-01-18 16:21:05.123 -0100 -01"), "2024-01-18T17:21:05Z");  // Go, other zone
  EXPECT_EQ(iso("1761177843"), "2025-10-23T00:04:03Z");                         // rustls, unix seconds
  EXPECT_EQ(iso("Wed, 18 Jun 2025 13:37:30 UTC"), "2025-06-18T13:37:30Z");      // RFC1123
  EXPECT_EQ(iso("Jun 18 13:37:30 2025 GMT"), "2025-06-18T13:37:30Z");           // OpenSSL notAfter
  EXPECT_EQ(iso("Mon Jan 01 00:00:00 UTC 2024"), "2024-01-01T00:00:00Z");       // Java Date
  EXPECT_EQ(iso("(2023-06-16T12:31:17Z)."), "2023-06-16T12:31:17Z");
  EXPECT_EQ(iso("Sat May 30 10:48:38 2020 +0000"), "2020-05-30T10:48:38Z");    // check_http, %c %z
  EXPECT_EQ(iso("Sun May  3 10:48:38 2020 +0000"), "2020-05-03T10:48:38Z");    // %c pads the day
  EXPECT_EQ(iso("5/29/2023"), "2023-05-29T00:00:00Z");                          // .NET short date
  EXPECT_EQ(iso("12/1/2024."), "2024-12-01T00:00:00Z");
}

TEST(CivilTime, RejectsWhatIsNotAnInstant) {
  EXPECT_EQ(iso("53980"), "(none)");
  EXPECT_EQ(iso("2023-06-16T12:31:17"), "(none)");  // no zone: ambiguous
  EXPECT_EQ(iso("Mon Jan 01 00:00:00 PST 2024"), "(none)");
  EXPECT_EQ(iso("yesterday"), "(none)");
  EXPECT_EQ(iso("29/5/2023"), "(none)");    // day first: month 29 does not exist
  EXPECT_EQ(iso("5/29/23"), "(none)");      // a two-digit year is not guessed
  EXPECT_EQ(iso("1/2/3/2023"), "(none)");
  EXPECT_EQ(iso("10.0.0.1/24"), "(none)");
  EXPECT_EQ(iso(""), "(none)");
}

// Outside [1970, 2200) an instant would overflow once a duration is added (or already does).
TEST(CivilTime, RefusesInstantsThatWouldOverflow) {
  EXPECT_EQ(parse_instant("99999999999"), std::nullopt);  // unix seconds in the year 5138
  EXPECT_EQ(parse_instant("9999-12-31T23:59:59Z"), std::nullopt);
  EXPECT_EQ(parse_instant("2262-04-12T00:00:00Z"), std::nullopt);
  EXPECT_TRUE(parse_instant("2199-12-31T23:59:59Z").has_value());
  EXPECT_TRUE(parse_instant("4102444800").has_value());  // 2100: a time, however unlikely
}

TEST(CivilTime, KeepsNanosecondsAndFormatsThem) {
  auto t = parse_rfc3339_prefix("2024-04-01T23:43:35.931825236Z trailing");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_rfc3339_nano(*t), "2024-04-01T23:43:35.931825236Z");
  EXPECT_EQ(format_rfc3339_nano(*parse_rfc3339_prefix("2024-04-01T23:43:35.5Z")), "2024-04-01T23:43:35.5Z");
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(*parse_instant("2000-02-29T23:59:59Z")), "2000-02-29T23:59:59Z");
}

TEST(CivilTime, ReportsHowMuchOfThePrefixItUsed) {
  std::size_t used = 0;
  ASSERT_TRUE(parse_rfc3339_prefix("2023-06-19T12:49:06.566339341Z stdout F x", &used));
  EXPECT_EQ(used, 30u);
}

// An instant is one in [1970, 2200): 64-bit nanoseconds since 1970 end in 2262 (past it was a
// signed overflow, found by fuzz/time_fuzz under UBSan, that wrapped to a time in the past), and
// no certificate klaxon meets ends after 2199.
TEST(CivilTime, InstantsBeyondWhatNanosHoldAreNotInstants) {
  EXPECT_FALSE(parse_rfc3339_prefix("2300-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_prefix("2262-04-11T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_prefix("1600-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_instant("99999999999"));  // unix seconds in the year 5138
  EXPECT_TRUE(parse_rfc3339_prefix("2199-12-31T23:59:59Z"));
}

}  // namespace
}  // namespace klaxon
