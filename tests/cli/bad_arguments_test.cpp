// Command lines a tired operator types wrong: every one is refused at once with what is wrong and
// exit status 2, never an internal error, a wrapped-around count, a wait forever or a silently
// ignored word.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "adapters/sources/child_process.hpp"
#include "tests/support/peer.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

const std::string kBin = KLAXON_BINARY;
const std::string kSource = KLAXON_SOURCE_DIR;
const std::string kSample = kSource + "/samples/quickstart.log";

// `klaxon ARGS` with no input on stdin, bounded in time (a wait forever is a failure, not a hang).
test::CommandResult klaxon(const std::string& args) {
  return test::run_command("timeout 20 " + kBin + " " + args + " < /dev/null");
}

void expect_refused(const test::CommandResult& r, const std::string& says) {
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
}

TEST(BadArguments, CountsOutOfRangeAreRefused) {
  expect_refused(klaxon("kubectl -l app=x --max-streams 99999999999999999999"),
                 "99999999999999999999 is not a whole number from 1 to 100000");
  expect_refused(klaxon("kubectl -l app=x --max-streams 0"), "0 is not a whole number from 1 to 100000");
  expect_refused(klaxon("--max-line-bytes -5 " + kSample), "-5 is not a whole number from 1 to");
  expect_refused(klaxon("--max-line-bytes 99999999999999999999999 " + kSample), "is not a whole number");
  expect_refused(klaxon("--max-incidents -1 " + kSample), "-1 is not a whole number from 1 to");
  expect_refused(klaxon("--max-incidents 12ab " + kSample), "12ab is not a whole number");
  const auto ok = klaxon("--max-line-bytes 4096 --max-incidents 5 " + kSample);
  EXPECT_EQ(ok.status, 0) << "in range: accepted; " << ok.err;
}

TEST(BadArguments, HugeDurationsAreRefused) {
  expect_refused(klaxon("kubectl -l app=x --poll-interval 99999999999999999999s"), "is not a duration");
  expect_refused(klaxon("kubectl -l app=x --poll-interval 99999999999999999999"), "is not a duration");
  expect_refused(klaxon("kubectl -l app=x --poll-interval 9999999999999ms"), "is not a duration");
}

TEST(BadArguments, AnEmptyFollowPathIsRefused) {
  expect_refused(klaxon("--follow ''"), "--follow '': give a file, a glob or a directory");
}

TEST(BadArguments, AFileWithServeIsRefused) {
  expect_refused(klaxon(kSample + " serve --listen 127.0.0.1:0"), kSample);
}

TEST(BadArguments, AMissingKubeconfigFailsAtOnce) {
  test::TempDir dir;
  const std::string missing = (dir.path() / "nonexistent").string();
  expect_refused(klaxon("kubectl -l app=x --kubeconfig " + missing),
                 "--kubeconfig " + missing + ": cannot be read (No such file or directory)");
}

TEST(BadArguments, AnUnknownContextIsSaidToBeUnknown) {
  KLAXON_REQUIRE_PEER(!sources::find_on_path("kubectl").empty(), "kubectl is not on PATH (scripts/test installs it)");
  test::TempDir dir;
  const std::string kubeconfig = (dir.path() / "config").string();
  std::ofstream(kubeconfig) << "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {server: 'https://127.0.0.1:9'}\n"
                               "  name: c\ncontexts:\n- context: {cluster: c, user: u, namespace: default}\n  name: real\n"
                               "current-context: real\nusers:\n- name: u\n  user: {token: t}\n";
  const auto r = klaxon("kubectl -l app=x --kubeconfig " + kubeconfig + " --context nosuch");
  expect_refused(r, "--context nosuch: the kubeconfig has no such context");
  EXPECT_EQ(r.err.find("namespace"), std::string::npos) << r.err;
}

TEST(BadArguments, RulesCheckRefusesPlaceholdersAndAnnotationsThatNameNothing) {
  test::TempDir dir;
  const std::string pack = (dir.path() / "mine.yaml").string();
  std::ofstream(pack) << "pack: mine\nrules:\n"
                         "  - id: mine.expired\n"
                         "    class: cert_expired\n"
                         "    title: expired\n"
                         "    match: { message: 'certificate of (?P<host>\\S+) has expired' }\n"
                         "    severity: critical\n"
                         "    annotations:\n"
                         "      summary: '{host} expired {ago} ago'\n"
                         "      sumary: 'a typo'\n";
  const auto r = klaxon("rules check " + pack);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find(pack + ":10"), std::string::npos) << "the misspelt key's line: " << r.err;
  EXPECT_NE(r.err.find("unknown annotation 'sumary'"), std::string::npos) << r.err;
  std::ofstream(pack) << "pack: mine\nrules:\n"
                         "  - id: mine.expired\n"
                         "    class: cert_expired\n"
                         "    title: expired\n"
                         "    match: { message: 'certificate of (?P<host>\\S+) has expired' }\n"
                         "    severity: critical\n"
                         "    annotations:\n"
                         "      summary: '{host} expired {ago} ago'\n";
  const auto p = klaxon("rules check " + pack);
  EXPECT_EQ(p.status, 2) << p.err;
  EXPECT_NE(p.err.find(pack + ":3"), std::string::npos) << "the rule's line: " << p.err;
  EXPECT_NE(p.err.find("{ago} names no capture"), std::string::npos) << p.err;
  EXPECT_EQ(p.err.find("{host}"), std::string::npos) << p.err;
}

}  // namespace
}  // namespace klaxon
