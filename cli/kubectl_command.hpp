// cli/kubectl_command.hpp — the `kubectl` source word: kubectl's flags, and the run on the live loop.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "adapters/sources/kubectl_source.hpp"
#include "cli/options.hpp"

namespace klaxon::cli {

struct KubectlCommand {
  CLI::App* app = nullptr;
  sources::KubectlOptions options;
  std::vector<std::string> names;  // pod/NAME, NAME or deploy|sts|ds|rs|job/NAME (one)
  std::string poll_interval = "5s", stall_timeout = "15m";  // as typed; checked while parsing
  long tail = 0;
  bool always_on = false;  // -f, --prefix, --timestamps: accepted, klaxon always sets them
};

/// Adds `klaxon kubectl [kubectl logs flags] [pod/NAME]` to `app`: kubectl's own names (-n, -l,
/// -c, -A, --context, --since, --tail ...), and klaxon's (--max-streams, --poll-interval ...).
void add_kubectl_command(CLI::App& app, KubectlCommand& command);

/// The options the parsed flags say, checked (sources::check_kubectl_options); throws
/// sources::FatalSourceError naming what does not fit.
sources::KubectlOptions kubectl_options(const KubectlCommand& command);

/// Follows pods with the real kubectl until a signal (exit 2 when the flags do not fit).
int run_kubectl(const RunOptions& options, const KubectlCommand& command);

}  // namespace klaxon::cli
