// engine/prefilter.hpp — which rules could match this raw line, at the cost of one scan.
//
// RE2's FilteredRE2 works out, for every rule's regex, the literal strings ("atoms") any match
// must contain and the boolean structure between them. We search all atoms at once in the raw
// line with Hyperscan (a caseless multi-literal scan), then ask FilteredRE2 which regexes are
// still possible. Like ripgrep's candidate-line search, this may over-report but never misses:
//
//  * Atoms are lowercased by RE2; the scan is caseless.
//  * The raw bytes may be escaped where the decoded message is not: inside a JSON string `"`
//    is `\"`, `\` is `\\`, and Go writes `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`
//    (Docker's envelope escapes a JSON payload twice). So an atom holding such a character
//    (or `'`, `/`, or non-ASCII) is searched as its longest piece free of them; an atom with
//    no piece of at least 3 bytes counts as present on every line.
//  * A regex with no usable atom ("unfiltered") is a candidate on every line; `klaxon rules
//    check` warns about such rules because they make every line cost an RE2 run.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace klaxon {

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

  /// `patterns` are RE2 regexes that must already compile. Index i of `patterns` is pattern i.
  explicit Prefilter(const std::vector<std::string>& patterns);
  ~Prefilter();
  Prefilter(Prefilter&&) noexcept;
  Prefilter& operator=(Prefilter&&) noexcept;

  /// True when some pattern may match `raw`. Remembers the atoms found in `scratch` for a
  /// following candidates() call on the same line. Thread safety: const; one Scratch per thread.
  bool scan(std::string_view raw, Scratch& scratch) const;

  /// The patterns that may match the line last given to scan(), ascending.
  void candidates(const Scratch& scratch, std::vector<int>& out) const;

  /// Patterns that are candidates on every line (no selective literal).
  const std::vector<int>& unfiltered() const;

  /// The literals searched for; for `rules check` and benchmarks.
  const std::vector<std::string>& searched_literals() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The literals a single regex is filtered on (as searched in raw bytes), for diagnostics.
std::vector<std::string> prefilter_literals_of(const std::string& pattern);

}  // namespace klaxon
