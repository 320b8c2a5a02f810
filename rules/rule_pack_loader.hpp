// rules/rule_pack_loader.hpp — reads rule packs (YAML, format in rules/README.md) into RuleSpecs.
//
// Policy lives here, mechanism in engine/: this file knows the pack format and checks it,
// reporting every problem with file:line and what is wrong (an operator fixing a pack at 3 a.m.
// wants all of them at once, not one per run). The engine never sees YAML.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/rule.hpp"

namespace klaxon::rules {

/// The thresholds of "expires soon" that packs name instead of writing a number
/// (`critical: 'expires_in < {expiry_critical}'`), so one flag moves every expiry rule at
/// once: --expiry-warning and --expiry-critical. A rule about something else (a workload
/// certificate that lives 24 hours) keeps its own number.
struct ExpiryThresholds {
  std::int64_t warning_seconds = 30 * 86400;   // {expiry_warning}, --expiry-warning
  std::int64_t critical_seconds = 7 * 86400;   // {expiry_critical}, --expiry-critical
  /// The value `{name}` stands for, or nullopt when no threshold has that name.
  std::optional<std::int64_t> seconds(std::string_view name) const;
};

/// One embedded test line of a rule.
struct RuleTest {
  std::string rule_id;
  std::string line;
  bool expect_none = false;                                  // a near-miss: nothing may match
  std::vector<std::pair<std::string, std::string>> expect;  // class, rule, severity, values
  SourceLocation at;
};

struct PackInfo {
  std::string name;
  std::string description;
  std::string file;
  std::size_t rules = 0;
};

/// Everything loaded from one or more packs.
struct RuleSet {
  std::vector<PackInfo> packs;
  std::vector<RuleSpec> rules;
  std::vector<CorrelationSpec> correlations;
  std::vector<RuleTest> tests;
  /// Shipped rules a user pack replaced: id, the shipped pack file (rules/rule_selection.hpp).
  std::vector<std::pair<std::string, std::string>> overrides;
};

/// Parses one pack. Problems are appended; rules with errors are left out.
void load_pack_text(std::string_view text, const std::string& file, RuleSet& into,
                    std::vector<Diagnostic>& problems);

/// A pack file, or every `*.yaml` / `*.yml` in a directory (sorted by name).
void load_pack_path(const std::string& path, RuleSet& into, std::vector<Diagnostic>& problems);

/// Whether the rules' embedded test lines are read (only `klaxon rules test` and tests need them).
enum class TestLines { read, skip };

/// The packs compiled into the binary. Skipping their test lines (most of their bytes) makes
/// start-up faster; line numbers in diagnostics stay those of the pack files.
void load_builtin_packs(RuleSet& into, std::vector<Diagnostic>& problems, TestLines tests = TestLines::read,
                        unsigned threads = 1);

/// Fills every named threshold of `rules` with `thresholds` (the loader fills the defaults).
void set_expiry_thresholds(std::vector<RuleSpec>& rules, const ExpiryThresholds& thresholds);

/// Checks what spans packs: correlations naming rules that exist.
void check_rule_set(const RuleSet& set, std::vector<Diagnostic>& problems);

inline bool has_errors(const std::vector<Diagnostic>& problems) {
  for (const Diagnostic& d : problems)
    if (!d.is_warning) return true;
  return false;
}

}  // namespace klaxon::rules
