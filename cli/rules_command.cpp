// cli/rules_command.cpp — `klaxon rules check | test | list`.
#include <cstdio>

#include <fmt/format.h>

#include "cli/options.hpp"
#include "engine/prefilter.hpp"
#include "rules/rule_tests.hpp"

namespace klaxon::cli {
namespace {

// The packs named on the command line, or the built-in ones when none are.
rules::RuleSet load_for_command(const RuleOptions& options, const std::vector<std::string>& paths,
                                std::vector<Diagnostic>& problems) {
  rules::RuleSet set;
  if (paths.empty() && !options.no_default_rules) rules::load_builtin_packs(set, problems);
  for (const std::string& p : paths) rules::load_pack_path(p, set, problems);
  for (const std::string& p : options.rule_paths) rules::load_pack_path(p, set, problems);
  rules::check_rule_set(set, problems);
  return set;
}

void print(const std::vector<Diagnostic>& problems) {
  for (const Diagnostic& d : problems) std::fprintf(stderr, "%s\n", format_diagnostic(d).c_str());
}

std::string severity_summary(const RuleSpec& r) {
  if (r.severity.empty()) return "warning";
  std::string out;
  for (const SeverityCase& c : r.severity) {
    std::string s(to_string(c.severity));
    if (out.find(s) == std::string::npos) out += (out.empty() ? "" : "/") + s;
  }
  return out;
}

// RE2 syntax to what `rg -f` (Rust regex, which joins the lines into one: named groups must
// go) or `grep -E -f` (POSIX ERE: no (?:), no \d) takes. For the benchmark's side-by-side runs.
std::string export_regex(const std::string& re2, const std::string& dialect) {
  std::string out;
  for (std::size_t i = 0; i < re2.size(); ++i) {
    if (re2.compare(i, 3, "(?P") == 0) {
      const std::size_t close = re2.find('>', i);
      out += dialect == "rg" ? "(?:" : "(";
      i = close;
    } else if (dialect == "rg") {
      out += re2[i];
    } else if (re2.compare(i, 3, "(?:") == 0) {
      out += '(';
      i += 2;
    } else if (re2[i] == '\\' && i + 1 < re2.size() && re2[i + 1] == 'd') {
      out += "[0-9]";
      ++i;
    } else if (re2[i] == '\\' && i + 1 < re2.size()) {
      out += re2.substr(i, 2);
      ++i;
    } else {
      out += re2[i];
    }
  }
  return out;
}

}  // namespace

int rules_check(const std::vector<std::string>& paths) {
  std::vector<Diagnostic> problems;
  rules::RuleSet set = load_for_command(RuleOptions{{}, true}, paths, problems);
  std::optional<Matcher> matcher;
  if (!rules::has_errors(problems)) matcher = Matcher::compile(set.rules, problems);
  if (matcher) {
    // A rule without a selective literal is tried with RE2 on every line: say so.
    for (int index : matcher->prefilter().unfiltered()) {
      const RuleSpec& r = matcher->rules()[std::size_t(index)];
      problems.push_back({r.defined_at,
                          fmt::format("rule {}: no literal of {} or more characters that every match contains; "
                                      "this rule runs RE2 on every line (add a fixed phrase to the regex)",
                                      r.id, 3),
                          true});
    }
  }
  print(problems);
  if (!matcher) {
    std::fprintf(stderr, "rules check: errors found\n");
    return kExitUsage;
  }
  std::printf("rules check: %zu pack%s, %zu rules, %zu correlations: ok\n", set.packs.size(),
              set.packs.size() == 1 ? "" : "s", set.rules.size(), set.correlations.size());
  return kExitOk;
}

int rules_test(const RuleOptions& options, const std::vector<std::string>& paths) {
  std::vector<Diagnostic> problems;
  rules::RuleSet set = load_for_command(options, paths, problems);
  std::optional<Matcher> matcher;
  if (!rules::has_errors(problems)) matcher = Matcher::compile(set.rules, problems);
  if (!matcher) {
    print(problems);
    return kExitUsage;
  }
  rules::TestReport report = rules::run_rule_tests(*matcher, set.tests);
  for (const rules::TestFailure& f : report.failures) {
    std::printf("FAIL %s:%d %s\n     line: %s\n     %s\n", f.test->at.file.c_str(), f.test->at.line,
                f.test->rule_id.c_str(), f.test->line.c_str(), f.why.c_str());
  }
  std::printf("%zu passed, %zu failed\n", report.passed, report.failures.size());
  return report.failures.empty() ? kExitOk : kExitFailure;
}

int rules_export(const RuleOptions& options, const std::vector<std::string>& paths, const std::string& what) {
  std::vector<Diagnostic> problems;
  rules::RuleSet set = load_for_command(options, paths, problems);
  if (rules::has_errors(problems)) {
    print(problems);
    return kExitUsage;
  }
  std::string out;
  if (what == "anchors") {
    std::optional<Matcher> m = Matcher::compile(set.rules, problems);
    if (!m) return print(problems), kExitUsage;
    for (const std::string& a : m->prefilter().anchors()) out += fmt::format("{:?}\n", a);
    std::fputs(out.c_str(), stdout);
    return kExitOk;
  }
  for (const RuleSpec& r : set.rules) {
    if (what == "literals") {
      std::string lits;
      const Prefilter one({r.pattern});
      for (const std::string& l : one.literals_of(0)) lits += fmt::format("{}{:?}", lits.empty() ? "" : " ", l);
      out += fmt::format("{}\t{}\n", r.id, lits.empty() ? "(none: runs on every line)" : lits);
    } else {
      out += export_regex(r.pattern, what) + "\n";
    }
  }
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

int rules_list(const RuleOptions& options, const std::vector<std::string>& paths) {
  std::vector<Diagnostic> problems;
  rules::RuleSet set = load_for_command(options, paths, problems);
  if (rules::has_errors(problems)) {
    print(problems);
    return kExitUsage;
  }
  std::size_t id_width = 2, class_width = 5;
  for (const RuleSpec& r : set.rules) {
    id_width = std::max(id_width, r.id.size());
    class_width = std::max(class_width, r.klass.size());
  }
  std::string out = fmt::format("{:<{}}  {:<{}}  {:<16}  {}\n", "ID", id_width, "CLASS", class_width, "SEVERITY", "TITLE");
  for (const RuleSpec& r : set.rules)
    out += fmt::format("{:<{}}  {:<{}}  {:<16}  {}\n", r.id, id_width, r.klass, class_width, severity_summary(r), r.title);
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

}  // namespace klaxon::cli
