// cli/serve_command.cpp — `klaxon serve`: Loki's push API in, incidents out.
#include "cli/serve_command.hpp"

#include <cstdio>
#include <string>

#include "adapters/sinks/status_server.hpp"
#include "adapters/sources/loki_push_source.hpp"
#include "cli/flags.hpp"
#include "cli/run_live.hpp"

namespace klaxon::cli {

void add_serve_command(CLI::App& app, ServeCommand& c) {
  ServeOptions& o = c.options;
  c.app = app.add_subcommand("serve", "Receive Loki pushes (Promtail, Alloy, Vector, Fluent Bit)");
  CLI::App& serve = *c.app;
  serve.add_option("--listen", o.listen, "Where to listen for POST /loki/api/v1/push")
      ->type_name("HOST:PORT")
      ->default_str("127.0.0.1:3100");
  serve.add_option("--max-body-mib", o.max_body_mib, "Largest push body, after decompression")
      ->check(CLI::Range(std::size_t{1}, std::size_t{4096}))
      ->default_str("64");
  serve.add_option("--max-connections", o.max_connections, "Connections served at once; more get 503")
      ->check(count_check(1, 100000))
      ->default_str("256");
  serve.add_option("--max-inflight-mib", o.max_inflight_mib,
                   "Push bodies being received, all connections together; more get 429")
      ->check(count_check(1, 65536))
      ->default_str("256");
  serve.add_option("--max-label-sets", o.max_label_sets,
                   "Streams held; past it the least recently seen end (idle ones end after 15m)")
      ->check(count_check(10, 10'000'000))
      ->default_str("10000");
  serve.add_option("--tls-cert-file", o.tls_cert_file, "TLS: certificate (PEM), re-read when it changes")
      ->type_name("FILE");
  serve.add_option("--tls-key-file", o.tls_key_file, "TLS: its private key (PEM)")->type_name("FILE");
  serve.add_option("--client-ca-file", o.client_ca_file, "Mutual TLS: clients need a certificate from this CA")
      ->type_name("FILE");
  serve.add_option("--bearer-token-file", o.bearer_token_file, "Pushes need Authorization: Bearer <file's token>")
      ->type_name("FILE");
  serve.add_option("--basic-auth-file", o.basic_auth_file, "Pushes need basic auth; USER:HASH lines (bcrypt, $5$)")
      ->type_name("FILE");
  serve.add_option("--tenant", o.tenants, "Only these X-Scope-OrgID tenants may push (repeatable)")->type_name("ID");
}

int run_serve(RunOptions options, const ServeOptions& serve) {
  // /metrics, /healthz, /readyz and / answer on the push port too, as Loki's do on 3100.
  if (!options.status_board) options.status_board = std::make_shared<sinks::StatusBoard>();
  options.source_name = "loki_push";
  std::shared_ptr<const sinks::StatusBoard> board = options.status_board;
  return run_live(options, [&](boost::asio::any_io_executor executor) {
    sources::LokiPushOptions push;
    push.listen = serve.listen;
    push.max_body_bytes = serve.max_body_mib << 20;
    push.max_connections = serve.max_connections;
    push.max_inflight_bytes = serve.max_inflight_mib << 20;
    push.max_label_sets = serve.max_label_sets;
    if (serve.tls_cert_file.empty() != serve.tls_key_file.empty())
      throw sources::FatalSourceError("serve: --tls-cert-file and --tls-key-file go together (the certificate and its key)");
    if (!serve.client_ca_file.empty() && serve.tls_cert_file.empty())
      throw sources::FatalSourceError("serve --client-ca-file needs TLS: give --tls-cert-file and --tls-key-file too");
    if (!serve.tls_cert_file.empty())
      push.tls = std::make_shared<net::ServerTls>(
          net::ServerTlsFiles{serve.tls_cert_file, serve.tls_key_file, serve.client_ca_file});
    if (!serve.bearer_token_file.empty() || !serve.basic_auth_file.empty() || !serve.tenants.empty())
      push.auth = std::make_shared<net::HttpAuth>(net::HttpAuthFiles{
          serve.bearer_token_file, serve.basic_auth_file, {serve.tenants.begin(), serve.tenants.end()}});
    push.other_gets = [board](std::string_view target) -> std::optional<sources::HttpAnswer> {
      auto a = board->answer(target);
      if (!a) return std::nullopt;
      return sources::HttpAnswer{a->status, a->content_type, a->body};
    };
    auto source = std::make_unique<sources::LokiPushSource>(executor, push);
    const auto at = source->local_endpoint();
    std::string guarded;  // what guards it, said so that an open receiver is never a surprise
    if (push.tls) guarded = push.tls->describe();
    if (push.auth) guarded += (guarded.empty() ? "" : ", ") + push.auth->describe();
    std::fprintf(stderr, "klaxon: receiving Loki pushes on %s://%s:%u/loki/api/v1/push (%s)\n", push.tls ? "https" : "http",
                 at.address().to_string().c_str(), unsigned(at.port()),
                 guarded.empty() ? "no TLS, no credential asked" : guarded.c_str());
    return source;
  });
}

}  // namespace klaxon::cli
