// fuzz/fuzz_support.hpp — what the fuzz targets share: the built-in rules, compiled once.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "engine/matcher.hpp"
#include "engine/stream_classifier.hpp"
#include "rules/rule_pack_loader.hpp"

namespace klaxon::fuzz {

/// The built-in packs, compiled once per process (a target's inputs share it, as a run's lines do).
inline const Matcher& builtin_matcher() {
  static const Matcher m = [] {
    rules::RuleSet set;
    std::vector<Diagnostic> problems;
    rules::load_builtin_packs(set, problems, rules::TestLines::skip);
    std::optional<Matcher> compiled;
    if (!rules::has_errors(problems)) compiled = Matcher::compile(set.rules, problems);
    if (!compiled) {
      for (const auto& d : problems) std::fprintf(stderr, "%s\n", format_diagnostic(d).c_str());
      std::abort();
    }
    return std::move(*compiled);
  }();
  return m;
}

}  // namespace klaxon::fuzz
