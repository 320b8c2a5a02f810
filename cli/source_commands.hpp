// cli/source_commands.hpp — every log source klaxon reads, in one table.
//
// A source is an adapter (adapters/sources/: bytes or lines to the pipeline's Intake) plus its
// command-line face here in cli/: an options struct, `add_..._flags`/`add_..._command` that
// registers its flags (or its word and its flags) with CLI11, and a `run_...` that makes the
// adapter and runs it on the live loop (cli/run_live.hpp). This table is the one place that
// lists them: main() adds every entry's flags, then runs the entry the command line chose, or
// replays FILEs (standard input) when none was. The table lives in cli/, not beside the
// adapters, because adapters know nothing of CLI11 or of RunOptions.
//
// Adding a source: its adapter in adapters/sources/, its cli/NAME_command.{hpp,cpp}, and one
// line in source_commands() below.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/options.hpp"

namespace klaxon::cli {

class SourceCommand {
 public:
  virtual ~SourceCommand() = default;
  /// Adds its flags to `app` (klaxon itself): its command word with them, or top-level flags in
  /// option group `group`.
  virtual void add_flags(CLI::App& app, const std::string& group) = 0;
  /// Whether the parsed command line chose it (its word, or its flags).
  virtual bool chosen() const = 0;
  /// Its command word once added (kubectl, loki, serve), or null for a source chosen by flags.
  virtual const CLI::App* word() const { return nullptr; }
  /// A usage error in its flags when it was not chosen ("" when none).
  virtual std::string misused() const { return {}; }
  /// Runs it until it ends or a signal: klaxon's exit status.
  virtual int run(const RunOptions& run) = 0;
};

/// Every live source, in the order they are tried: kubectl, loki, serve, --follow.
std::vector<std::unique_ptr<SourceCommand>> source_commands();

}  // namespace klaxon::cli
