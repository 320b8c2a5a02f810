// cli/certs_command.hpp — `klaxon certs`: every certificate in the given places, soonest end
// first, once (adapters/certs/). For people at a terminal and for CI ("fail if anything here
// expires within 14 days": --warn-before 14d --fail-on warning).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace klaxon::cli {

struct CertsCommand {
  CLI::App* app = nullptr;
  std::vector<std::string> paths;  // files and directories
  std::string format = "text";     // text | jsonl
  std::string warn_before = "30d", critical_before = "7d";
  std::string fail_on;  // "", warning, critical
  std::vector<std::string> probes;       // --probe HOST:PORT[@SNI]
  std::string probe_timeout = "10s";     // --probe-timeout
  bool kubernetes = false;               // --kubernetes
  std::string namespace_, context, kubeconfig;
  bool all_namespaces = false;           // -A
};

/// Adds `klaxon certs [PATH...] ...` to `app`.
void add_certs_command(CLI::App& app, CertsCommand& command);

/// Reads, prints, and returns the exit status: 1 when a certificate reached --fail-on (or no
/// source could be read at all), 2 for bad flags, 0 otherwise.
int run_certs(const CertsCommand& command);

}  // namespace klaxon::cli
