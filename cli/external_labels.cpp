#include "cli/external_labels.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace klaxon::cli {
namespace {

// Prometheus' label name grammar: [a-zA-Z_][a-zA-Z0-9_]*.
bool valid_label_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::optional<Labels> parse_external_labels(const std::vector<std::string>& flags, std::string& error) {
  Labels out;
  for (const std::string& flag : flags) {
    const std::size_t eq = flag.find('=');
    const std::string name = flag.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : flag.substr(eq + 1);
    if (eq == std::string::npos || !valid_label_name(name)) {
      error = fmt::format("--label {:?}: write NAME=VALUE with NAME of letters, digits and _, not starting with a digit "
                          "(e.g. --label cluster=prod-eu1)",
                          flag);
      return std::nullopt;
    }
    if (value.empty() || value.find_first_of("\r\n") != std::string::npos) {
      error = fmt::format("--label {}: give a value on one line (Alertmanager drops a label with an empty value)", name);
      return std::nullopt;
    }
    if (name.starts_with("__") || name == "alertname" || name == "severity" || name == "class") {
      error = fmt::format("--label {}: reserved ({}); choose another name, e.g. cluster or region", name,
                          name.starts_with("__") ? "names starting with __ are Prometheus' own"
                                                 : "klaxon sets it on every alert");
      return std::nullopt;
    }
    if (has_label(out, name)) {
      error = fmt::format("--label {} is given twice; give each name once", name);
      return std::nullopt;
    }
    out.emplace_back(name, value);
  }
  return out;
}

}  // namespace klaxon::cli
