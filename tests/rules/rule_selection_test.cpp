// Customising the shipped rules without forking them (rules/rule_selection.hpp): a user pack
// replaces a shipped rule by id, --disable-rule leaves rules out, and what is wrong is said.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "rules/rule_selection.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon::rules {
namespace {

namespace fs = std::filesystem;

class RuleSelectionTest : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("klaxon-selection-" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  }
  const RuleSpec* find(const RuleSet& set, const std::string& id) {
    for (const RuleSpec& r : set.rules)
      if (r.id == id) return &r;
    return nullptr;
  }
};

const std::string kOverride =
    "pack: dapr\nrules:\n"
    "  - id: dapr.root_cert_expired\n    class: cert_expired\n    title: our own title\n"
    "    match: { message: 'our trust bundle is dead' }\n"
    "    tests:\n      - line: 'our trust bundle is dead'\n        expect: { rule: dapr.root_cert_expired }\n";

TEST_F(RuleSelectionTest, AUserPackReplacesAShippedRuleByIdInItsPlace) {
  RuleSet shipped;
  std::vector<Diagnostic> p0;
  load_builtin_packs(shipped, p0);
  const auto place = std::find_if(shipped.rules.begin(), shipped.rules.end(),
                                  [](const RuleSpec& r) { return r.id == "dapr.root_cert_expired"; }) - shipped.rules.begin();

  RuleSet set;
  std::vector<Diagnostic> problems;
  load_rule_selection({true, TestLines::read, 1, {write("mine.yaml", kOverride)}, {}, ""}, set, problems);
  EXPECT_FALSE(has_errors(problems));
  ASSERT_EQ(set.rules.size(), shipped.rules.size());
  EXPECT_EQ(set.rules[std::size_t(place)].title, "our own title");
  EXPECT_EQ(set.rules[std::size_t(place)].defined_at.file, (dir / "mine.yaml").string());
  ASSERT_EQ(set.overrides.size(), 1u);
  EXPECT_EQ(set.overrides[0].first, "dapr.root_cert_expired");
  EXPECT_EQ(set.overrides[0].second, "rules/packs/dapr.yaml");
  // The shipped rule's test lines went with it; the user's came.
  std::size_t tests = 0;
  for (const RuleTest& t : set.tests)
    if (t.rule_id == "dapr.root_cert_expired") {
      ++tests;
      EXPECT_EQ(t.line, "our trust bundle is dead");
    }
  EXPECT_EQ(tests, 1u);
  // It compiles (no "duplicate id"), and the correlation rooted at it still holds.
  EXPECT_NO_THROW(test::compile_or_throw(set, problems));
  check_rule_set(set, problems);
  EXPECT_FALSE(has_errors(problems));
}

TEST_F(RuleSelectionTest, TwoUserRulesWithOneIdAreStillADuplicate) {
  RuleSet set;
  std::vector<Diagnostic> problems;
  load_rule_selection({true, TestLines::skip, 1, {write("a.yaml", kOverride), write("b.yaml", kOverride)}, {}, ""}, set, problems);
  try {
    test::compile_or_throw(set, problems);
    ADD_FAILURE() << "two user packs defining one id must not load";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("duplicate id"), std::string::npos) << e.what();
  }
}

TEST_F(RuleSelectionTest, DisabledRulesAreLeftOutWithTheirMentions) {
  RuleSet set;
  std::vector<Diagnostic> problems;
  load_rule_selection({true, TestLines::read, 1, {}, {"dapr.*", "k8s.crashloop"}, ""}, set, problems);
  EXPECT_FALSE(has_errors(problems));
  EXPECT_EQ(find(set, "dapr.root_cert_expired"), nullptr);
  EXPECT_EQ(find(set, "k8s.crashloop"), nullptr);
  EXPECT_NE(find(set, "linkerd.proxy_cert_expired") ? find(set, "linkerd.proxy_cert_expired") : &set.rules.front(), nullptr);
  ASSERT_FALSE(set.rules.empty());
  ASSERT_FALSE(set.tests.empty());
  for (const RuleSpec& r : set.rules) EXPECT_FALSE(r.id.starts_with("dapr.")) << r.id;
  for (const RuleTest& t : set.tests) EXPECT_FALSE(t.rule_id.starts_with("dapr.")) << t.rule_id;
  for (const CorrelationSpec& c : set.correlations) {
    EXPECT_FALSE(c.root.starts_with("dapr.")) << c.id;
    for (const std::string& s : c.symptoms) EXPECT_NE(s, "k8s.crashloop") << c.id;
  }
  check_rule_set(set, problems);
  EXPECT_FALSE(has_errors(problems));
  EXPECT_NO_THROW(test::compile_or_throw(set, problems));
}

TEST_F(RuleSelectionTest, APatternThatDisablesNothingIsAnError) {
  RuleSet set;
  std::vector<Diagnostic> problems;
  load_rule_selection({true, TestLines::skip, 1, {}, {"dpar.*"}, ""}, set, problems);
  ASSERT_TRUE(has_errors(problems));
  EXPECT_NE(format_diagnostic(problems.back()).find("'dpar.*' names no loaded rule"), std::string::npos)
      << format_diagnostic(problems.back());
}

TEST_F(RuleSelectionTest, TheCommandLineTakesThem) {
  const std::string bin = KLAXON_BINARY, source = KLAXON_SOURCE_DIR;
  const std::string mine = write("mine.yaml", kOverride);
  // rules test PACK: the shipped pack's own lines, against every shipped pack, by name or path.
  auto all = test::run_command(bin + " rules test");
  auto dapr = test::run_command(bin + " rules test dapr");
  auto by_path = test::run_command(bin + " rules test " + source + "/rules/packs/dapr.yaml");
  EXPECT_EQ(dapr.status, 0) << dapr.out;
  EXPECT_EQ(by_path.status, 0) << by_path.out;
  EXPECT_NE(dapr.out.find(" passed, 0 failed"), std::string::npos) << dapr.out;
  EXPECT_EQ(by_path.out, dapr.out);
  EXPECT_LT(std::stoul(dapr.out.substr(dapr.out.rfind('\n', dapr.out.size() - 2) + 1)),
            std::stoul(all.out.substr(all.out.rfind('\n', all.out.size() - 2) + 1)));
  // rules list says what a user pack replaced.
  auto list = test::run_command(bin + " rules list --rules " + mine);
  EXPECT_NE(list.out.find("our own title  (overrides rules/packs/dapr.yaml, from " + mine + ")"), std::string::npos)
      << list.out;
  // A run uses the override, and leaves out what is disabled.
  const std::string log = write("a.log", "our trust bundle is dead\n");
  auto run = test::run_command(bin + " --format jsonl --matches --rules " + mine + " " + log);
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("\"rule\":\"dapr.root_cert_expired\""), std::string::npos) << run.out;
  auto quick = test::run_command(bin + " --format jsonl --matches " + source + "/samples/quickstart.log");
  auto without = test::run_command(bin + " --format jsonl --matches --disable-rule 'dapr.*' --disable-rule k8s.client_connection_lost " +
                                   source + "/samples/quickstart.log");
  EXPECT_NE(quick.out.find("\"rule\":\"dapr."), std::string::npos);
  EXPECT_EQ(without.out.find("\"rule\":\"dapr."), std::string::npos) << without.out;
  auto typo = test::run_command(bin + " --disable-rule 'dpar.*' " + log);
  EXPECT_EQ(typo.status, 2);
  EXPECT_NE(typo.err.find("'dpar.*' names no loaded rule"), std::string::npos) << typo.err;
}

// Every shipped rule links its class's runbook page, and the page is in the repository.
TEST_F(RuleSelectionTest, EveryShippedRuleLinksARunbookPageThatExists) {
  RuleSet set;
  std::vector<Diagnostic> problems;
  load_rule_selection({true, TestLines::skip, 1, {}, {}, ""}, set, problems);
  ASSERT_GT(set.rules.size(), 200u);
  for (const RuleSpec& r : set.rules) {
    std::string url;
    for (const auto& [k, v] : r.annotations)
      if (k == "runbook_url") url = v;
    EXPECT_EQ(url, "docs/runbooks/" + r.klass + ".md") << r.id;
    const fs::path page = fs::path(KLAXON_SOURCE_DIR) / url;
    EXPECT_TRUE(fs::is_regular_file(page)) << r.id << ": " << page;
    if (!fs::is_regular_file(page)) continue;
    const std::string text = test::read_file(page.string());
    for (const char* part : {"## What it means", "## How to confirm", "## How to fix", "**Dapr**", "**Linkerd**", "**Istio**",
                             "**cert-manager**", "**Kubernetes**"})
      EXPECT_NE(text.find(part), std::string::npos) << page << " lacks " << part;
  }
  // --runbook-base makes them absolute; a rule's own absolute URL stays.
  RuleSet based;
  RuleSelection selection{true, TestLines::skip, 1, {}, {}, ""};
  selection.runbook_base = "https://git.example/klaxon/blob/v1/";
  load_rule_selection(selection, based, problems);
  for (const auto& [k, v] : based.rules.front().annotations)
    if (k == "runbook_url") {
      EXPECT_EQ(v, "https://git.example/klaxon/blob/v1/docs/runbooks/" + based.rules.front().klass + ".md");
    }
  auto exported = test::run_command(std::string(KLAXON_BINARY) + " rules export --as loki-ruler --runbook-base https://git.example/k");
  EXPECT_NE(exported.out.find("runbook_url: 'https://git.example/k/docs/runbooks/cert_expired.md'"), std::string::npos);
}

TEST(ShippedPackNames, ByNameFileOrPath) {
  EXPECT_EQ(shipped_pack_file("dapr"), "rules/packs/dapr.yaml");
  EXPECT_EQ(shipped_pack_file("dapr.yaml"), "rules/packs/dapr.yaml");
  EXPECT_EQ(shipped_pack_file("../klaxon/rules/packs/linkerd.yaml"), "rules/packs/linkerd.yaml");
  EXPECT_EQ(shipped_pack_file("mine.yaml"), std::nullopt);
}

}  // namespace
}  // namespace klaxon::rules
