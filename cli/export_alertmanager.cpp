// cli/export_alertmanager.cpp — `klaxon rules export --as alertmanager-inhibit`.
//
// A fleet's klaxons each see part of an outage: the one on the control-plane node sees the
// Dapr sentry say its root certificate expired, those on app nodes see only sidecars failing.
// Each alone would page for what it sees. Alertmanager, where their alerts meet, already knows
// how to say "while this fires, those are its consequences": inhibit rules. This writes them
// from the packs' correlations, one per correlation: the root rule's alert mutes its symptom
// rules' alerts that agree on the correlation's `same` labels and on every `--label` name (so
// cluster c1's expired root never mutes cluster c2's sidecars). The matchers use the labels the
// Alertmanager sink sends (adapters/sinks/alertmanager_sink.hpp): alertname is the rule id, or
// for a certificate's incident the first rule of that certificate with the root's class.
//
// Rule ids hold dots, so a regex matcher escapes them; Alertmanager anchors regexes.
#include <cstdio>
#include <set>

#include <fmt/format.h>

#include "adapters/sinks/alertmanager_sink.hpp"
#include "cli/options.hpp"

namespace klaxon::cli {
namespace {

std::string regex_escaped(const std::string& id) {
  std::string out;
  for (char c : id) {
    if (std::string_view(".+*?()[]{}|^$\\").find(c) != std::string_view::npos) out += "\\\\";  // \\ in a matcher's quotes
    out += c;
  }
  return out;
}

// A YAML single-quoted scalar holding an Alertmanager matcher.
std::string matcher(const std::string& name, const std::vector<std::string>& values) {
  if (values.size() == 1) return fmt::format("'{}=\"{}\"'", name, values.front());
  std::string alternatives;
  for (const std::string& v : values) alternatives += (alternatives.empty() ? "" : "|") + regex_escaped(v);
  return fmt::format("'{}=~\"{}\"'", name, alternatives);
}

}  // namespace

std::string alertmanager_inhibit_rules(const rules::RuleSet& set, const std::vector<std::string>& label_names) {
  const sinks::CertificateAlertNames certificate_names = sinks::certificate_alert_names(set.rules);
  std::map<std::string, const RuleSpec*> by_id;
  for (const RuleSpec& r : set.rules) by_id[r.id] = &r;
  // What a rule's alert is called (see certificate_alert_names).
  auto alertname = [&](const std::string& id) {
    auto r = by_id.find(id);
    if (r == by_id.end() || r->second->lifecycle != Lifecycle::certificate) return id;
    auto n = certificate_names.find({r->second->certificate, r->second->klass});
    return n == certificate_names.end() ? id : n->second;
  };
  std::string out =
      "# klaxon rules export --as alertmanager-inhibit: paste into alertmanager.yml (top level).\n"
      "# From the rule packs' correlations: while a root cause's alert fires, the alerts of its\n"
      "# symptoms that agree on the `equal` labels are inhibited (shown, not notified).\n"
      "inhibit_rules:\n";
  std::size_t written = 0;
  for (const CorrelationSpec& c : set.correlations) {
    std::vector<std::string> targets;
    std::set<std::string> seen;
    const std::string root = alertname(c.root);
    for (const std::string& s : c.symptoms) {
      std::string name = alertname(s);
      if (by_id.count(s) && name != root && seen.insert(name).second) targets.push_back(std::move(name));
    }
    if (!by_id.count(c.root) || targets.empty()) continue;
    std::vector<std::string> equal;
    for (const std::string& n : c.same) equal.push_back(sinks::alertmanager_label_name(n));
    for (const std::string& n : label_names)
      if (std::find(equal.begin(), equal.end(), n) == equal.end()) equal.push_back(n);
    out += fmt::format("  # {}: {} -> {} symptom rule{}\n", c.id, c.root, targets.size(), targets.size() == 1 ? "" : "s");
    out += fmt::format("  - source_matchers: [{}]\n", matcher("alertname", {root}));
    out += fmt::format("    target_matchers: [{}]\n", matcher("alertname", targets));
    out += "    equal: [";
    for (std::size_t i = 0; i < equal.size(); ++i) out += fmt::format("{}{}", i ? ", " : "", equal[i]);
    out += "]\n";
    ++written;
  }
  if (written == 0) out = "inhibit_rules: []\n";
  return out;
}

int rules_export_alertmanager_inhibit(const RuleOptions& options, const std::vector<std::string>& paths,
                                      const Labels& labels) {
  std::vector<Diagnostic> problems;
  rules::RuleSet set;
  if (paths.empty() && !options.no_default_rules) rules::load_builtin_packs(set, problems);
  for (const std::string& p : paths) rules::load_pack_path(p, set, problems);
  for (const std::string& p : options.rule_paths) rules::load_pack_path(p, set, problems);
  rules::check_rule_set(set, problems);
  if (rules::has_errors(problems)) {
    for (const Diagnostic& d : problems) std::fprintf(stderr, "%s\n", format_diagnostic(d).c_str());
    return kExitUsage;
  }
  std::vector<std::string> names;
  for (const auto& l : labels) names.push_back(l.first);
  std::fputs(alertmanager_inhibit_rules(set, names).c_str(), stdout);
  return kExitOk;
}

}  // namespace klaxon::cli
