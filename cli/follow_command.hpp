// cli/follow_command.hpp — `--follow PATH`: files followed like tail -F, its flags and its run.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "adapters/sources/follow_source.hpp"
#include "cli/options.hpp"

namespace klaxon::cli {

struct FollowCommand {
  sources::FollowOptions options;
  std::string rotate_wait = "5s";  // as typed; checked while parsing
};

/// Adds --follow, --from-end, --state and --rotate-wait to `app` in option group `group`.
void add_follow_flags(CLI::App& app, FollowCommand& command, const std::string& group);

/// Whether the command line chose to follow files (--follow PATH).
inline bool follow_chosen(const FollowCommand& command) { return !command.options.paths.empty(); }

/// A usage error in the follow flags ("" when none): --from-end or --state without --follow.
std::string follow_flags_misused(const FollowCommand& command);

/// Follows the files until a signal (exit 2 when the flags do not fit).
int run_follow(const RunOptions& options, FollowCommand& command);

}  // namespace klaxon::cli
