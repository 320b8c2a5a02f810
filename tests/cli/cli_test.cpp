// End to end: the real binary on the seeds' samples, loghub, bad input, and its contract.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "tests/support/jsonl.hpp"
#include "tests/support/peer.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

namespace fs = std::filesystem;
using test::field;
using test::JsonLines;
using test::run_command;
using test::run_klaxon;

const std::string kBin = KLAXON_BINARY;
const std::string kSource = KLAXON_SOURCE_DIR;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

// A value of the run's summary line (the last line of a jsonl run), "(absent)" if none.
std::string summary_value(const JsonLines& out, const std::string& key) {
  const auto summaries = out.of_type("summary");
  if (summaries.size() != 1) return "(" + std::to_string(summaries.size()) + " summary lines)";
  return field(summaries[0], key);
}

// Every line of every sample file of the seeds, with the class it must get (samples/seeds/expected.tsv).
TEST(Cli, EverySeedLineIsClassifiedRight) {
  const std::string dir = kSource + "/samples/seeds";
  const auto rows = split(test::read_file(dir + "/expected.tsv"), '\n');
  std::map<std::string, std::map<std::uint64_t, std::string>> output;  // file -> line -> jsonl
  std::map<std::string, std::unique_ptr<JsonLines>> parsed;             // file -> its output, parsed
  std::map<std::string, std::map<std::uint64_t, simdjson::dom::object>> matches;  // file -> line -> match
  std::map<std::string, bool> run;
  int checked = 0, classified = 0;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].empty()) continue;
    auto cols = split(rows[i], '\t');
    ASSERT_GE(cols.size(), 3u) << rows[i];
    const std::string& file = cols[0];
    if (!run[file]) {
      run[file] = true;
      auto r = run_klaxon({"--format", "jsonl", "--matches", dir + "/" + file});
      ASSERT_EQ(r.status, 0) << r.err;
      parsed[file] = std::make_unique<JsonLines>(r.out);
      for (const auto& m : parsed[file]->of_type("match")) {
        const std::uint64_t line_no = std::stoull(field(m, "line_no"));
        matches[file][line_no] = m;
        output[file][line_no] = simdjson::minify(m);
      }
    }
    const std::uint64_t line_no = std::stoull(cols[1]);
    const std::string& want = cols[2];
    auto& lines = output[file];
    const auto it = lines.find(line_no);
    ++checked;
    if (want == "-" || want == "~") {
      EXPECT_TRUE(it == lines.end()) << file << ":" << line_no << " must not be classified, got " << it->second;
      continue;
    }
    ++classified;
    ASSERT_TRUE(it != lines.end()) << file << ":" << line_no << " should be " << want;
    const simdjson::dom::object match = matches[file][line_no];
    EXPECT_EQ(field(match, "class"), want) << file << ":" << line_no;
    if (cols.size() > 3 && !cols[3].empty())
      for (const auto& kv : split(cols[3], ';')) {
        const auto eq = kv.find('=');
        const std::string name = kv.substr(0, eq);
        // A value is a field of the match itself or one it extracted (fields: {...}).
        std::string got = field(match, name);
        if (got == "(absent)") got = field(match, "/fields/" + name);
        EXPECT_EQ(got, kv.substr(eq + 1)) << file << ":" << line_no << " " << kv << " in " << it->second;
      }
  }
  EXPECT_GE(checked, 30);
  EXPECT_GE(classified, 15);
}

TEST(Cli, NoMatchOnTheLoghubBackgroundCorpus) {
  const std::string corpus = kSource + "/../shared/corpora/loghub";
  KLAXON_REQUIRE_PEER(fs::exists(corpus), "../shared/corpora/loghub is not beside the checkout");
  std::vector<std::string> args{"--format", "jsonl", "--matches"};
  for (const auto& e : fs::directory_iterator(corpus))
    if (e.path().extension() == ".log") args.push_back(e.path().string());
  ASSERT_GT(args.size(), 3u) << "no .log file in " << corpus;
  auto r = run_klaxon(args);
  ASSERT_EQ(r.status, 0) << r.err;
  const JsonLines out(r.out);
  EXPECT_TRUE(out.of_type("match").empty()) << r.out.substr(0, 2000);
  EXPECT_EQ(summary_value(out, "lines"), "32000");
  EXPECT_EQ(summary_value(out, "matched_lines"), "0");
}

class CliInput : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("klaxon-cli-" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
  std::string path(const std::string& name) { return (dir / name).string(); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir / name, std::ios::binary) << text; }
};

const std::string kExpired =
    R"({"instance":"dapr-sentry-1","level":"warning","msg":"Dapr root certificate expiration warning: certificate has expired.","scope":"dapr.sentry","time":"2023-06-19T12:49:06.566339341Z","type":"log","ver":"1.10.4"})";
const std::string kLost =
    "W0601 02:52:46.530879       1 reflector.go:347] pkg/mod/k8s.io/client-go@v0.26.1/tools/cache/reflector.go:169: watch of *v1.Secret ended with: an error on the server (\"unable to decode an event from the watch stream: http2: client connection lost\") has prevented the request from succeeding";

TEST_F(CliInput, MachineOutputHasTheDocumentedShape) {
  write("a.log", kExpired + "\n");
  auto r = run_klaxon({"--format", "jsonl", "--matches", path("a.log")});
  ASSERT_EQ(r.status, 0) << r.err;
  auto lines = split(r.out, '\n');
  ASSERT_EQ(lines.size(), 3u) << r.out;  // the match, the incident it opened, the summary
  EXPECT_EQ(lines[0].rfind("{\"type\":\"match\",\"source\":\"" + path("a.log") + "\",\"line_no\":1,\"time\":\"2023-06-19T12:49:06.566339341Z\",\"rule\":\"", 0), 0u) << lines[0];
  const JsonLines out(r.out);
  ASSERT_EQ(out.size(), 3u) << r.out;
  const auto match = out.all()[0], incident = out.all()[1];
  EXPECT_EQ(field(match, "class"), "cert_expired");
  simdjson::dom::object object;
  EXPECT_EQ(match["labels"].get(object), simdjson::SUCCESS) << lines[0];
  EXPECT_EQ(match["fields"].get(object), simdjson::SUCCESS) << lines[0];
  EXPECT_EQ(field(match, "line"), kExpired) << "the line as read";
  EXPECT_EQ(lines[1].rfind("{\"type\":\"incident\",\"event\":\"opened\",\"time\":\"2023-06-19T12:49:06.566339341Z\",\"id\":\"", 0), 0u) << lines[1];
  for (const char* key : {"rule", "severity", "title", "labels", "first_seen", "last_seen", "expires_at", "summary"})
    EXPECT_NE(field(incident, key), "(absent)") << key;
  EXPECT_EQ(field(incident, "class"), "cert_expired");
  EXPECT_EQ(field(incident, "count"), "1");
  EXPECT_EQ(field(incident, "caused_by"), "null");
  EXPECT_EQ(field(out.all()[2], "type"), "summary");
  // Without --matches, incident events and the summary only.
  auto quiet = run_klaxon({"--format", "jsonl", path("a.log")});
  const JsonLines quiet_out(quiet.out);
  EXPECT_EQ(quiet_out.size(), 2u) << quiet.out;
  EXPECT_TRUE(quiet_out.of_type("match").empty()) << quiet.out;
}

TEST_F(CliInput, BadInputIsSaidOnceCountedAndLosesNothingElse) {
  std::string text = kLost + "\n";
  text += "{\"msg\":\"broken json, x509: certificate has expired or is not yet valid: current time 2023-06-19T13:19:51Z is after 2023-06-16T12:31:17Z\n";
  text += "{\"msg\":\"broken again\n";
  text += "\xff\xfe\xfd " + kLost + "\n";
  text += std::string(10 << 20, 'z') + " http2: client connection lost\n";  // 10 MiB: cut, its tail is lost
  text += std::string("\0\0\0", 3) + "\n";
  text += kExpired;  // last line without newline
  write("bad.log", text);
  auto r = run_klaxon({"--format", "jsonl", "--matches", path("bad.log")});
  ASSERT_EQ(r.status, 0) << r.err;
  const JsonLines out(r.out);
  EXPECT_EQ(out.of_type("match").size(), 4u) << r.out.substr(0, 3000);  // lost, broken-json expired, invalid-utf8 lost, final expired
  EXPECT_EQ(summary_value(out, "truncated_lines"), "1");
  EXPECT_EQ(summary_value(out, "invalid_utf8"), "1");
  EXPECT_EQ(summary_value(out, "lines"), "7");
  EXPECT_NE(r.err.find("bad.log:5: a line longer than 1048576 bytes was cut"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bad.log:2: broken JSON, read as plain text"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bad.log:4: invalid UTF-8"), std::string::npos) << r.err;
  // Said once each: the second broken JSON line is only counted.
  EXPECT_EQ(r.err.find("broken JSON", r.err.find("broken JSON") + 1), std::string::npos) << r.err;
  // The output is valid UTF-8 whatever came in.
  EXPECT_NE(r.out.find("\xEF\xBF\xBD"), std::string::npos);
}

TEST_F(CliInput, TruncatedArchiveAndMissingFileFailButTheOtherFilesAreRead) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += kExpired + "\n";
  write("big.log", text);
  write("good.log", kLost + "\n");
  ASSERT_EQ(run_command("cd " + dir.string() + " && gzip -k big.log && head -c 2000 big.log.gz > cut.gz").status, 0);
  auto r = run_klaxon({"--format", "jsonl", "--matches", path("cut.gz"), path("nope.log"), path("good.log")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("cut.gz: truncated gzip archive"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cannot open " + path("nope.log")), std::string::npos) << r.err;
  const JsonLines out(r.out);
  std::set<std::string> sources;
  for (const auto& m : out.of_type("match")) sources.insert(field(m, "source"));
  EXPECT_TRUE(sources.contains(path("good.log"))) << r.out.substr(0, 2000);
  EXPECT_TRUE(sources.contains(path("cut.gz"))) << r.out.substr(0, 2000);
  EXPECT_EQ(summary_value(out, "source_errors"), "2");
}

TEST_F(CliInput, StdinPlainGzipAndZstdGiveTheSameMatches) {
  write("a.log", kLost + "\n" + kExpired + "\n");
  ASSERT_EQ(run_command("cd " + dir.string() + " && gzip -k a.log && zstd -q -k a.log").status, 0);
  auto strip_source = [](std::string out) {
    std::string kept;
    for (const auto& m : JsonLines(out).of_type("match")) kept += field(m, "line_no") + field(m, "rule") + "\n";
    return kept;
  };
  const auto plain = strip_source(run_klaxon({"--format", "jsonl", "--matches", path("a.log")}).out);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), '\n'), 2);
  EXPECT_EQ(strip_source(run_klaxon({"--format", "jsonl", "--matches", path("a.log.gz")}).out), plain);
  EXPECT_EQ(strip_source(run_klaxon({"--format", "jsonl", "--matches", path("a.log.zst")}).out), plain);
  EXPECT_EQ(strip_source(run_klaxon({"--format", "jsonl", "--matches"}, test::ProcessOptions().with_stdin_file(path("a.log"))).out), plain);
  EXPECT_EQ(strip_source(run_klaxon({"--format", "jsonl", "--matches", "-"}, test::ProcessOptions().with_stdin_file(path("a.log.zst"))).out), plain);
}

TEST_F(CliInput, TerminalOutputIsOneShortLinePerMatchAndASummary) {
  write("a.log", "[pod/app1-123456-abc7/daprd] 2023-06-19T13:19:53.535259601Z " + kExpired + "\nnothing here\n");
  auto r = run_klaxon({path("a.log")});
  ASSERT_EQ(r.status, 0) << r.err;
  auto lines = split(r.out, '\n');
  ASSERT_GE(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines[0].rfind("2023-06-19T12:49:06Z ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find("cert_expired"), std::string::npos);
  EXPECT_NE(lines[0].find("app1-123456-abc7/daprd"), std::string::npos);
  EXPECT_EQ(lines[0].find("\x1b["), std::string::npos);  // no colour when not on a terminal
  EXPECT_LE(lines[0].size(), 300u);
  EXPECT_NE(lines[1].find("▲ INCIDENT OPENED"), std::string::npos) << lines[1];
  EXPECT_NE(r.out.find("── 2 lines read from 1 source, 1 classified: 1 cert_expired"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("── 1 incident (1 critical, 0 warning), 1 still open"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fix: "), std::string::npos) << r.out;  // the runbook, for the one to act on
  auto colored = run_klaxon({"--color", "always", path("a.log")});
  EXPECT_NE(colored.out.find("\x1b["), std::string::npos);
}

TEST_F(CliInput, FailOnSetsTheExitStatus) {
  write("a.log", kLost + "\n");
  EXPECT_EQ(run_klaxon({"--fail-on", "warning", path("a.log")}).status, 3);
  EXPECT_EQ(run_klaxon({"--fail-on", "critical", path("a.log")}).status, 0);
}

TEST_F(CliInput, InvalidRulePackIsAUsageErrorNamingFileAndLine) {
  write("bad.yaml", "pack: x\nrules:\n  - id: x.a\n    class: cert_expired\n    title: t\n    match: { message: '(' }\n");
  auto r = run_klaxon({"--rules", path("bad.yaml"), path("bad.yaml")});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(path("bad.yaml") + ":3: rule x.a: match regex does not compile"), std::string::npos) << r.err;
  auto check = run_klaxon({"rules", "check", path("bad.yaml")});
  EXPECT_EQ(check.status, 2);
  EXPECT_NE(check.err.find(path("bad.yaml") + ":3:"), std::string::npos) << check.err;
}

// Rules check says which rules make lines cost an RE2 run: statically, a rule with no literal
// to search for; with --sample, a rule whose literal is on many lines of real logs that the rule
// then does not match, naming that literal.
TEST_F(CliInput, RulesCheckSaysWhichRulesCostRe2RunsAndWhy) {
  write("mine.yaml",
        "pack: mine\n"
        "rules:\n"
        "  - { id: mine.everywhere, class: crashloop, title: t, match: { line: '\\d+ [a-z]+' } }\n"
        "  - { id: mine.costly, class: crashloop, title: t, match: { line: '(?:deadline exceeded after|context canceled after) \\d+ retries' } }\n"
        "  - { id: mine.selective, class: cert_expired, title: t, match: { line: 'x509: certificate has expired' } }\n");
  std::string sample;
  // Each literal of the rule's branch is there (the prefilter's conjunction), the regex still fails.
  for (int i = 0; i < 50; ++i) sample += "rpc error: Context canceled after 3s, no more retries\nGET /healthz 200\n";
  for (int i = 0; i < 12; ++i) sample += "x509: certificate has expired\n";
  sample += "deadline exceeded after 7 retries\n";
  write("sample.log", sample);

  auto plain = run_klaxon({"rules", "check", path("mine.yaml")});
  EXPECT_EQ(plain.status, 0) << plain.err;
  EXPECT_NE(plain.err.find(path("mine.yaml") + ":3: warning: rule mine.everywhere: no literal"), std::string::npos)
      << plain.err;
  EXPECT_EQ(plain.err.find("mine.costly"), std::string::npos) << "no sample, nothing measured: " << plain.err;

  auto measured = run_klaxon({"rules", "check", path("mine.yaml"), "--sample", path("sample.log")});
  EXPECT_EQ(measured.status, 0) << measured.err;
  EXPECT_NE(measured.err.find(path("mine.yaml") + ":4: warning: rule mine.costly: tried on 45.1% of the lines of " +
                              path("sample.log") + " (51 of 113), matched 1: its literal \"context canceled after \""),
            std::string::npos)
      << measured.err;
  EXPECT_EQ(measured.err.find("mine.selective"), std::string::npos) << "it matches where it is tried: " << measured.err;
  EXPECT_EQ(measured.err.find("mine.everywhere: tried"), std::string::npos) << "said once, statically: " << measured.err;
  EXPECT_NE(measured.out.find("measured on 113 lines of " + path("sample.log")), std::string::npos) << measured.out;

  auto missing = run_klaxon({"rules", "check", path("mine.yaml"), "--sample", path("nope.log")});
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.err.find("cannot read the sample"), std::string::npos) << missing.err;

  // A broken archive: what was read before the damage is measured, then the damage is said.
  std::string big;
  for (int i = 0; i < 4000; ++i) big += "rpc error: Context canceled after " + std::to_string(i) + "s, no more retries\n";
  write("big.log", big);
  ASSERT_EQ(run_command("cd " + dir.string() + " && gzip -k big.log && head -c 4000 big.log.gz > cut.gz").status, 0);
  auto cut = run_klaxon({"rules", "check", path("mine.yaml"), "--sample", path("cut.gz")});
  EXPECT_EQ(cut.status, 1) << cut.err;
  // (The line cut off before its " retries" is no candidate: 99.9%.)
  EXPECT_NE(cut.err.find("warning: rule mine.costly: tried on 99.9% of the lines of " + path("cut.gz")), std::string::npos)
      << cut.err;
  EXPECT_NE(cut.err.find("rules check: the sample broke after "), std::string::npos) << cut.err;
  EXPECT_NE(cut.err.find("truncated gzip archive"), std::string::npos) << cut.err;
}

TEST_F(CliInput, ExtraPacksAddToTheBuiltInOnesOrReplaceThem) {
  write("mine.yaml", "pack: mine\nrules:\n  - { id: mine.a, class: crashloop, title: t, match: { message: 'custom failure phrase' } }\n");
  write("a.log", "a custom failure phrase\n" + kLost + "\n");
  auto both = run_klaxon({"--format", "jsonl", "--matches", "--rules", path("mine.yaml"), path("a.log")});
  auto rules_of = [](const std::string& out) {
    std::set<std::string> rules;
    for (const auto& m : JsonLines(out).of_type("match")) rules.insert(field(m, "rule"));
    return rules;
  };
  EXPECT_EQ(rules_of(both.out), (std::set<std::string>{"mine.a", "k8s.client_connection_lost"})) << both.err;
  auto only = run_klaxon({"--format", "jsonl", "--matches", "--no-default-rules", "--rules", path("mine.yaml"), path("a.log")});
  EXPECT_EQ(rules_of(only.out), (std::set<std::string>{"mine.a"})) << only.err;
}

TEST_F(CliInput, FlagsAreTakenBeforeOrAfterTheFiles) {
  write("a.log", kExpired + "\n" + kLost + "\n");
  auto before = run_klaxon({"--format", "jsonl", "--matches", path("a.log")});
  auto after = run_klaxon({path("a.log"), "--format", "jsonl", "--matches"});
  ASSERT_EQ(before.status, 0) << before.err;
  ASSERT_EQ(after.status, 0) << after.err;
  EXPECT_EQ(after.out, before.out);
  // two matches, two incidents opened, the lost connection resolved (quiet by the replay's last
  // event time), the summary
  const JsonLines out(after.out);
  EXPECT_EQ(out.size(), 6u) << after.out;
  EXPECT_EQ(out.of_type("match").size(), 2u) << after.out;
  EXPECT_EQ(out.of_type("incident").size(), 3u) << after.out;
}

TEST_F(CliInput, AMistypedCommandGetsADidYouMean) {
  auto rule = run_klaxon({"rule", "list"});
  EXPECT_EQ(rule.status, 2);
  EXPECT_EQ(rule.err, "klaxon: 'rule' is not a command; did you mean `klaxon rules`?\n");
  auto lst = run_klaxon({"rules", "lst"});
  EXPECT_EQ(lst.status, 2);
  EXPECT_EQ(lst.err, "klaxon rules: 'lst' is not a command; did you mean `klaxon rules list`?\n");
  auto far = run_klaxon({"rules", "frobnicate"});
  EXPECT_EQ(far.status, 2);
  EXPECT_NE(far.err.find("the commands are check, test, list, export"), std::string::npos) << far.err;
  auto flag = run_klaxon({"--format", "jsonl", "--matchs", path("a.log")});
  EXPECT_EQ(flag.status, 2);
  EXPECT_EQ(flag.err, "klaxon: --matchs is not supported here; did you mean --matches?\n");
  // A word that names a file is a file, however close to a command it is.
  write("rule", kExpired + "\n");
  auto file = run_klaxon({"--format", "jsonl", "rule"}, test::ProcessOptions().with_cwd(dir));
  EXPECT_EQ(file.status, 0) << file.err;
  EXPECT_FALSE(JsonLines(file.out).of_type("incident").empty()) << file.out;
  // A missing file that looks like no command is said as a missing file.
  auto missing = run_klaxon({path("nope.log")});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("nope.log"), std::string::npos) << missing.err;
}

TEST_F(CliInput, EveryDurationFlagIsCheckedTheSameWay) {
  write("a.log", kExpired + "\n");
  for (const std::string flag : {"--allowed-lateness", "--rotate-wait", "--alertmanager-resend"}) {
    auto r = run_klaxon({flag, "soon", path("a.log")});
    EXPECT_EQ(r.status, 2) << flag;
    EXPECT_NE(r.err.find(flag + ": soon is not a duration (write 30s, 5m, 2h, 7d)"), std::string::npos) << r.err;
  }
  auto zero = run_klaxon({"--alertmanager-resend", "0s", path("a.log")});
  EXPECT_EQ(zero.status, 2);
  EXPECT_NE(zero.err.find("--alertmanager-resend: 0s is too short"), std::string::npos) << zero.err;
  auto idle = run_klaxon({"loki", "--url", "http://127.0.0.1:1", "--query", "{a=\"b\"}", "--idle-timeout", "soon"});
  EXPECT_EQ(idle.status, 2);
  EXPECT_NE(idle.err.find("--idle-timeout: soon is not a duration"), std::string::npos) << idle.err;
  auto ok = run_klaxon({"--allowed-lateness", "1500ms", "--format", "jsonl", path("a.log")});
  EXPECT_EQ(ok.status, 0) << ok.err;
}

// Every flag that takes a duration, wherever it is on the line, refuses a negative one and one
// too long to be a time, before anything starts, in the same words.
TEST_F(CliInput, EveryDurationFlagRefusesNegativesAndOverflow) {
  write("a.log", kExpired + "\n");
  const std::vector<std::string> loki = {"loki", "--url", "http://127.0.0.1:1", "--query", "{a=\"b\"}"};
  const std::vector<std::string> kubectl = {"kubectl", "-l", "app=x"};
  const std::vector<std::pair<std::vector<std::string>, std::string>> flags = {
      {{path("a.log")}, "--allowed-lateness"}, {{path("a.log")}, "--rotate-wait"},
      {{path("a.log")}, "--alertmanager-resend"}, {{path("a.log")}, "--max-clock-skew"},
      {{path("a.log")}, "--expiry-retention"}, {{path("a.log")}, "--expiry-warning"},
      {{path("a.log")}, "--expiry-critical"}, {{path("a.log")}, "--probe-interval"},
      {kubectl, "--since"}, {kubectl, "--poll-interval"}, {kubectl, "--stall-timeout"},
      {loki, "--since"}, {loki, "--idle-timeout"},
      {{"certs", path("a.log")}, "--probe-timeout"}, {{"certs", path("a.log")}, "--warn-before"},
      {{"certs", path("a.log")}, "--critical-before"}};
  for (const auto& [words, flag] : flags)
    for (const std::string bad : {"-5m", "99999999999999999999s", "2000000d"}) {
      std::vector<std::string> args = words;
      args.push_back(flag + "=" + bad);
      auto r = run_klaxon(args);
      EXPECT_EQ(r.status, 2) << flag << "=" << bad << ": " << r.err;
      EXPECT_NE(r.err.find(flag + ": " + bad + " is not a duration (write 30s, 5m, 2h, 7d)"), std::string::npos)
          << flag << "=" << bad << ": " << r.err;
    }
}

TEST(Cli, ASourceWordTakesNoFiles) {
  auto r = run_klaxon({"loki", "--url", "http://127.0.0.1:1", "--query", "{a=\"b\"}", "stray.log"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("klaxon loki: 'stray.log' is not one of its flags or values"), std::string::npos) << r.err;
}

TEST(Cli, HelpIsShortAndNamesEveryOption) {
  auto r = run_klaxon({"--help"});
  EXPECT_EQ(r.status, 0);
  for (const char* opt : {"--format", "--matches", "--rules", "--no-default-rules", "--color", "--fail-on", "rules"})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
  // One screen (80 lines), grouped; no line wider than a terminal.
  const auto lines = split(r.out, '\n');
  EXPECT_LT(lines.size(), 80u);
  ASSERT_GT(lines.size(), 10u) << r.out;
  for (const auto& line : lines) EXPECT_LE(line.size(), 100u) << line;
  auto rules = run_klaxon({"rules", "--help"});
  for (const char* sub : {"check", "test", "list"}) EXPECT_NE(rules.out.find(sub), std::string::npos) << sub;
  EXPECT_EQ(run_klaxon({"--no-such-flag"}).status, 2);
  auto version = run_klaxon({"--version"});
  EXPECT_EQ(version.status, 0);
  EXPECT_EQ(version.out.rfind("klaxon ", 0), 0u) << version.out;
}

TEST(Cli, RulesListTestAndCheckCoverTheBuiltInPacks) {
  auto list = run_klaxon({"rules", "list"});
  ASSERT_EQ(list.status, 0);
  EXPECT_NE(list.out.find("dapr.root_cert_expired"), std::string::npos);
  auto t = run_klaxon({"rules", "test"});
  EXPECT_EQ(t.status, 0) << t.out;
  EXPECT_NE(t.out.find(" passed, 0 failed"), std::string::npos);
  auto check = run_klaxon({"rules", "check"});
  EXPECT_EQ(check.status, 0) << check.err;
  EXPECT_EQ(check.err, "") << "the shipped packs check clean";
  // Every file in rules/packs is compiled in (other branches add packs: count them, do not pin).
  int packs = 0;
  for (const auto& e : fs::directory_iterator(kSource + "/rules/packs")) packs += e.path().extension() == ".yaml";
  EXPECT_NE(check.out.find("rules check: " + std::to_string(packs) + " packs, "), std::string::npos) << check.out;
}

}  // namespace
}  // namespace klaxon
