// tests/support/peer.hpp — what a test does when the real peer it drives is missing.
//
// Integration tests drive real peers (kubectl, winston-loki under node, Alertmanager, the
// openssl tool) and real corpora beside the checkout. On a user's machine a missing peer skips
// the test with the way to get it: the rest of the suite still says something. In CI
// (CI=true) scripts/test installs every peer first, so a missing one means the suite would
// pass without testing what matters: there it fails.
#pragma once

#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

namespace klaxon::test {

/// True when the suite runs in CI (the CI=true convention of every CI service).
inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::strcmp(ci, "true") == 0;
}

}  // namespace klaxon::test

/// Unless `available`, skips the current test saying `why` (a streamable message), or fails it
/// in CI. Like GTEST_SKIP and FAIL, it returns from the enclosing void function: a helper that
/// uses it must be followed by `if (::testing::Test::HasFatalFailure() || ::testing::Test::IsSkipped()) return;`.
#define KLAXON_REQUIRE_PEER(available, why)                                                \
  do {                                                                                     \
    if (!(available)) {                                                                    \
      if (::klaxon::test::in_ci()) {                                                       \
        FAIL() << why << " (CI=true: a missing peer fails the test)";                     \
      } else {                                                                             \
        GTEST_SKIP() << why;                                                               \
      }                                                                                    \
    }                                                                                      \
  } while (false)
