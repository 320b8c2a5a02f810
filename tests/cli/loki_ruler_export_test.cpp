// `klaxon rules export --as loki-ruler`: a rule group file the Loki ruler loads, one alert per
// rule, every filter a regex that Loki's (RE2-syntax) engine compiles.
#include <gtest/gtest.h>

#include <re2/re2.h>

#include <set>

#include "rules/yaml_document.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

const std::string kBin = KLAXON_BINARY;

// The regex of `count_over_time(SELECTOR |~ REGEX [5m]) > 0`, unquoted as LogQL reads it.
std::string filter_regex(const std::string& expr, const std::string& selector) {
  const std::string head = "count_over_time(" + selector + " |~ ", tail = " [5m]) > 0";
  EXPECT_EQ(expr.rfind(head, 0), 0u) << expr;
  EXPECT_TRUE(expr.ends_with(tail)) << expr;
  const std::string quoted = expr.substr(head.size(), expr.size() - head.size() - tail.size());
  if (quoted.front() == '`') {
    EXPECT_EQ(quoted.back(), '`') << quoted;
    const std::string raw = quoted.substr(1, quoted.size() - 2);
    EXPECT_EQ(raw.find('`'), std::string::npos) << "a LogQL raw string ends at its first backquote: " << quoted;
    return raw;
  }
  EXPECT_EQ(quoted.front(), '"') << quoted;
  std::string out;
  for (std::size_t i = 1; i + 1 < quoted.size(); ++i) out += quoted[i] == '\\' ? quoted[++i] : quoted[i];
  return out;
}

TEST(LokiRulerExport, OneAlertPerRuleWithARegexLokiCompiles) {
  const rules::RuleSet set = [] {
    rules::RuleSet s;
    std::vector<Diagnostic> problems;
    rules::load_builtin_packs(s, problems);
    return s;
  }();
  const std::string selector = R"({namespace=~"dapr-system|linkerd", app!="x"})";
  auto r = test::run_command(kBin + " rules export --as loki-ruler --selector '" + selector + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  const rules::YamlDocument doc(r.out);
  ASSERT_FALSE(doc.error()) << doc.error()->message;
  const rules::YamlNode groups = doc.root()["groups"];
  ASSERT_TRUE(groups.is_sequence());
  std::set<std::string> names, seen;
  std::size_t alerts = 0;
  for (const rules::YamlNode& g : groups.items()) {
    EXPECT_TRUE(g["name"].text().starts_with("klaxon-")) << g["name"].text();
    for (const rules::YamlNode& rule : g["rules"].items()) {
      ++alerts;
      EXPECT_TRUE(names.insert(rule["alert"].text()).second) << "alert names are unique: " << rule["alert"].text();
      const std::string id = rule["labels"]["klaxon_rule"].text();
      const auto it = std::find_if(set.rules.begin(), set.rules.end(), [&](const RuleSpec& s) { return s.id == id; });
      ASSERT_NE(it, set.rules.end()) << id;
      seen.insert(id);
      EXPECT_EQ(rule["labels"]["class"].text(), it->klass);
      EXPECT_TRUE(rule["labels"]["severity"].text() == "info" || rule["labels"]["severity"].text() == "warning" ||
                  rule["labels"]["severity"].text() == "critical");
      EXPECT_FALSE(rule["annotations"]["summary"].text().empty()) << id;
      const std::string regex = filter_regex(rule["expr"].text(), selector);
      EXPECT_EQ(regex, it->pattern) << id;
      RE2::Options o;
      o.set_log_errors(false);
      RE2 re(regex, o);
      EXPECT_TRUE(re.ok()) << id << ": " << re.error();
    }
  }
  EXPECT_EQ(alerts, set.rules.size());
  EXPECT_EQ(seen.size(), set.rules.size());
}

TEST(LokiRulerExport, QuotesSurviveYamlAndLogql) {
  const auto dir = std::filesystem::temp_directory_path() / ("klaxon-loki-ruler-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "q.yaml") << "pack: q\nrules:\n"
                                   "  - id: q.ticks\n    class: cert_expired\n    title: it's `expired`\n"
                                   "    match: { message: '(?i)cert \"(?P<name>[^\"]+)\" it''s `gone` \\d+' }\n"
                                   "    annotations: { runbook_url: 'https://runbooks.example/q' }\n";
  auto r = test::run_klaxon({"rules", "export", "--as", "loki-ruler", "--no-default-rules", "--rules", (dir / "q.yaml").string()});
  std::filesystem::remove_all(dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const rules::YamlDocument doc(r.out);
  ASSERT_FALSE(doc.error()) << r.out;
  const rules::YamlNode rule = *doc.root()["groups"].items().begin();
  const rules::YamlNode alert = *rule["rules"].items().begin();
  EXPECT_EQ(alert["alert"].text(), "KlaxonQTicks");
  EXPECT_EQ(filter_regex(alert["expr"].text(), R"({namespace=~".+"})"), "(?i)cert \"(?P<name>[^\"]+)\" it's `gone` \\d+");
  EXPECT_EQ(alert["annotations"]["summary"].text(), "it's `expired`");
  EXPECT_EQ(alert["annotations"]["runbook_url"].text(), "https://runbooks.example/q");
}

}  // namespace
}  // namespace klaxon
