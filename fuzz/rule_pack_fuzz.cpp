// fuzz/rule_pack_fuzz.cpp — a rule pack's YAML text through the loader and its checks.
//
// libyaml's parser, our document tree (anchors, aliases and their bounds), the pack schema,
// every rule's fields (regexes, durations, severities, placeholders) and the pack's test lines.
// A bad pack must come back as diagnostics, never as a crash, a hang or an exception.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "rules/rule_pack_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace klaxon;
  rules::RuleSet set;
  std::vector<Diagnostic> problems;
  rules::load_pack_text(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml", set, problems);
  if (!rules::has_errors(problems)) rules::check_rule_set(set, problems);
  for (const auto& d : problems) (void)format_diagnostic(d);
  return 0;
}
