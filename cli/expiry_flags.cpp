#include "cli/expiry_flags.hpp"

#include <fmt/format.h>

#include "cli/flags.hpp"

namespace klaxon::cli {
namespace {

constexpr std::int64_t kLongestSeconds = 3650LL * 86400;  // ten years: a threshold, not a lifetime

}  // namespace

void add_expiry_flags(CLI::App& app, ExpiryFlags& flags, const std::string& group) {
  app.add_option("--expiry-warning", flags.warning, "A certificate ending within this is a warning [30d]")
      ->check(duration_check())
      ->type_name("DUR")
      ->group(group);
  app.add_option("--expiry-critical", flags.critical, "A certificate ending within this is critical [7d]")
      ->check(duration_check())
      ->type_name("DUR")
      ->group(group);
}

std::string apply_expiry_flags(const ExpiryFlags& flags, RunOptions& run, CertsCommand& certs) {
  const std::int64_t warning = duration_ms(flags.warning).count() / 1000;
  const std::int64_t critical = duration_ms(flags.critical).count() / 1000;
  if (warning > kLongestSeconds || critical > kLongestSeconds)
    return fmt::format("--expiry-warning {} / --expiry-critical {}: at most 3650d each", flags.warning, flags.critical);
  if (critical <= 0 || warning <= 0)
    return fmt::format("--expiry-warning {} / --expiry-critical {}: give at least a second", flags.warning, flags.critical);
  if (critical >= warning)
    return fmt::format("--expiry-critical {} must be shorter than --expiry-warning {}: a certificate is a warning "
                       "first, then critical as its end comes closer",
                       flags.critical, flags.warning);
  run.rules.expiry.warning_seconds = warning;
  run.rules.expiry.critical_seconds = critical;
  run.tracker.certificate_warning = warning * kNanosPerSecond;
  run.tracker.expiry_threshold = critical * kNanosPerSecond;
  if (certs.app != nullptr) {
    if (certs.app->count("--warn-before") == 0) certs.warn_before = flags.warning;
    if (certs.app->count("--critical-before") == 0) certs.critical_before = flags.critical;
  }
  return {};
}

}  // namespace klaxon::cli
