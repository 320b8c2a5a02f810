#include "rules/rule_pack_loader.hpp"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "engine/duration.hpp"
#include "engine/parallel_for.hpp"
#include "rules/builtin_packs.hpp"
#include "rules/yaml_document.hpp"

namespace klaxon::rules {
namespace {

// The first capture name written twice in an RE2 pattern, if any. RE2 (2022-06-01) accepts
// `(?P<why>a)|(?P<why>b)` but fills only the first group, so a summary's {why} would stay empty
// whenever the second alternative matched; the loader refuses the pattern instead. Escapes and
// character classes are skipped: `\(?P<x>` and `[(?P<x>]` open no group.
std::optional<std::string> repeated_group_name(std::string_view pattern) {
  std::set<std::string_view> seen;
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      ++i;
    } else if (in_class) {
      in_class = c != ']';
    } else if (c == '[') {
      in_class = true;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') ++i;
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') ++i;  // a leading ']' is a member
    } else if (pattern.substr(i, 4) == "(?P<") {
      const std::size_t start = i + 4, end = pattern.find('>', start);
      if (end == std::string_view::npos) break;  // RE2 says what is wrong with it
      if (!seen.insert(pattern.substr(start, end - start)).second)
        return std::string(pattern.substr(start, end - start));
      i = end;
    }
  }
  return std::nullopt;
}

// Reads one pack, collecting problems with the line they are on.
class PackReader {
 public:
  PackReader(const std::string& file, RuleSet& into, std::vector<Diagnostic>& problems)
      : file_(file), into_(into), problems_(problems) {}

  void read(std::string_view text) {
    const YamlDocument document(text);
    if (const auto& e = document.error()) {
      problems_.push_back({{file_, e->line}, e->message, false});
      return;
    }
    const YamlNode root = document.root();
    if (!root.is_map()) return error(root, "a pack is a map with `pack:` and `rules:`");
    known_keys(root, "pack", {"pack", "description", "rules", "correlations"});
    pack_ = scalar(root, "pack", true);
    if (pack_.empty()) return;
    PackInfo info{pack_, scalar(root, "description", false), file_, 0};
    const YamlNode rules = root["rules"];
    if (!rules || !rules.is_sequence()) return error(root, "`rules:` must be a list of rules");
    for (const YamlNode& r : rules.items()) {
      if (read_rule(r)) ++info.rules;
    }
    if (const YamlNode cs = root["correlations"]) {
      if (!cs.is_sequence()) error(cs, "`correlations:` must be a list");
      else
        for (const YamlNode& c : cs.items()) read_correlation(c);
    }
    into_.packs.push_back(std::move(info));
  }

 private:
  void error(const YamlNode& at, std::string message) {
    problems_.push_back({{file_, at.line()}, std::move(message), false});
    failed_ = true;
  }
  void warning(const YamlNode& at, std::string message) {
    problems_.push_back({{file_, at.line()}, std::move(message), true});
  }

  void known_keys(const YamlNode& map, std::string_view what, std::initializer_list<std::string_view> keys) {
    for (const auto& [key, value] : map.pairs()) {
      if (std::find(keys.begin(), keys.end(), key.text()) == keys.end()) {
        std::string list;
        for (auto k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
        error(key, fmt::format("{}: unknown key '{}' (known: {})", what, key.text(), list));
      }
    }
  }

  std::string scalar(const YamlNode& map, const char* key, bool required, std::string_view what = "pack") {
    const YamlNode n = map[key];
    if (!n) {
      if (required) error(map, fmt::format("{}: `{}` is required", what, key));
      return {};
    }
    if (!n.is_scalar()) {
      error(n, fmt::format("{}: `{}` must be a single value", what, key));
      return {};
    }
    return n.text();
  }

  std::optional<std::int64_t> duration(const YamlNode& map, const char* key, std::string_view what) {
    const std::string text = scalar(map, key, false, what);
    if (text.empty()) return std::nullopt;
    auto secs = parse_duration_seconds(text);
    if (!secs) error(map[key], fmt::format("{}: `{}: {}` is not a duration (write 30s, 15m, 2h, 7d)", what, key, text));
    return secs;
  }

  std::vector<std::string> string_list(const YamlNode& n, std::string_view what) {
    std::vector<std::string> out;
    if (n.is_scalar()) return {n.text()};
    if (!n.is_sequence()) {
      error(n, fmt::format("{} must be a list", what));
      return out;
    }
    for (const YamlNode& x : n.items()) {
      if (!x.is_scalar()) error(x, fmt::format("{}: every item must be a single value", what));
      else out.emplace_back(x.text());
    }
    return out;
  }

  // `lifecycle: certificate` (and `certificate: NAME`): the rule speaks about one certificate,
  // whose incident outlives the pods that print about it (engine/incident_tracker.hpp).
  void read_lifecycle(const YamlNode& n, RuleSpec& r, const std::string& what) {
    const std::string lifecycle = scalar(n, "lifecycle", false, what);
    if (lifecycle == "certificate") r.lifecycle = Lifecycle::certificate;
    else if (!lifecycle.empty() && lifecycle != "stream")
      error(n["lifecycle"], fmt::format("{}: lifecycle is `stream` (the default) or `certificate`", what));
    r.certificate = scalar(n, "certificate", false, what);
    if (!r.certificate.empty() && r.lifecycle != Lifecycle::certificate)
      error(n["certificate"], fmt::format("{}: `certificate:` names the certificate of a `lifecycle: certificate` rule", what));
    // Every rule about one certificate names it alike; its identity is that name and the
    // group_by labels (leave pod and instance out unless the certificate is the pod's own).
    if (r.lifecycle == Lifecycle::certificate && r.certificate.empty()) r.certificate = r.id;
  }

  bool read_rule(const YamlNode& n) {
    failed_ = false;
    if (!n.is_map()) {
      error(n, "a rule is a map with id, class, title, match ...");
      return false;
    }
    RuleSpec r;
    r.defined_at = {file_, n.line()};
    r.id = scalar(n, "id", true, "rule");
    const std::string what = r.id.empty() ? std::string("rule") : "rule " + r.id;
    known_keys(n, what,
               {"id", "class", "title", "match", "exclude", "where", "extract", "group_by", "severity",
                "priority", "resolve_after", "min_count", "within", "annotations", "resolves", "lifecycle",
                "certificate", "tests"});
    if (!r.id.empty() && !r.id.starts_with(pack_ + "."))
      error(n["id"], fmt::format("{}: the id must start with the pack name, '{}.'", what, pack_));
    r.klass = scalar(n, "class", true, what);
    if (!r.klass.empty() && !is_known_class(r.klass))
      warning(n["class"], fmt::format("{}: class '{}' is not in the shared vocabulary (rules/README.md)", what, r.klass));
    r.title = scalar(n, "title", true, what);
    read_match(n, r, what);
    r.exclude = scalar(n, "exclude", false, what);
    if (const YamlNode w = n["where"]) read_where(w, r, what);
    if (const YamlNode x = n["extract"]) read_extract(x, r, what);
    if (const YamlNode g = n["group_by"]) r.group_by = string_list(g, what + ": group_by");
    if (const YamlNode s = n["severity"]) read_severity(s, r, what);
    if (const YamlNode p = n["priority"]) {
      if (const auto priority = p.integer()) r.priority = *priority;
      else error(p, what + ": priority must be an integer");
    }
    if (auto d = duration(n, "resolve_after", what)) r.resolve_after_seconds = *d;
    if (auto d = duration(n, "within", what)) r.within_seconds = *d;
    if (const YamlNode m = n["min_count"]) {
      if (const auto min_count = m.integer()) {
        r.min_count = *min_count;
        if (r.min_count < 1) error(m, what + ": min_count must be at least 1");
      } else {
        error(m, what + ": min_count must be an integer");
      }
      if (r.min_count > 1 && !n["within"]) error(m, what + ": min_count needs `within:` (the window)");
    }
    if (const YamlNode a = n["annotations"]) {
      if (!a.is_map()) error(a, what + ": annotations must be a map");
      else
        for (const auto& [key, value] : a.pairs()) {
          // A misspelt key (`sumary`) would be sent as an annotation nobody's template shows.
          const std::string k = key.text();
          if (k != "summary" && k != "description" && k != "runbook" && k != "runbook_url")
            error(key, fmt::format("{}: unknown annotation '{}' (known: summary, description, runbook, runbook_url)", what, k));
          else if (!value.is_scalar()) error(value, what + ": annotation values are text");
          else r.annotations.emplace_back(key.text(), value.text());
        }
    }
    // Every class of the shared vocabulary has a runbook page (docs/runbooks/), linked relative
    // to the repository unless the rule names its own; --runbook-base makes it absolute.
    const bool has_url = std::any_of(r.annotations.begin(), r.annotations.end(), [](const auto& a) { return a.first == "runbook_url"; });
    if (!has_url && is_known_class(r.klass)) r.annotations.emplace_back("runbook_url", "docs/runbooks/" + r.klass + ".md");
    if (const YamlNode res = n["resolves"]) r.resolves = string_list(res, what + ": resolves");
    read_lifecycle(n, r, what);
    std::vector<RuleTest> tests;
    if (const YamlNode t = n["tests"]) read_tests(t, r.id, what, tests);
    if (failed_) return false;
    into_.rules.push_back(std::move(r));
    for (auto& t : tests) into_.tests.push_back(std::move(t));
    return true;
  }

  void read_match(const YamlNode& n, RuleSpec& r, const std::string& what) {
    const YamlNode m = n["match"];
    if (!m) return error(n, what + ": `match` is required (message:, line: or field: + regex:)");
    if (!m.is_map()) return error(m, what + ": `match` is a map: message:, line: or field: + regex:");
    known_keys(m, what + ": match", {"message", "line", "field", "regex"});
    const int kinds = int(bool(m["message"])) + int(bool(m["line"])) + int(bool(m["field"]));
    if (kinds != 1) return error(m, what + ": `match` needs exactly one of message:, line:, field:");
    if (m["message"]) r.target = MatchTarget::message, r.pattern = scalar(m, "message", true, what);
    if (m["line"]) r.target = MatchTarget::line, r.pattern = scalar(m, "line", true, what);
    if (m["field"]) {
      r.target = MatchTarget::field;
      r.field = scalar(m, "field", true, what);
      r.pattern = scalar(m, "regex", true, what + ": match.field");
    } else if (m["regex"]) {
      error(m["regex"], what + ": match.regex goes with match.field");
    }
    if (r.pattern.empty() && !failed_) error(m, what + ": the match regex is empty");
    if (const auto name = repeated_group_name(r.pattern)) {
      const YamlNode at = m["message"] ? m["message"] : m["line"] ? m["line"] : m["regex"];
      error(at, fmt::format("{}: match: the group name '{}' is used twice; RE2 fills only the first, so "
                            "{{{}}} stays empty when another alternative matches (name each group apart, or "
                            "write one group around the alternatives)", what, *name, *name));
    }
  }

  void read_where(const YamlNode& w, RuleSpec& r, const std::string& what) {
    if (!w.is_map()) return error(w, what + ": `where` is a map of field: value");
    for (const auto& [key, value] : w.pairs()) {
      FieldCondition c;
      c.name = key.text();
      const std::string text = value.text();
      if (value.is_scalar() && text.size() >= 4 && text.starts_with("!/") && text.back() == '/') {
        c.regex = text.substr(2, text.size() - 3);
        c.negated = true;
      } else if (value.is_scalar() && text.size() >= 2 && text.front() == '/' && text.back() == '/') {
        c.regex = text.substr(1, text.size() - 2);
      } else {
        c.any_of = string_list(value, what + ": where " + c.name);
      }
      r.where.push_back(std::move(c));
    }
  }

  void read_extract(const YamlNode& x, RuleSpec& r, const std::string& what) {
    if (!x.is_map()) return error(x, what + ": `extract` is a map of name: function(capture)");
    for (const auto& [key, value] : x.pairs()) {
      Extraction e;
      e.name = key.text();
      const std::string call = value.text();
      const std::size_t open = call.find('('), close = call.rfind(')');
      if (open == std::string::npos || close != call.size() - 1 || close <= open + 1) {
        error(value, fmt::format("{}: extract {}: write duration(capture), instant(capture) or number(capture)",
                                 what, e.name));
        continue;
      }
      const std::string fn = call.substr(0, open);
      e.capture = call.substr(open + 1, close - open - 1);
      if (fn == "duration") e.kind = ExtractKind::duration;
      else if (fn == "instant") e.kind = ExtractKind::instant;
      else if (fn == "number") e.kind = ExtractKind::number;
      else {
        error(value, fmt::format("{}: extract {}: unknown function '{}' (duration, instant, number)", what, e.name, fn));
        continue;
      }
      r.extract.push_back(std::move(e));
    }
  }

  void read_severity(const YamlNode& s, RuleSpec& r, const std::string& what) {
    if (s.is_scalar()) {
      auto sev = severity_from_string(s.text());
      if (!sev) return error(s, fmt::format("{}: severity '{}' is not info, warning or critical", what, s.text()));
      r.severity.push_back({*sev, Comparison{}});
      return;
    }
    if (!s.is_sequence()) return error(s, what + ": severity is a level or a list of {level: condition}");
    for (const YamlNode& item : s.items()) {
      if (!item.is_map() || item.size() != 1) {
        error(item, what + ": each severity case is one {level: condition}, e.g. {critical: 'expires_in < 7d'}");
        continue;
      }
      const auto [level, condition] = *item.pairs().begin();
      auto sev = severity_from_string(level.text());
      if (!sev) {
        error(level, fmt::format("{}: severity '{}' is not info, warning or critical", what, level.text()));
        continue;
      }
      auto cond = parse_comparison(condition.text());
      if (!cond) {
        error(condition, fmt::format("{}: severity condition '{}' is not NAME OP VALUE (e.g. expires_in < 7d) or true",
                                     what, condition.is_scalar() ? condition.text() : "?"));
        continue;
      }
      if (!cond->threshold.empty()) {
        const auto seconds = ExpiryThresholds{}.seconds(cond->threshold);
        if (!seconds) {
          error(condition, fmt::format("{}: severity condition '{}': no threshold is called {{{}}} "
                                       "(there are {{expiry_warning}} and {{expiry_critical}})",
                                       what, condition.text(), cond->threshold));
          continue;
        }
        cond->value = double(*seconds);
      }
      r.severity.push_back({*sev, *cond});
    }
  }

  void read_tests(const YamlNode& t, const std::string& rule_id, const std::string& what, std::vector<RuleTest>& out) {
    if (!t.is_sequence()) return error(t, what + ": tests is a list of {line, expect}");
    for (const YamlNode& item : t.items()) {
      if (!item.is_map()) {
        error(item, what + ": a test is {line: ..., expect: ...}");
        continue;
      }
      known_keys(item, what + ": test", {"line", "expect"});
      RuleTest test;
      test.rule_id = rule_id;
      test.at = {file_, item.line()};
      test.line = scalar(item, "line", true, what + ": test");
      const YamlNode e = item["expect"];
      if (!e) {
        error(item, what + ": test needs `expect:` (none, or a map such as {class: cert_expired})");
      } else if (e.is_scalar() && e.text() == "none") {
        test.expect_none = true;
      } else if (e.is_map()) {
        for (const auto& [key, value] : e.pairs()) {
          if (!value.is_scalar()) error(value, what + ": expected values are single values");
          else test.expect.emplace_back(key.text(), value.text());
        }
      } else {
        error(e, what + ": expect is `none` or a map such as {class: cert_expired, expires_in: 226800}");
      }
      out.push_back(std::move(test));
    }
  }

  void read_correlation(const YamlNode& n) {
    if (!n.is_map()) return error(n, "a correlation is a map with id, root, symptoms");
    CorrelationSpec c;
    c.defined_at = {file_, n.line()};
    c.id = scalar(n, "id", true, "correlation");
    const std::string what = "correlation " + c.id;
    known_keys(n, what, {"id", "root", "symptoms", "within", "same"});
    c.root = scalar(n, "root", true, what);
    if (const YamlNode s = n["symptoms"]) c.symptoms = string_list(s, what + ": symptoms");
    else error(n, what + ": `symptoms` is required");
    if (auto d = duration(n, "within", what)) c.within_seconds = *d;
    if (const YamlNode s = n["same"]) c.same = string_list(s, what + ": same");
    into_.correlations.push_back(std::move(c));
  }

  const std::string& file_;
  RuleSet& into_;
  std::vector<Diagnostic>& problems_;
  std::string pack_;
  bool failed_ = false;
};

}  // namespace

void load_pack_text(std::string_view text, const std::string& file, RuleSet& into, std::vector<Diagnostic>& problems) {
  PackReader(file, into, problems).read(text);
}

void load_pack_path(const std::string& path, RuleSet& into, std::vector<Diagnostic>& problems) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_directory(path, ec)) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      const auto ext = entry.path().extension();
      if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      Diagnostic d;
      d.where.file = path;
      d.message = "no *.yaml or *.yml rule packs in this directory";
      problems.push_back(std::move(d));
    }
  } else {
    files.push_back(path);
  }
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      Diagnostic d;
      d.where.file = f.string();
      d.message = "cannot read the file: " + std::error_code(errno, std::generic_category()).message();
      problems.push_back(std::move(d));
      continue;
    }
    std::stringstream text;
    text << in.rdbuf();
    load_pack_text(text.str(), f.string(), into, problems);
  }
}

namespace {

std::size_t indent_of(std::string_view line) { return line.find_first_not_of(' '); }

// The pack's text with every block-style `tests:` key and what is indented under it left out,
// their newlines kept, so that line numbers in diagnostics still hold.
std::string without_test_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 2);
  std::size_t skip_deeper_than = std::string_view::npos;  // npos: not inside a tests block
  for (std::size_t at = 0; at < text.size();) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(at, end - at);
    const std::size_t indent = indent_of(line);
    const bool blank = indent == std::string_view::npos;
    if (skip_deeper_than != std::string_view::npos && !blank && indent <= skip_deeper_than)
      skip_deeper_than = std::string_view::npos;
    if (!blank && line.substr(indent) == "tests:") skip_deeper_than = indent;
    if (skip_deeper_than == std::string_view::npos) out += line;
    out += '\n';
    at = end + 1;
  }
  return out;
}

}  // namespace

void load_builtin_packs(RuleSet& into, std::vector<Diagnostic>& problems, TestLines tests, unsigned threads) {
  const auto& packs = builtin_packs();
  // Each pack on its own, then in their order: the same rule order on any number of threads.
  std::vector<RuleSet> sets(packs.size());
  std::vector<std::vector<Diagnostic>> found(packs.size());
  parallel_for(packs.size(), threads, [&](std::size_t i) {
    const EmbeddedPack& p = packs[i];
    if (tests == TestLines::read) load_pack_text(p.text, std::string(p.file), sets[i], found[i]);
    else load_pack_text(without_test_lines(p.text), std::string(p.file), sets[i], found[i]);
  });
  for (std::size_t i = 0; i < packs.size(); ++i) {
    auto move_all = [](auto& from, auto& to) { std::move(from.begin(), from.end(), std::back_inserter(to)); };
    move_all(sets[i].packs, into.packs);
    move_all(sets[i].rules, into.rules);
    move_all(sets[i].correlations, into.correlations);
    move_all(sets[i].tests, into.tests);
    move_all(found[i], problems);
  }
}

std::optional<std::int64_t> ExpiryThresholds::seconds(std::string_view name) const {
  if (name == "expiry_warning") return warning_seconds;
  if (name == "expiry_critical") return critical_seconds;
  return std::nullopt;
}

void set_expiry_thresholds(std::vector<RuleSpec>& rules, const ExpiryThresholds& thresholds) {
  for (RuleSpec& r : rules)
    for (SeverityCase& c : r.severity)
      if (!c.when.threshold.empty())
        if (const auto seconds = thresholds.seconds(c.when.threshold)) c.when.value = double(*seconds);
}

void check_rule_set(const RuleSet& set, std::vector<Diagnostic>& problems) {
  std::set<std::string_view> ids;
  for (const RuleSpec& r : set.rules) ids.insert(r.id);
  for (const RuleSpec& r : set.rules)
    for (const std::string& target : r.resolves)
      if (!ids.contains(target))
        problems.push_back({r.defined_at, fmt::format("rule {}: resolves '{}', which is not a loaded rule", r.id, target), true});
  for (const CorrelationSpec& c : set.correlations) {
    if (!c.root.empty() && !ids.contains(c.root))
      problems.push_back({c.defined_at, fmt::format("correlation {}: root '{}' is not a loaded rule", c.id, c.root), false});
    for (const std::string& s : c.symptoms)
      if (!ids.contains(s))
        problems.push_back({c.defined_at, fmt::format("correlation {}: symptom '{}' is not a loaded rule", c.id, s), true});
  }
}

}  // namespace klaxon::rules
