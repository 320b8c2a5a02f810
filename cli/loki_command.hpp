// cli/loki_command.hpp — the `loki` source word: its flags, and the run on the live loop.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "adapters/sources/loki_source.hpp"
#include "cli/options.hpp"

namespace klaxon::cli {

struct LokiCommand {
  CLI::App* app = nullptr;
  sources::LokiOptions options;
  std::string since, from, to;  // as typed; checked by run_loki
  std::string idle_timeout = "30s";
  bool follow = false;  // --follow after a replayed window
  std::string shard;    // --shard I/N
};

/// Adds `klaxon loki --url ... --query ...` to `app`.
void add_loki_command(CLI::App& app, LokiCommand& command);

/// Checks the flags (exit 2 with a message when they do not fit), then tails or replays.
int run_loki(const RunOptions& options, LokiCommand& command);

}  // namespace klaxon::cli
