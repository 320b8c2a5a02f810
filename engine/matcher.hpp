// engine/matcher.hpp — every rule compiled into one matcher.
//
// Two steps, kept apart as ripgrep keeps candidate search apart from confirmation:
//   1. may_match(raw): the prefilter scans the raw line once for all rules' literals
//      (engine/prefilter.hpp). Almost every line stops here, undecoded.
//   2. match(record): the candidate rules' RE2 regexes run on the decoded record, then field
//      conditions, extraction and severity. Matches come back most specific first: the first
//      is the line's primary class (DESIGN.md, "Classes").
// Built once, then const and shareable between threads; each thread brings its own Scratch.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/prefilter.hpp"
#include "engine/record.hpp"
#include "engine/rule.hpp"

namespace klaxon {

/// A capture or an extracted value of one match.
struct Value {
  enum class Kind { text, seconds, instant, number };
  std::string_view name;
  Kind kind = Kind::text;
  std::string_view text;     // Kind::text
  std::int64_t integer = 0;  // Kind::seconds (seconds) and Kind::instant (unix ns)
  double number = 0;         // Kind::number
};

struct RuleMatch {
  int rule = -1;  // index into Matcher::rules()
  Severity severity = Severity::warning;
  std::vector<Value> values;  // named captures, then extracted values (derived expires_at last)
  /// Captures that were no duration or instant (out of range: "expires in 9223372036 days"):
  /// the value is left out, the line still classified.
  std::uint32_t refused = 0;
  /// What the rule's regex matched (group 0), a view into the text it searched: the message,
  /// the raw line or the field. The terminal keeps it when it cuts a long message.
  std::string_view matched;

  const Value* find(std::string_view name) const {
    for (const Value& v : values)
      if (v.name == name) return &v;
    return nullptr;
  }
};

class Matcher {
 public:
  class Scratch {
   public:
    Scratch();
    ~Scratch();
    Scratch(Scratch&&) noexcept;

   private:
    friend class Matcher;
    struct Impl;
    std::unique_ptr<Impl> impl_;
  };

  /// Compiles `rules`. Every problem (a regex that does not compile, an extraction naming a
  /// capture the regex lacks, a severity condition on an unknown value, a duplicate id) is
  /// appended to `problems`, with the rule's location; returns nullopt if any is an error.
  /// The regexes are compiled on up to `threads` threads.
  static std::optional<Matcher> compile(std::vector<RuleSpec> rules, std::vector<Diagnostic>& problems,
                                        unsigned threads = 1);

  /// Step 1 then always says "maybe" and every rule is tried on every line: slow, and the
  /// reference the prefilter is checked against (`klaxon --no-prefilter`, tests, bench).
  void disable_prefilter();

  Matcher(Matcher&&) noexcept;
  Matcher& operator=(Matcher&&) noexcept;
  ~Matcher();

  /// Step 1: could any rule match this raw line? Thread safety: const; Scratch per thread.
  bool may_match(std::string_view raw, Scratch& scratch) const;

  /// Step 1 for many lines at once: scan a block of whole lines, then ask may_match_in_block()
  /// for lines inside it, in order. One scan of the block costs far less than one per line.
  void scan_block(std::string_view block, Scratch& scratch) const;
  bool may_match_in_block(std::string_view line, Scratch& scratch) const;
  /// After scan_block(): no line of the block can match (the common case: skip it whole).
  bool block_is_quiet(const Scratch& scratch) const;
  /// After scan_block(): where the next rule anchor at or after `from` (a line start) begins,
  /// or npos; lines before it cannot match unless every_line_is_a_candidate(). `from` never
  /// decreases between calls for one block.
  std::size_t next_anchor(std::size_t from, Scratch& scratch) const;
  /// The candidate rules of the line last given to may_match() / may_match_in_block(),
  /// ascending. Only with the prefilter on (disable_prefilter() tries every rule instead).
  const std::vector<int>& candidates(const Scratch& scratch) const;
  /// Some rule has no literal to look for (or the prefilter is off): every line is tried.
  bool every_line_is_a_candidate() const;
  /// After scan_block(): the block holds a CRI partial-line marker (` stdout P `, ` stderr P `),
  /// which the same scan looks for so that streams of whole lines pay nothing for CRI joining.
  bool block_has_cri_piece(const Scratch& scratch) const;

  /// Step 2: the matches of the rules that were candidates on the line last given to
  /// may_match() / may_match_in_block(), most specific first. Lifetime: text values point
  /// into `record`.
  void match(const Record& record, Scratch& scratch, std::vector<RuleMatch>& out) const;
  /// Step 2 for classification: only the primary match (or none). Candidates are tried most
  /// specific first and the first that matches wins, so most rules never run RE2 at all.
  void match_primary(const Record& record, Scratch& scratch, std::vector<RuleMatch>& out) const;

  /// Threaded replay: what a worker hands on about a line's primary match so that the stream's
  /// thread can rebuild it without RE2. After match_primary() found `primary`: where the rule's
  /// groups lie in the text it searched, span_count(rule) numbers (offset + 1 and size per
  /// group; 0 and 0 for a group that took no part), appended to `out`.
  void primary_spans(const Record& record, const Scratch& scratch, const RuleMatch& primary,
                     std::vector<std::uint32_t>& out) const;
  std::size_t span_count(int rule) const;
  /// The match of `rule` on `record` from such spans, taken on the same line decoded again:
  /// the captures as the regex found them, the values that depend on the line's time (an
  /// expiry derived from "expires in", the severity) worked out anew. False (and `out` empty)
  /// when the spans do not fit the text.
  bool match_from_spans(const Record& record, int rule, const std::uint32_t* spans, Scratch& scratch,
                        std::vector<RuleMatch>& out) const;

  /// Step 2 without the prefilter: every rule is tried. For tests that compare the two.
  void match_every_rule(const Record& record, Scratch& scratch, std::vector<RuleMatch>& out) const;

  const std::vector<RuleSpec>& rules() const;
  const Prefilter& prefilter() const;

 private:
  struct Impl;
  explicit Matcher(std::unique_ptr<Impl> impl);
  void match_candidates(const Record& record, Scratch& scratch, const std::vector<int>& candidates,
                        std::vector<RuleMatch>& out, bool first_only = false) const;
  std::unique_ptr<Impl> impl_;
};

/// Renders `{name}` placeholders of an annotation with the match's values (durations as
/// `2d15h`, instants as RFC3339). A name without a value (its group was in an alternative the
/// line did not take) is left out with the space before it; other braces are text.
std::string render_template(std::string_view tmpl, const RuleMatch& match);
/// The names of the `{name}` placeholders in an annotation template (other braces are text).
std::vector<std::string> placeholders(std::string_view text);

/// A value as text: seconds as an integer, instants as RFC3339, numbers as written.
std::string value_to_string(const Value& v);

}  // namespace klaxon
