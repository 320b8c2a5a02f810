// cli/serve_command.hpp — the `serve` source word: Loki's push API in, its flags and its run.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/options.hpp"

namespace klaxon::cli {

/// `klaxon serve`: the Loki push receiver.
struct ServeOptions {
  std::string listen = "127.0.0.1:3100";
  std::size_t max_body_mib = 64;
  std::size_t max_connections = 256;
  std::size_t max_inflight_mib = 256;
  std::size_t max_label_sets = 10000;
  std::string tls_cert_file, tls_key_file, client_ca_file;  // TLS when both of the first two
  std::string bearer_token_file, basic_auth_file;           // credentials asked when given
  std::vector<std::string> tenants;                         // X-Scope-OrgID allow-list
};

struct ServeCommand {
  CLI::App* app = nullptr;
  ServeOptions options;
};

/// Adds `klaxon serve [--listen HOST:PORT] ...` to `app`.
void add_serve_command(CLI::App& app, ServeCommand& command);

/// Receives pushes until a signal (exit 2 when the flags do not fit).
int run_serve(RunOptions options, const ServeOptions& serve);

}  // namespace klaxon::cli
