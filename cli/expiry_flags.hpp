// cli/expiry_flags.hpp — --expiry-warning and --expiry-critical: when "expires soon" is a
// warning and when it is critical, for every part of klaxon at once.
//
// One pair of numbers decides it everywhere, so that a page, an alert and `klaxon certs` never
// disagree about the same certificate: the packs' expiry rules (which name the thresholds as
// `{expiry_warning}` / `{expiry_critical}`, rules/README.md), the certificate inventory of the
// streaming modes (TrackerOptions::certificate_warning and expiry_threshold), the countdown
// colours of the status page and the report, and `klaxon certs` (unless its own --warn-before
// or --critical-before says otherwise).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "cli/certs_command.hpp"
#include "cli/options.hpp"

namespace klaxon::cli {

struct ExpiryFlags {
  std::string warning = "30d";
  std::string critical = "7d";
};

/// Adds both flags to `app` (klaxon itself: every command word sees them) in `group`.
void add_expiry_flags(CLI::App& app, ExpiryFlags& flags, const std::string& group);

/// After parsing: checks that critical comes after warning (a shorter duration) and that both
/// are at most ten years, then sets them into `run` (rules, tracker) and into `certs` where its
/// own flags were not given. Returns what is wrong (for exit 2), empty when all is well.
std::string apply_expiry_flags(const ExpiryFlags& flags, RunOptions& run, CertsCommand& certs);

}  // namespace klaxon::cli
