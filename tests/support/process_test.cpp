// The one helper that runs programs in the tests (tests/support/process.hpp): what it hands the
// program, what it bounds, and that a `--format jsonl` output that is not JSON fails the test
// that caused it, whatever that test looked for.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "tests/support/process.hpp"

namespace klaxon {
namespace {

using namespace std::chrono_literals;

TEST(Process, HandsTheProgramItsInputEnvironmentAndDirectory) {
  test::TempDir dir;
  const auto r = test::run_process({"/bin/sh", "-c", "cat; echo \"$KLAXON_TEST_WORD\"; pwd; echo oops >&2; exit 3"},
                                   test::ProcessOptions()
                                       .with_input("line one\n")
                                       .with_env({{"KLAXON_TEST_WORD", "hello"}})
                                       .with_cwd(dir.path()));
  EXPECT_EQ(r.status, 3);
  EXPECT_EQ(r.out, "line one\nhello\n" + std::filesystem::canonical(dir.path()).string() + "\n");
  EXPECT_EQ(r.err, "oops\n");
}

TEST(Process, AJsonLinesOutputThatIsNotJsonFailsTheTest) {
  // echo stands in for a klaxon that wrote a stray line among its JSON lines.
  EXPECT_NONFATAL_FAILURE(test::run_process({"/bin/echo", "--format", "jsonl", "{\"type\":\"match\""}),
                          "is not a JSON object");
  // The same words without --format jsonl are not checked.
  EXPECT_EQ(test::run_process({"/bin/echo", "--format", "text", "{\"type\":"}).status, 0);
}

TEST(Process, AProgramThatDoesNotEndInTimeIsKilledAndFailsTheTest) {
  test::CommandResult r;
  EXPECT_NONFATAL_FAILURE(r = test::run_process({"/bin/sleep", "60"}, test::ProcessOptions().with_limit(1s)),
                          "did not end within 1 s");
  EXPECT_EQ(r.status, -1);
}

TEST(Process, ABackgroundKlaxonSaysWhereItListensAndStopsOnSigterm) {
  test::KlaxonProcess k({"--format", "jsonl", "--listen", "127.0.0.1:0"});
  const std::string at = k.address();
  EXPECT_NE(at.find("127.0.0.1:"), std::string::npos) << at;
  k.close_stdin();
  EXPECT_EQ(k.stop(), 0) << k.err();
  EXPECT_EQ(test::JsonLines(k.out()).of_type("summary").size(), 1u) << k.out();
}

}  // namespace
}  // namespace klaxon
