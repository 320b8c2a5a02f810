// engine/prefilter.hpp — which rules could match a line, for the price of one scan of the bytes.
//
// Every rule's regex has literal text that any match must contain. RE2's FilteredRE2 works out
// those literals ("atoms"); for each rule we keep the longest atom that is *required* (the
// rule cannot match without it), or, when no single atom is required (`a.*b|c.*d`), all of
// them as alternatives. One Hyperscan scan, caseless, over a whole chunk of lines looks for a
// small set of short "anchors", pieces that every literal contains one of; where an anchor
// occurs, the literals it stands for are compared in place (the hit says where each would
// start). A line is a candidate for the rules whose literals it holds, and only candidates are
// decoded and tried with RE2. Like ripgrep's candidate search this may over-report but never
// misses:
//
//  * Atoms are lowercased by RE2; the scan is caseless.
//  * The raw bytes may be escaped where the decoded message is not: inside a JSON string `"`
//    is `\"`, `\` is `\\`, and Go writes `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`
//    (Docker's envelope escapes a JSON payload twice). So a literal holding such a character
//    (or `'`, `/`, a control byte or non-ASCII) is searched as its longest piece free of them.
//  * A rule with no usable literal of at least 3 bytes is "unfiltered": a candidate on every
//    line. `klaxon rules check` warns about such rules: they make every line cost an RE2 run.
//
// One literal found is not enough, though: `conversion webhook for (\S+) failed` must not be
// tried on every "Conversion webhook for ... is up to date" of a healthy Dapr operator. So a
// line that holds a rule's literal is its candidate only if it holds all the literals of one of
// the rule's conjunctions too (RE2's AND/OR tree of them, flattened into sets: see
// CoveredRegex::conjunctions()). Those are looked up by a second Hyperscan scan, of that line
// only, for every piece at once however many rules share it: only lines with a literal pay.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class FilteredRE2;
class RE2;
}  // namespace re2

namespace klaxon {

/// A rule's regex, compiled once, with the literals every match of it contains: what the
/// prefilter searches for on its behalf. No literals: nothing selective, it runs on every line.
class CoveredRegex {
 public:
  /// Null, with RE2's reason in `error`, when `pattern` does not compile.
  static std::unique_ptr<CoveredRegex> compile(const std::string& pattern, std::string& error);
  ~CoveredRegex();

  const re2::RE2& regex() const;
  /// As searched: lowercase, escape-safe pieces of at least 3 bytes.
  const std::vector<std::string>& literals() const { return literals_; }
  /// Sets of such pieces, every match holding all of one set (RE2's AND/OR tree of the regex's
  /// literals, flattened): `a.*b` gives {a, b}, `a.*(b|c)` gives {a, b} and {a, c}. Empty when
  /// nothing more than literals() is known.
  const std::vector<std::vector<std::string>>& conjunctions() const { return conjunctions_; }

 private:
  CoveredRegex() = default;
  std::unique_ptr<re2::FilteredRE2> filter_;  // owns the RE2 (RE2 parses a pattern once for both)
  std::vector<std::string> literals_;
  std::vector<std::vector<std::string>> conjunctions_;
};

class Prefilter {
 public:
  /// Per-thread state for scanning.
  class Scratch {
   public:
    Scratch();
    ~Scratch();
    Scratch(Scratch&&) noexcept;
    Scratch& operator=(Scratch&&) noexcept;

   private:
    friend class Prefilter;
    struct Impl;
    std::unique_ptr<Impl> impl_;
  };

  /// `rule_literals[i]` are rule i's literals (CoveredRegex::literals()). `markers` are extra
  /// literals (case-sensitive) the same scan looks for, for the caller's own use.
  /// `rule_conjunctions[i]`, when given, are rule i's CoveredRegex::conjunctions(): a line that
  /// holds one of its literals is its candidate only if it also holds every piece of one set.
  static Prefilter for_literals(const std::vector<std::vector<std::string>>& rule_literals,
                                const std::vector<std::string>& markers = {},
                                const std::vector<std::vector<std::vector<std::string>>>& rule_conjunctions = {});
  /// The same for RE2 regexes that must compile; index i is rule i.
  explicit Prefilter(const std::vector<std::string>& patterns);
  ~Prefilter();
  Prefilter(Prefilter&&) noexcept;
  Prefilter& operator=(Prefilter&&) noexcept;

  /// One line on its own: finds its candidate rules. Returns true when there is any.
  bool scan_line(std::string_view line, Scratch& scratch) const;

  /// A block of whole lines: one scan for all of them. Then call candidates_in() for lines
  /// inside `block`, in increasing order of position. Lifetime: `block` must outlive those calls.
  void scan_block(std::string_view block, Scratch& scratch) const;
  /// Candidate rules of `line`, a view into the block last given to scan_block().
  bool candidates_in(std::string_view line, Scratch& scratch) const;
  /// After scan_block(): where the first anchor of a rule literal at or after `from` begins, or
  /// npos. A line without one is a candidate only for unfiltered() rules. Calls for one block
  /// must not go back (`from` never decreases).
  std::size_t next_anchor(std::size_t from, Scratch& scratch) const;
  /// After scan_block(): could any line of the block be a candidate? Did a marker occur?
  bool block_may_match(const Scratch& scratch) const;
  bool block_has_marker(const Scratch& scratch) const;

  /// The candidate rules found by the last scan_line() / candidates_in(), ascending.
  const std::vector<int>& candidates(const Scratch& scratch) const;

  /// Rules that are candidates on every line (no selective literal).
  const std::vector<int>& unfiltered() const;
  /// The literals searched for one rule (CoveredRegex::literals()).
  const std::vector<std::string>& literals_of(int rule) const;
  /// The anchors the block scan looks for (see prefilter.cpp).
  const std::vector<std::string>& anchors() const;

 private:
  Prefilter();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace klaxon
