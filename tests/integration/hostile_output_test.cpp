// Lines that try to drive the operator's terminal: ESC and OSC sequences, 8-bit C1 controls and
// bytes that are not UTF-8, in pod names, labels, decoded fields and messages. Whatever klaxon
// prints of them, on stdout or stderr, in every output format, reaches the terminal inert.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {


// The first thing in `text` that a terminal would act on, or "" when there is none: a control
// character other than the newline, DEL, a C1 control (U+0080..U+009F), or a byte that is not
// UTF-8 (a raw 0x9B is CSI to many terminals). JSON lines too: `jq -r` would print a C1
// control that the JSON held raw, so the JSON writer escapes it (\u009b).
std::string first_unsafe(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    const auto at = [&] { return "byte " + std::to_string(i) + " near: " + std::string(text.substr(i < 40 ? 0 : i - 40, 80)); };
    if (b == '\n' || (b >= 0x20 && b < 0x7F)) {
      ++i;
      continue;
    }
    if (b < 0x80) return "control " + std::to_string(b) + " at " + at();
    const std::size_t n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
    if (n == 0 || i + n > text.size()) return "not UTF-8 at " + at();
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return "not UTF-8 at " + at();
    if (b == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) return "C1 control at " + at();
    i += n;
  }
  return "";
}

// Every place a log line puts text that klaxon prints: the kubectl --prefix pod and container,
// JSON fields that become labels, the message, a CRI line, logfmt.
const std::string kHostile =
    "[pod/web\x1b]0;owned\x07-1/app\x1b[8m] x509: certificate has expired or is not yet valid \x1b[8mhidden\n"
    "{\"instance\":\"dapr-sentry\\u001b]2;owned\\u0007-x\",\"level\":\"warning\",\"msg\":\"Dapr root certificate "
    "expiration warning: certificate expires in 2 days and 15 hours \\u009b31m\",\"scope\":\"dapr.sentry\","
    "\"time\":\"2024-04-01T23:43:35.931825236Z\",\"type\":\"log\",\"ver\":\"1.6.0\"}\n"
    "2024-04-01T23:43:36.000000000Z stdout F x509: certificate has expired or is not yet valid \x9b" "31m\xff\xfe\r\n"
    "time=\"2024-04-01T23:43:37Z\" level=error msg=\"x509: certificate has expired or is not yet valid\" "
    "pod=\"evil\x1b]52;c;b3duZWQ=\x07\" namespace=\"ns\xc2\x9b" "1m\"\n"
    "[pod/api\x7f-2/c\x1b\\] tls: failed to verify certificate: x509: certificate signed by unknown authority\n";

void expect_inert(const std::vector<std::string>& flag_sets) {
  test::TempDir dir;
  const std::string file = (dir.path() / "hostile.log").string();
  std::ofstream(file, std::ios::binary) << kHostile;
  for (const std::string& flags : flag_sets) {
    SCOPED_TRACE(flags);
    std::vector<std::string> args;  // the set's words, then the file
    std::istringstream words(flags);
    for (std::string w; words >> w;) args.push_back(w);
    args.push_back(file);
    auto r = test::run_klaxon(args);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("cert_expired"), std::string::npos) << r.out;
    EXPECT_EQ(first_unsafe(r.out), "") << "stdout";
    EXPECT_EQ(first_unsafe(r.err), "") << "stderr";
  }
}

TEST(HostileOutput, NothingFromALogLineReachesTheTerminalRawInJsonLines) {
  expect_inert({"--format jsonl", "--format jsonl --matches"});
}

// The terminal: pod names, labels, summaries and messages as the console sink prints them.
TEST(HostileOutput, NothingFromALogLineReachesTheTerminalRawOnTheConsole) { expect_inert({"", "--matches"}); }

TEST(HostileOutput, ErrorsAboutHostileNamesAreInert) {
  test::TempDir dir;
  // A file name is text an attacker can choose (a pod's log file on a node).
  const std::string missing = (dir.path() / "x\x1b]0;owned\x07.log").string();
  auto r = test::run_klaxon({missing});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("x\\x1B]0;owned\\x07.log"), std::string::npos) << r.err;
  EXPECT_EQ(first_unsafe(r.err), "") << r.err;
}

// A URL's credentials, path and query may be its secret: errors name scheme and host only.
TEST(HostileOutput, LokiUrlsAreSaidWithoutCredentialsPathOrQuery) {
  auto r = test::run_klaxon({"loki", "--url", "ftp://user:pw0rd@127.0.0.1:1", "--query", "{a=\"b\"}"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("ftp://127.0.0.1:1"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("pw0rd"), std::string::npos) << r.err;
  // Port 1 refuses at once; klaxon retries for ever, so it is stopped after its first words.
  test::KlaxonProcess k({"loki", "--url", "http://127.0.0.1:1/xsecretpath?tok=xsecret", "--query", "{a=\"b\"}"});
  EXPECT_TRUE(k.wait_for_err("cannot reach Loki at")) << k.err();
  k.stop();
  EXPECT_NE(k.err().find("cannot reach Loki at http://127.0.0.1:1/…"), std::string::npos) << k.err();
  EXPECT_EQ(k.err().find("xsecret"), std::string::npos) << k.err();
}

}  // namespace
}  // namespace klaxon
