#include "engine/matcher.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include <fmt/format.h>
#include <re2/re2.h>

#include "engine/certificate_terms.hpp"
#include "engine/civil_time.hpp"
#include "engine/duration.hpp"
#include "engine/parallel_for.hpp"

namespace klaxon {
namespace {

struct CompiledRule {
  std::unique_ptr<CoveredRegex> match;
  std::unique_ptr<RE2> exclude;
  std::vector<std::unique_ptr<RE2>> where_regex;  // parallel to RuleSpec::where; null = exact
  std::vector<std::pair<std::string, int>> captures;  // named groups: name, index
  std::vector<int> extract_group;                     // parallel to RuleSpec::extract
  // Groups asked of RE2: group 0 and up to the last named one. Unnamed groups after it are
  // never read, and with group 0 alone RE2 needs no submatch engine after its DFA.
  int groups_needed = 1;
};

std::unique_ptr<RE2> compile_regex(const std::string& pattern, std::string& error) {
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_unique<RE2>(pattern, options);
  if (!re->ok()) {
    error = re->error();
    return nullptr;
  }
  return re;
}

bool holds(const Comparison& c, double v) {
  switch (c.op) {
    case Comparison::Op::lt: return v < c.value;
    case Comparison::Op::le: return v <= c.value;
    case Comparison::Op::gt: return v > c.value;
    case Comparison::Op::ge: return v >= c.value;
    case Comparison::Op::eq: return v == c.value;
    case Comparison::Op::ne: return v != c.value;
    case Comparison::Op::always: return true;
  }
  return false;
}

std::optional<double> numeric(const Value& v) {
  switch (v.kind) {
    case Value::Kind::seconds: return double(v.integer);
    case Value::Kind::instant: return double(v.integer / kNanosPerSecond);
    case Value::Kind::number: return v.number;
    case Value::Kind::text: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

struct Matcher::Scratch::Impl {
  Prefilter::Scratch prefilter;
  std::vector<re2::StringPiece> groups;
  std::vector<int> ordered;
};
Matcher::Scratch::Scratch() : impl_(std::make_unique<Impl>()) {}
Matcher::Scratch::~Scratch() = default;
Matcher::Scratch::Scratch(Scratch&&) noexcept = default;

struct Matcher::Impl {
  std::vector<RuleSpec> rules;
  std::vector<CompiledRule> compiled;
  std::optional<Prefilter> prefilter;
  std::vector<int> every_rule;
  std::vector<int> precedence;  // rule → its place when rules are sorted most specific first
  bool use_prefilter = true;

  const std::vector<int>& candidates(Matcher::Scratch::Impl& scratch) const {
    return use_prefilter ? prefilter->candidates(scratch.prefilter) : every_rule;
  }
};

Matcher::Matcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Matcher::Matcher(Matcher&&) noexcept = default;
Matcher& Matcher::operator=(Matcher&&) noexcept = default;
Matcher::~Matcher() = default;

std::optional<Matcher> Matcher::compile(std::vector<RuleSpec> rules, std::vector<Diagnostic>& problems,
                                        unsigned threads) {
  auto impl = std::make_unique<Impl>();
  std::vector<std::unique_ptr<CoveredRegex>> patterns(rules.size());
  std::vector<std::string> pattern_errors(rules.size());
  parallel_for(rules.size(), threads,
               [&](std::size_t i) { patterns[i] = CoveredRegex::compile(rules[i].pattern, pattern_errors[i]); });
  bool failed = false;
  auto error = [&](const RuleSpec& r, std::string message) {
    problems.push_back({r.defined_at, fmt::format("rule {}: {}", r.id, message), false});
    failed = true;
  };
  std::map<std::string, const RuleSpec*> seen;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const RuleSpec& r = rules[i];
    if (auto [it, fresh] = seen.emplace(r.id, &r); !fresh) {
      const SourceLocation& first = it->second->defined_at;
      error(r, fmt::format("duplicate id (first defined at {}:{})", first.file, first.line));
    }
    CompiledRule c;
    std::string why;
    c.match = std::move(patterns[i]);
    if (!c.match) {
      error(r, fmt::format("match regex does not compile: {}", pattern_errors[i]));
      impl->compiled.push_back(std::move(c));
      continue;
    }
    if (!r.exclude.empty() && !(c.exclude = compile_regex(r.exclude, why)))
      error(r, fmt::format("exclude regex does not compile: {}", why));
    for (const FieldCondition& w : r.where) {
      std::unique_ptr<RE2> re;
      if (!w.regex.empty() && !(re = compile_regex(w.regex, why)))
        error(r, fmt::format("where {}: regex does not compile: {}", w.name, why));
      c.where_regex.push_back(std::move(re));
    }
    for (const auto& [name, index] : c.match->regex().NamedCapturingGroups()) c.captures.emplace_back(name, index);
    std::sort(c.captures.begin(), c.captures.end(),
              [](const auto& a, const auto& b) { return a.second < b.second; });
    if (!c.captures.empty()) c.groups_needed = c.captures.back().second + 1;
    std::vector<std::string> known;
    for (const auto& [name, index] : c.captures) known.push_back(name);
    for (const Extraction& x : r.extract) {
      auto it = std::find_if(c.captures.begin(), c.captures.end(),
                             [&](const auto& cap) { return cap.first == x.capture; });
      if (it == c.captures.end()) {
        error(r, fmt::format("extract {}: the regex has no capture named '{}' (write (?P<{}>...))",
                             x.name, x.capture, x.capture));
        c.extract_group.push_back(-1);
      } else {
        c.extract_group.push_back(it->second);
      }
      known.push_back(x.name);
      if (const std::string_view partner = cert::derived_partner(x.name); !partner.empty()) known.emplace_back(partner);
    }
    for (const SeverityCase& s : r.severity) {
      if (s.when.op == Comparison::Op::always) continue;
      if (std::find(known.begin(), known.end(), s.when.name) == known.end())
        error(r, fmt::format("severity condition names '{}', which the rule neither captures nor extracts",
                             s.when.name));
    }
    // A `{name}` the rule neither captures nor extracts would reach the alert as it is written.
    for (const auto& [key, text] : r.annotations)
      for (const std::string& name : placeholders(text))
        if (std::find(known.begin(), known.end(), name) == known.end())
          error(r, fmt::format("annotation {}: {{{}}} names no capture or extracted value of the rule", key, name));
    impl->compiled.push_back(std::move(c));
  }
  if (failed) return std::nullopt;

  std::vector<std::vector<std::string>> literals;
  std::vector<std::vector<std::vector<std::string>>> conjunctions;
  for (const CompiledRule& c : impl->compiled) {
    literals.push_back(c.match->literals());
    conjunctions.push_back(c.match->conjunctions());
  }
  impl->prefilter.emplace(Prefilter::for_literals(literals, {" stdout P ", " stderr P "}, conjunctions));
  for (int i = 0; i < int(rules.size()); ++i) impl->every_rule.push_back(i);
  // Most specific first: class rank, then priority, then the order the rules were loaded in.
  std::vector<int> sorted = impl->every_rule;
  std::stable_sort(sorted.begin(), sorted.end(), [&](int a, int b) {
    const RuleSpec& ra = rules[std::size_t(a)];
    const RuleSpec& rb = rules[std::size_t(b)];
    const int ca = class_rank(ra.klass), cb = class_rank(rb.klass);
    return ca != cb ? ca < cb : ra.priority > rb.priority;
  });
  impl->precedence.resize(rules.size());
  for (std::size_t k = 0; k < sorted.size(); ++k) impl->precedence[std::size_t(sorted[k])] = int(k);
  impl->rules = std::move(rules);
  return Matcher(std::move(impl));
}

void Matcher::disable_prefilter() { impl_->use_prefilter = false; }

bool Matcher::may_match(std::string_view raw, Scratch& scratch) const {
  return !impl_->use_prefilter || impl_->prefilter->scan_line(raw, scratch.impl_->prefilter);
}

const std::vector<int>& Matcher::candidates(const Scratch& scratch) const {
  return impl_->prefilter->candidates(scratch.impl_->prefilter);
}

void Matcher::scan_block(std::string_view block, Scratch& scratch) const {
  if (impl_->use_prefilter) impl_->prefilter->scan_block(block, scratch.impl_->prefilter);
}

bool Matcher::block_is_quiet(const Scratch& scratch) const {
  return impl_->use_prefilter && !impl_->prefilter->block_may_match(scratch.impl_->prefilter);
}

std::size_t Matcher::next_anchor(std::size_t from, Scratch& scratch) const {
  return impl_->prefilter->next_anchor(from, scratch.impl_->prefilter);
}

bool Matcher::every_line_is_a_candidate() const {
  return !impl_->use_prefilter || !impl_->prefilter->unfiltered().empty();
}

bool Matcher::block_has_cri_piece(const Scratch& scratch) const {
  return !impl_->use_prefilter || impl_->prefilter->block_has_marker(scratch.impl_->prefilter);
}

bool Matcher::may_match_in_block(std::string_view line, Scratch& scratch) const {
  return !impl_->use_prefilter || impl_->prefilter->candidates_in(line, scratch.impl_->prefilter);
}

void Matcher::match(const Record& record, Scratch& scratch, std::vector<RuleMatch>& out) const {
  match_candidates(record, scratch, impl_->candidates(*scratch.impl_), out);
}

void Matcher::match_every_rule(const Record& record, Scratch& scratch, std::vector<RuleMatch>& out) const {
  match_candidates(record, scratch, impl_->every_rule, out);
}

void Matcher::match_primary(const Record& record, Scratch& scratch, std::vector<RuleMatch>& out) const {
  auto& order = scratch.impl_->ordered;
  order = impl_->candidates(*scratch.impl_);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return impl_->precedence[std::size_t(a)] < impl_->precedence[std::size_t(b)]; });
  match_candidates(record, scratch, order, out, true);
}

namespace {

// The text a rule's regex searches in `record`; false when it names a field the line lacks.
bool target_of(const RuleSpec& rule, const Record& record, std::string_view& text) {
  switch (rule.target) {
    case MatchTarget::message: text = record.message; return true;
    case MatchTarget::line: text = record.line; return true;
    case MatchTarget::field: {
      bool found = false;
      text = record.get(rule.field, &found);
      return found;
    }
  }
  return false;
}

// The rule's exclude and where conditions, after its regex matched.
bool conditions_hold(const RuleSpec& rule, const CompiledRule& c, const Record& record) {
  if (c.exclude && RE2::PartialMatch(re2::StringPiece(record.message.data(), record.message.size()), *c.exclude))
    return false;
  for (std::size_t w = 0; w < rule.where.size(); ++w) {
    bool found = false;
    std::string_view value = record.get(rule.where[w].name, &found);
    bool ok = false;
    if (rule.where[w].negated) {
      ok = !found || !RE2::PartialMatch(re2::StringPiece(value.data(), value.size()), *c.where_regex[w]);
    } else if (!found) {
      ok = false;
    } else if (c.where_regex[w]) {
      ok = RE2::PartialMatch(re2::StringPiece(value.data(), value.size()), *c.where_regex[w]);
    } else {
      const auto& any = rule.where[w].any_of;
      ok = std::find(any.begin(), any.end(), value) != any.end();
    }
    if (!ok) return false;
  }
  return true;
}

// The match of rule `index` from its regex's groups: captures, extracted values, what the
// line's time derives (expires_at from expires_in and back) and the severity they decide.
RuleMatch build_match(int index, const RuleSpec& rule, const CompiledRule& c, const Record& record,
                      const std::vector<re2::StringPiece>& groups) {
  RuleMatch m;
  m.rule = index;
  m.matched = std::string_view(groups[0].data(), groups[0].size());
  for (const auto& [name, group] : c.captures) {
    const re2::StringPiece& g = groups[std::size_t(group)];
    if (g.data() != nullptr) m.values.push_back({name, Value::Kind::text, std::string_view(g.data(), g.size())});
  }
  for (std::size_t x = 0; x < rule.extract.size(); ++x) {
    const re2::StringPiece& g = groups[std::size_t(c.extract_group[x])];
    if (g.data() == nullptr) continue;
    std::string_view captured(g.data(), g.size());
    Value v{rule.extract[x].name};
    switch (rule.extract[x].kind) {
      case ExtractKind::duration: {
        auto secs = parse_duration_seconds(captured);
        if (!secs) {
          ++m.refused;
          continue;
        }
        v.kind = Value::Kind::seconds, v.integer = *secs;
        break;
      }
      case ExtractKind::instant: {
        auto t = parse_instant(captured);
        if (!t) {
          ++m.refused;
          continue;
        }
        v.kind = Value::Kind::instant, v.integer = *t;
        break;
      }
      case ExtractKind::number: {
        try {
          v.number = std::stod(std::string(captured));
        } catch (...) {
          continue;
        }
        v.kind = Value::Kind::number;
        break;
      }
    }
    m.values.push_back(v);
  }
  // expires_in and expires_at say the same thing relative to the line's time: derive the one
  // the line does not state, so rules and alerts can use either.
  const Nanos whole_second = record.time - record.time % kNanosPerSecond;
  if (const Value* in = m.find(cert::kExpiresIn); in && in->kind == Value::Kind::seconds && !m.find(cert::kExpiresAt) &&
                                              record.time != 0) {
    m.values.push_back({cert::kExpiresAt, Value::Kind::instant, {}, whole_second + in->integer * kNanosPerSecond});
  } else if (const Value* at = m.find(cert::kExpiresAt); at && at->kind == Value::Kind::instant && !m.find(cert::kExpiresIn) &&
                                                     record.time != 0) {
    m.values.push_back({cert::kExpiresIn, Value::Kind::seconds, {}, (at->integer - whole_second) / kNanosPerSecond});
  }

  m.severity = Severity::warning;
  for (const SeverityCase& sc : rule.severity) {
    bool applies = sc.when.op == Comparison::Op::always;
    if (!applies)
      if (const Value* v = m.find(sc.when.name))
        if (auto n = numeric(*v)) applies = holds(sc.when, *n);
    if (applies) {
      m.severity = sc.severity;
      break;
    }
  }
  return m;
}

}  // namespace

void Matcher::match_candidates(const Record& record, Scratch& scratch, const std::vector<int>& candidates,
                               std::vector<RuleMatch>& out, bool first_only) const {
  out.clear();
  auto& groups = scratch.impl_->groups;
  for (int index : candidates) {
    if (first_only && !out.empty()) break;
    const RuleSpec& rule = impl_->rules[std::size_t(index)];
    const CompiledRule& c = impl_->compiled[std::size_t(index)];
    std::string_view text;
    if (!target_of(rule, record, text)) continue;
    const RE2& re = c.match->regex();
    const int ngroups = c.groups_needed;
    groups.assign(std::size_t(ngroups), re2::StringPiece());
    if (!re.Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::UNANCHORED,
                     groups.data(), ngroups))
      continue;
    if (!conditions_hold(rule, c, record)) continue;
    out.push_back(build_match(index, rule, c, record, groups));
  }
  std::stable_sort(out.begin(), out.end(), [&](const RuleMatch& a, const RuleMatch& b) {
    const RuleSpec& ra = impl_->rules[std::size_t(a.rule)];
    const RuleSpec& rb = impl_->rules[std::size_t(b.rule)];
    const int ca = class_rank(ra.klass), cb = class_rank(rb.klass);
    if (ca != cb) return ca < cb;
    return ra.priority > rb.priority;
  });
}

void Matcher::primary_spans(const Record& record, const Scratch& scratch, const RuleMatch& primary,
                            std::vector<std::uint32_t>& out) const {
  const RuleSpec& rule = impl_->rules[std::size_t(primary.rule)];
  std::string_view text;
  target_of(rule, record, text);
  for (const re2::StringPiece& g : scratch.impl_->groups) {
    if (g.data() == nullptr) {
      out.insert(out.end(), {0, 0});
    } else {
      out.push_back(std::uint32_t(g.data() - text.data()) + 1);
      out.push_back(std::uint32_t(g.size()));
    }
  }
}

std::size_t Matcher::span_count(int rule) const {
  return 2 * std::size_t(impl_->compiled[std::size_t(rule)].groups_needed);
}

bool Matcher::match_from_spans(const Record& record, int index, const std::uint32_t* spans, Scratch& scratch,
                               std::vector<RuleMatch>& out) const {
  out.clear();
  const RuleSpec& rule = impl_->rules[std::size_t(index)];
  const CompiledRule& c = impl_->compiled[std::size_t(index)];
  std::string_view text;
  if (!target_of(rule, record, text)) return false;
  auto& groups = scratch.impl_->groups;
  groups.assign(std::size_t(c.groups_needed), re2::StringPiece());
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const std::uint32_t at = spans[2 * g], size = spans[2 * g + 1];
    if (at == 0) continue;
    if (at - 1 + std::size_t(size) > text.size()) return false;  // not the text the worker saw
    groups[g] = re2::StringPiece(text.data() + at - 1, size);
  }
  if (groups[0].data() == nullptr) return false;
  out.push_back(build_match(index, rule, c, record, groups));
  return true;
}

const std::vector<RuleSpec>& Matcher::rules() const { return impl_->rules; }
const Prefilter& Matcher::prefilter() const { return *impl_->prefilter; }

namespace {
bool is_placeholder_name(std::string_view name) {
  return !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
         std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}
}  // namespace

std::vector<std::string> placeholders(std::string_view text) {
  std::vector<std::string> out;
  for (std::size_t open = text.find('{'); open != std::string_view::npos; open = text.find('{', open + 1)) {
    const std::size_t close = text.find('}', open);
    if (close == std::string_view::npos) break;
    const std::string_view name = text.substr(open + 1, close - open - 1);
    if (is_placeholder_name(name)) out.emplace_back(name);
  }
  return out;
}

std::string value_to_string(const Value& v) {
  switch (v.kind) {
    case Value::Kind::text: return std::string(v.text);
    case Value::Kind::seconds: return std::to_string(v.integer);
    case Value::Kind::instant: return format_rfc3339(v.integer);
    case Value::Kind::number: return fmt::format("{}", v.number);
  }
  return {};
}

std::string render_template(std::string_view tmpl, const RuleMatch& match) {
  std::string out;
  while (!tmpl.empty()) {
    const std::size_t open = tmpl.find('{');
    const std::size_t close = open == std::string_view::npos ? open : tmpl.find('}', open);
    if (close == std::string_view::npos) break;
    out.append(tmpl.substr(0, open));
    std::string_view name = tmpl.substr(open + 1, close - open - 1);
    std::size_t next = close + 1;
    if (const Value* v = match.find(name)) {
      out += v->kind == Value::Kind::seconds ? format_duration(v->integer) : value_to_string(*v);
    } else if (is_placeholder_name(name)) {
      // The loader refuses names the rule does not capture, so this one's group took no part in
      // the match (an alternative without it): leave it out, with the space before it (or,
      // first in the text, the space after it).
      while (!out.empty() && out.back() == ' ') out.pop_back();
      if (out.empty())
        while (next < tmpl.size() && tmpl[next] == ' ') ++next;
    } else {
      out.append(tmpl.substr(open, close - open + 1));
    }
    tmpl.remove_prefix(next);
  }
  out.append(tmpl);
  return out;
}

}  // namespace klaxon
