// engine/labels.hpp — the name=value pairs that say where a line came from and whom an alert
// is about.
//
// A stream's labels (namespace, pod, container; a Loki stream's set), an incident's (those its
// rule keeps, plus `--label cluster=c1`), a certificate's (source_kind, namespace, name) and a
// metric series' are all the same small thing: a handful of pairs, in an order worth keeping
// (the order they are printed in), looked up by name. A vector beats a map at that size, and
// keeps the order; these few lookups are what every caller otherwise spells out again.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace klaxon {

/// name=value pairs in the order they were added; names are unique where the callers say so
/// (an incident's, a series'), not enforced here.
using Labels = std::vector<std::pair<std::string, std::string>>;

/// The value of the first label called `name`, or null.
inline const std::string* find_label(const Labels& labels, std::string_view name) noexcept {
  const auto it = std::find_if(labels.begin(), labels.end(), [&](const auto& l) { return l.first == name; });
  return it == labels.end() ? nullptr : &it->second;
}

/// Whether a label called `name` is there.
inline bool has_label(const Labels& labels, std::string_view name) noexcept {
  return find_label(labels, name) != nullptr;
}

/// Adds each of `extra` whose name `labels` lacks, in `extra`'s order: a label already there
/// wins (a stream's own `cluster` is not hidden by `--label cluster=...`).
inline void add_missing_labels(Labels& labels, const Labels& extra) {
  for (const auto& label : extra)
    if (!has_label(labels, label.first)) labels.push_back(label);
}

/// `a=1<separator>b=2`: labels as a person reads them (not escaped: the caller's output is).
inline std::string labels_text(const Labels& labels, std::string_view separator = " ") {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out += separator;
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

}  // namespace klaxon
