#include "engine/rule.hpp"

#include <array>
#include <charconv>

#include <fmt/format.h>

#include "engine/duration.hpp"
#include "engine/trim.hpp"

namespace klaxon {
namespace {

// A stated cause beats its symptom: a name mismatch is a handshake failure whose cause is known.
constexpr std::array<std::string_view, 15> kClassesBySpecificity = {
    "cert_expired",         "cert_not_yet_valid",    "cert_bad_signature", "cert_unknown_authority",
    "cert_name_mismatch",   "cert_expiring_soon",    "cert_issuance_failed", "cert_load_failed",
    "cert_validity",        "tls_handshake_failure", "webhook_failed",     "injection_failed",
    "crashloop",            "probe_failed",          "connection_lost"};

}  // namespace

std::string_view to_string(Severity s) noexcept {
  switch (s) {
    case Severity::info: return "info";
    case Severity::warning: return "warning";
    case Severity::critical: return "critical";
  }
  return "warning";
}

std::optional<Severity> severity_from_string(std::string_view s) noexcept {
  if (s == "info") return Severity::info;
  if (s == "warning") return Severity::warning;
  if (s == "critical") return Severity::critical;
  return std::nullopt;
}

std::string format_diagnostic(const Diagnostic& d) {
  std::string where = d.where.file.empty() ? std::string("<rules>") : d.where.file;
  if (d.where.line > 0) where += fmt::format(":{}", d.where.line);
  return fmt::format("{}: {}{}", where, d.is_warning ? "warning: " : "", d.message);
}

std::optional<Comparison> parse_comparison(std::string_view text) {
  text = trim(text);
  if (text == "true") return Comparison{};
  static constexpr std::array<std::pair<std::string_view, Comparison::Op>, 6> kOps = {{
      {"<=", Comparison::Op::le}, {">=", Comparison::Op::ge}, {"==", Comparison::Op::eq},
      {"!=", Comparison::Op::ne}, {"<", Comparison::Op::lt},  {">", Comparison::Op::gt},
  }};
  for (auto [token, op] : kOps) {
    const std::size_t at = text.find(token);
    if (at == std::string_view::npos) continue;
    Comparison c;
    c.name = std::string(trim(text.substr(0, at)));
    c.op = op;
    std::string_view rhs = trim(text.substr(at + token.size()));
    if (c.name.empty() || rhs.empty()) return std::nullopt;
    double number = 0;
    auto [end, ec] = std::from_chars(rhs.data(), rhs.data() + rhs.size(), number);
    if (ec == std::errc() && end == rhs.data() + rhs.size()) {
      c.value = number;
    } else if (rhs.size() > 2 && rhs.front() == '{' && rhs.back() == '}') {
      c.threshold = std::string(trim(rhs.substr(1, rhs.size() - 2)));
      if (c.threshold.empty()) return std::nullopt;
    } else if (auto secs = parse_duration_seconds(rhs)) {
      c.value = double(*secs);
    } else {
      return std::nullopt;
    }
    return c;
  }
  return std::nullopt;
}

int class_rank(std::string_view klass) noexcept {
  for (std::size_t i = 0; i < kClassesBySpecificity.size(); ++i)
    if (kClassesBySpecificity[i] == klass) return int(i);
  return int(kClassesBySpecificity.size());
}

bool is_known_class(std::string_view klass) noexcept {
  return class_rank(klass) < int(kClassesBySpecificity.size());
}

}  // namespace klaxon
