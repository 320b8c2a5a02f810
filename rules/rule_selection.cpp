#include "rules/rule_selection.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <set>

#include <fmt/format.h>

#include "rules/builtin_packs.hpp"

namespace klaxon::rules {
namespace {

void erase_ids(std::vector<std::string>& ids, const std::set<std::string>& gone) {
  std::erase_if(ids, [&](const std::string& id) { return gone.contains(id); });
}

}  // namespace

std::optional<std::string> shipped_pack_file(const std::string& name_or_path) {
  for (const EmbeddedPack& p : builtin_packs()) {
    const std::string file(p.file);
    const std::string base = file.substr(file.rfind('/') + 1);
    if (name_or_path == base || name_or_path == base.substr(0, base.rfind('.')) || name_or_path == file ||
        name_or_path.ends_with("/" + file))
      return file;
  }
  return std::nullopt;
}

void load_rule_selection(const RuleSelection& selection, RuleSet& into, std::vector<Diagnostic>& problems) {
  if (selection.builtin) load_builtin_packs(into, problems, selection.tests, selection.threads);
  RuleSet user;
  for (const std::string& path : selection.user_paths) load_pack_path(path, user, problems);

  // A user rule with a shipped rule's id takes its place; the rest are added in their order.
  std::map<std::string, std::size_t> shipped;
  for (std::size_t i = 0; i < into.rules.size(); ++i) shipped.emplace(into.rules[i].id, i);
  std::set<std::string> replaced;
  for (RuleSpec& r : user.rules) {
    const auto it = shipped.find(r.id);
    if (it == shipped.end() || replaced.contains(r.id)) {
      into.rules.push_back(std::move(r));
      continue;
    }
    RuleSpec& old = into.rules[it->second];
    const std::string pack = old.defined_at.file;
    into.overrides.emplace_back(r.id, pack);
    replaced.insert(r.id);
    old = std::move(r);
  }
  // The replaced rules' shipped test lines went with them (the user's own come next).
  std::erase_if(into.tests, [&](const RuleTest& t) { return replaced.contains(t.rule_id); });
  std::move(user.tests.begin(), user.tests.end(), std::back_inserter(into.tests));
  std::move(user.packs.begin(), user.packs.end(), std::back_inserter(into.packs));
  std::move(user.correlations.begin(), user.correlations.end(), std::back_inserter(into.correlations));

  if (!selection.runbook_base.empty()) {
    std::string base = selection.runbook_base;
    while (base.ends_with('/')) base.pop_back();
    for (RuleSpec& r : into.rules)
      for (auto& [key, value] : r.annotations)
        if (key == "runbook_url" && value.find("://") == std::string::npos) value = base + "/" + value;
  }

  set_expiry_thresholds(into.rules, selection.expiry);

  // --disable-rule, last.
  std::set<std::string> gone;
  for (const std::string& pattern : selection.disabled) {
    std::size_t hits = 0;
    for (const RuleSpec& r : into.rules)
      if (::fnmatch(pattern.c_str(), r.id.c_str(), 0) == 0) {
        gone.insert(r.id);
        ++hits;
      }
    if (hits == 0)
      problems.push_back({{"--disable-rule", 0},
                          fmt::format("'{}' names no loaded rule (`klaxon rules list` shows their ids)", pattern), false});
  }
  if (gone.empty()) return;
  std::erase_if(into.rules, [&](const RuleSpec& r) { return gone.contains(r.id); });
  std::erase_if(into.tests, [&](const RuleTest& t) { return gone.contains(t.rule_id); });
  std::erase_if(into.correlations, [&](const CorrelationSpec& c) { return gone.contains(c.root); });
  for (CorrelationSpec& c : into.correlations) erase_ids(c.symptoms, gone);
  for (RuleSpec& r : into.rules) erase_ids(r.resolves, gone);
}

}  // namespace klaxon::rules
