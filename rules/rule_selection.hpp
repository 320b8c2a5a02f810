// rules/rule_selection.hpp — the rules a run uses: the shipped packs, the user's, minus the disabled.
//
// Customising a rule needs no fork. The precedence, documented in rules/README.md:
//   1. the shipped packs (unless --no-default-rules), in their order;
//   2. the user's packs (--rules, in the order given): a rule whose id is a shipped rule's
//      replaces it where it stood ("overrides"), and the shipped rule's test lines go with it;
//      any other rule is added. Two user rules with one id stay an error (the Matcher's
//      "duplicate id"), as do two rules with one id in one file;
//   3. --disable-rule ID (globs: `dapr.*`) removes rules last, whoever defined them, and their
//      mentions in correlations and `resolves:`. A pattern that removes nothing is an error (a
//      typo would otherwise keep the rule on without a word).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "rules/rule_pack_loader.hpp"

namespace klaxon::rules {

struct RuleSelection {
  bool builtin = true;
  TestLines tests = TestLines::read;
  unsigned threads = 1;
  std::vector<std::string> user_paths;  // --rules
  std::vector<std::string> disabled;    // --disable-rule patterns
  /// --runbook-base URL: a relative `runbook_url` (docs/runbooks/<class>.md) is made absolute with it.
  std::string runbook_base;
  /// --expiry-warning / --expiry-critical: what `{expiry_warning}` and `{expiry_critical}` in
  /// a pack's severity conditions stand for.
  ExpiryThresholds expiry = {};
};

/// Loads what `selection` names into `into` (overrides recorded in `into.overrides`).
void load_rule_selection(const RuleSelection& selection, RuleSet& into, std::vector<Diagnostic>& problems);

/// The file of the shipped pack `name_or_path` names (`dapr`, `dapr.yaml`, `rules/packs/dapr.yaml`),
/// if it names one.
std::optional<std::string> shipped_pack_file(const std::string& name_or_path);

}  // namespace klaxon::rules
