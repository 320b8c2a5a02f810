// The one backoff and the one "is this answer final" rule (adapters/net/retry.hpp), shared by
// alert delivery and the Loki source.
#include <gtest/gtest.h>

#include <chrono>

#include "adapters/net/retry.hpp"

namespace klaxon::net {
namespace {

using namespace std::chrono_literals;

TEST(Backoff, EachWaitIsBetweenHalfAndAllOfADoublingStepCappedAtTheMax) {
  Backoff b(100ms, 1s);
  const std::chrono::nanoseconds steps[] = {100ms, 200ms, 400ms, 800ms, 1s, 1s, 1s};
  for (std::chrono::nanoseconds step : steps) {
    const auto wait = b.next();
    EXPECT_GE(wait, step / 2);
    EXPECT_LE(wait, step);
  }
  EXPECT_EQ(b.failures(), 7);
}

TEST(Backoff, JitterSpreadsTheWaitsAndASuccessStartsOver) {
  Backoff b(1s, 1s);
  std::chrono::nanoseconds lowest = 1s, highest = 0s;
  for (int i = 0; i < 200; ++i) {
    const auto wait = b.next();
    lowest = std::min(lowest, wait);
    highest = std::max(highest, wait);
  }
  // 200 draws from [0.5 s, 1 s]: all the same would mean many klaxons reconnecting in step.
  EXPECT_LT(lowest, 700ms);
  EXPECT_GT(highest, 800ms);
  Backoff r(10ms, 10s);
  for (int i = 0; i < 20; ++i) r.next();
  EXPECT_EQ(r.step(r.failures()), 10s);
  r.reset();
  EXPECT_EQ(r.failures(), 0);
  EXPECT_LE(r.next(), 10ms);
}

TEST(Backoff, NeverZeroNeverOverflows) {
  Backoff zero(0ms, 0ms);
  EXPECT_GT(zero.step(0).count(), 0);
  Backoff b(1ms, 30s);
  EXPECT_EQ(b.step(1000), 30s) << "a thousand failures in a row do not overflow the step";
}

TEST(PermanentStatus, FourHundredsAreFinalButTimeoutsAndTooManyRequests) {
  for (unsigned s : {400u, 401u, 403u, 404u, 413u, 422u, 499u}) EXPECT_TRUE(permanent_status(s)) << s;
  for (unsigned s : {408u, 429u, 500u, 502u, 503u, 504u, 200u, 204u, 301u, 0u}) EXPECT_FALSE(permanent_status(s)) << s;
}

}  // namespace
}  // namespace klaxon::net
