// cli/rules_export_loki.cpp — `klaxon rules export --as loki-ruler`: the packs as a Loki ruler
// rule group, for teams that already alert from Loki.
//
// One alerting rule per klaxon rule, one group per pack:
//
//   groups:
//     - name: klaxon-dapr
//       rules:
//         - alert: KlaxonDaprRootCertExpired
//           expr: 'count_over_time({namespace=~".+"} |~ `regex` [5m]) > 0'
//           labels: { severity: critical, class: cert_expired, klaxon_rule: dapr.root_cert_expired }
//           annotations: { summary: ..., runbook_url: ... }
//
// Loki's line filter is Go's regexp, whose syntax is RE2's, so a rule's regex goes over as it is
// (`(?i)` and `(?P<name>` included). What does not: the filter sees the raw line, where klaxon
// matches the decoded message (a JSON line writes `"` as `\"`), and a line cannot say how
// severe it is when the severity depends on an extracted value (`expires_in < 7d`): the alert
// gets the severity of the rule's unconditional case. The regex is written as a LogQL raw
// string (backquotes) unless it holds one, then as a "..." string with `\` and `"` escaped; the
// whole expression is a single-quoted YAML scalar (`'` doubled).
#include <cctype>
#include <cstdio>

#include <fmt/format.h>

#include "cli/options.hpp"

namespace klaxon::cli {
namespace {

std::string yaml_quoted(std::string_view s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string logql_string(std::string_view regex) {
  if (regex.find('`') == std::string_view::npos) return "`" + std::string(regex) + "`";
  std::string out = "\"";
  for (char c : regex) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

// dapr.root_cert_expired -> KlaxonDaprRootCertExpired (Prometheus alert names are identifiers).
std::string alert_name(std::string_view id) {
  std::string out = "Klaxon";
  bool upper = true;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      upper = true;
      continue;
    }
    out += upper ? char(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

// The severity a line alone says: the first unconditional case, else the most severe case.
Severity line_severity(const RuleSpec& r) {
  if (r.severity.empty()) return Severity::warning;
  Severity most = Severity::info;
  for (const SeverityCase& c : r.severity) {
    if (c.when.op == Comparison::Op::always) return c.severity;
    most = std::max(most, c.severity);
  }
  return most;
}

std::string annotation(const RuleSpec& r, std::string_view key) {
  for (const auto& [k, v] : r.annotations)
    if (k == key) return v;
  return {};
}

}  // namespace

int rules_export_loki_ruler(const RuleOptions& options, const std::vector<std::string>& paths, const std::string& selector) {
  std::vector<Diagnostic> problems;
  rules::RuleSet set = load_rules_for_command(options, paths, problems);
  if (rules::has_errors(problems)) {
    for (const Diagnostic& d : problems) std::fprintf(stderr, "%s\n", format_diagnostic(d).c_str());
    return kExitUsage;
  }
  std::string out = "# klaxon rules export --as loki-ruler: one alert per klaxon rule (rules/README.md)\ngroups:\n";
  std::string group;
  for (const RuleSpec& r : set.rules) {
    const std::string pack = r.id.substr(0, r.id.find('.'));
    if (pack != group) {
      group = pack;
      out += fmt::format("  - name: {}\n    rules:\n", yaml_quoted("klaxon-" + pack));
    }
    std::string summary = annotation(r, "summary");
    if (summary.empty() || summary.find('{') != std::string::npos) summary = r.title;  // {captures} mean nothing here
    out += fmt::format("      - alert: {}\n", alert_name(r.id));
    out += fmt::format("        expr: {}\n",
                       yaml_quoted(fmt::format("count_over_time({} |~ {} [5m]) > 0", selector, logql_string(r.pattern))));
    out += fmt::format("        labels:\n          severity: {}\n          class: {}\n          klaxon_rule: {}\n",
                       yaml_quoted(to_string(line_severity(r))), yaml_quoted(r.klass), yaml_quoted(r.id));
    out += fmt::format("        annotations:\n          summary: {}\n", yaml_quoted(summary));
    if (const std::string url = annotation(r, "runbook_url"); !url.empty())
      out += fmt::format("          runbook_url: {}\n", yaml_quoted(url));
    if (const std::string fix = annotation(r, "runbook"); !fix.empty() && fix.find('{') == std::string::npos)
      out += fmt::format("          runbook: {}\n", yaml_quoted(fix));
  }
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

}  // namespace klaxon::cli
