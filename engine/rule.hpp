// engine/rule.hpp — a rule as plain data, and the words rules share.
//
// rules/ reads packs (YAML) into RuleSpec; the engine compiles RuleSpecs into one Matcher and
// never sees YAML. Everything here is value types: copy, compare, print.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace klaxon {

enum class Severity { info = 0, warning = 1, critical = 2 };
std::string_view to_string(Severity s) noexcept;
std::optional<Severity> severity_from_string(std::string_view s) noexcept;

/// Where a rule, a test line or a problem comes from: `rules/packs/dapr.yaml:42`.
struct SourceLocation {
  std::string file;
  int line = 0;  // 1-based; 0 = unknown
};

/// A problem found while loading or compiling rules, always with a place and a reason.
struct Diagnostic {
  SourceLocation where;
  std::string message;
  bool is_warning = false;
};
std::string format_diagnostic(const Diagnostic& d);

enum class MatchTarget { message, line, field };

/// `where:` — the named label or field must equal one of `any_of`, or match `regex`; with
/// `negated` (`'!/regex/'`), it must be absent or not match.
struct FieldCondition {
  std::string name;
  std::vector<std::string> any_of;
  std::string regex;
  bool negated = false;
};

enum class ExtractKind { duration, instant, number };
/// `extract: { expires_in: duration(remaining) }`.
struct Extraction {
  std::string name;
  ExtractKind kind = ExtractKind::duration;
  std::string capture;
};

/// `expires_in < 7d`, `expires_in < {expiry_critical}`, or `true` (always).
struct Comparison {
  enum class Op { lt, le, gt, ge, eq, ne, always };
  std::string name;
  Op op = Op::always;
  double value = 0;
  /// A value named rather than written (`{expiry_critical}`): the loader fills `value` from
  /// the run's setting (rules/rule_pack_loader.hpp, ExpiryThresholds). Empty: `value` as written.
  std::string threshold;
};
/// Parses a condition; durations (`7d`, `30m`) become seconds, `{name}` is kept in `threshold`
/// (value 0 until filled). Returns nullopt on bad syntax.
std::optional<Comparison> parse_comparison(std::string_view text);

struct SeverityCase {
  Severity severity = Severity::warning;
  Comparison when;
};

/// What an incident of the rule is about. `stream` (the default): lines that keep coming while
/// something is wrong; quiet for resolve_after means it is over. `certificate`: one certificate
/// (the rule's `certificate` name and group_by labels), expiring, then expired at the stated
/// instant; it ends only when a line shows it renewed (engine/incident_tracker.hpp).
enum class Lifecycle { stream, certificate };

struct RuleSpec {
  std::string id;
  std::string klass;  // `class` in the pack
  std::string title;
  MatchTarget target = MatchTarget::message;
  std::string field;  // the field matched when target == field
  std::string pattern;
  std::string exclude;
  std::vector<FieldCondition> where;
  std::vector<Extraction> extract;
  std::vector<std::string> group_by = {"namespace", "pod"};
  std::vector<SeverityCase> severity;  // first true wins; empty = warning
  int priority = 0;
  std::int64_t resolve_after_seconds = 15 * 60;
  int min_count = 1;
  std::int64_t within_seconds = 0;
  std::vector<std::pair<std::string, std::string>> annotations;
  /// Rules whose open incidents in the same scope a match of this rule resolves (a renewal).
  std::vector<std::string> resolves;
  Lifecycle lifecycle = Lifecycle::stream;
  /// For `lifecycle: certificate`: the name of the certificate, shared by every rule that
  /// speaks about it (a warning, the "has expired" line, a validity line). Default: the rule id.
  std::string certificate;
  SourceLocation defined_at;
};

/// A root cause and the incidents it explains (incidents issue).
struct CorrelationSpec {
  std::string id;
  std::string root;
  std::vector<std::string> symptoms;
  std::int64_t within_seconds = 3600;
  std::vector<std::string> same;
  SourceLocation defined_at;
};

/// Lower is more specific: `cert_expired` (0) wins over `tls_handshake_failure` over
/// `connection_lost`; classes outside the shared vocabulary rank after all of them.
int class_rank(std::string_view klass) noexcept;
bool is_known_class(std::string_view klass) noexcept;

}  // namespace klaxon
