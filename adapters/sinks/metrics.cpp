// adapters/sinks/metrics.cpp — the Prometheus text renderer.
#include "adapters/sinks/metrics.hpp"

#include <cmath>
#include <map>

#include <fmt/format.h>

#include "engine/printable.hpp"

namespace klaxon::sinks {
namespace {

// Label values come from log lines and peers (pod names, paths): invalid UTF-8 would make
// Prometheus refuse the whole scrape, so it becomes U+FFFD first.
void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (char c : valid_utf8(text)) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quote) out += "\\\"";
    else out += c;
  }
}

void append_value(std::string& out, double v) {
  if (std::isnan(v)) out += "NaN";
  else if (std::isinf(v)) out += v > 0 ? "+Inf" : "-Inf";
  else if (v == std::floor(v) && std::fabs(v) < 1e15) out += fmt::format("{}", static_cast<long long>(v));
  else out += fmt::format("{}", v);
}

}  // namespace

std::string metric_label_name(std::string_view name) {
  std::string out(name);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const char c = out[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) out[i] = '_';
  }
  if (out.empty()) out = "_";
  return out;
}

std::string render_prometheus(const std::vector<MetricFamily>& families) {
  // Families of one name from several producers become one family (one # TYPE line).
  std::vector<const MetricFamily*> order;
  std::map<std::string, std::vector<const MetricFamily*>> by_name;
  for (const MetricFamily& f : families) {
    auto& list = by_name[f.name];
    if (list.empty()) order.push_back(&f);
    list.push_back(&f);
  }
  std::string out;
  for (const MetricFamily* first : order) {
    out += "# HELP ";
    out += first->name;
    out += ' ';
    append_escaped(out, first->help, false);
    out += "\n# TYPE ";
    out += first->name;
    out += first->type == MetricFamily::Type::counter ? " counter\n" : " gauge\n";
    for (const MetricFamily* f : by_name[first->name])
      for (const MetricSample& s : f->samples) {
        out += first->name;
        if (!s.labels.empty()) {
          out += '{';
          bool comma = false;
          for (const auto& [name, value] : s.labels) {
            if (comma) out += ',';
            comma = true;
            out += metric_label_name(name);
            out += "=\"";
            append_escaped(out, value, true);
            out += '"';
          }
          out += '}';
        }
        out += ' ';
        append_value(out, s.value);
        out += '\n';
      }
  }
  return out;
}

}  // namespace klaxon::sinks
