// `klaxon --version`: what a bug report needs, the release, the commit built and the libraries.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

using test::run_command;
using test::run_klaxon;

const std::string kBin = KLAXON_BINARY;
const std::string kSource = KLAXON_SOURCE_DIR;

TEST(Version, NamesTheReleaseTheCommitAndEveryLibrary) {
  const auto r = run_klaxon({"--version"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(^klaxon \d+\.\d+\.\d+ \(commit [0-9a-f]{12}(-dirty)?\)\n)")))
      << r.out;
  for (const char* library : {"Hyperscan", "RE2", "simdjson", "Boost", "OpenSSL"})
    EXPECT_TRUE(std::regex_search(r.out, std::regex(std::string(library) + R"( \d)"))) << library << " in " << r.out;
}

TEST(Version, TheCommitIsTheOneCheckedOut) {
  if (!std::filesystem::exists(kSource + "/.git")) GTEST_SKIP() << "not a git checkout";
  const auto head = run_command("git -C '" + kSource + "' rev-parse --short=12 HEAD");
  ASSERT_EQ(head.status, 0) << head.err;
  const auto r = run_klaxon({"--version"});
  EXPECT_NE(r.out.find("(commit " + head.out.substr(0, 12)), std::string::npos) << r.out << " vs " << head.out;
}

}  // namespace
}  // namespace klaxon
