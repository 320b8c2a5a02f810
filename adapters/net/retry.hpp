// adapters/net/retry.hpp — how long to wait before trying a peer again, and whether to.
//
// Every client of ours that retries (alert delivery, the Loki tail and its queries) waits the
// same way: exponential backoff from `first`, doubling per failure up to `max`, each wait drawn
// between half and all of the step ("equal jitter"), so that many klaxons do not come back to
// a restarted receiver in step, and no wait is ever near zero. A success starts over.
// And every client judges an HTTP answer the same way: permanent_status says when retrying
// cannot help.
// Thread safety: a Backoff belongs to one coroutine.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace klaxon::net {

/// Retrying cannot change this answer: a 4xx (the request itself is refused: credentials,
/// tenant, query, body), except 408 Request Timeout and 429 Too Many Requests, which ask to be
/// tried again later. A 5xx is the receiver's trouble and transient; so is no answer at all.
constexpr bool permanent_status(unsigned status) { return status >= 400 && status < 500 && status != 408 && status != 429; }

class Backoff {
 public:
  using duration = std::chrono::nanoseconds;

  Backoff(duration first, duration max) : first_(std::max(first, duration(1))), max_(std::max(max, first_)) {}

  /// The step after `failures` failures in a row: first * 2^failures, at most max.
  duration step(int failures) const {
    duration s = first_;
    for (int i = 0; i < failures && s < max_; ++i) s *= 2;
    return std::min(s, max_);
  }

  /// The wait after one more failure, in [step/2, step]; counts the failure.
  duration next() {
    const duration s = step(failures_++);
    return duration(std::uniform_int_distribution<std::int64_t>(s.count() / 2, s.count())(random_));
  }

  /// A success: the next failure waits about `first` again.
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  duration first_, max_;
  int failures_ = 0;
  std::mt19937_64 random_{std::random_device{}()};
};

}  // namespace klaxon::net
