// cli/serve_command.cpp — `klaxon serve`: Loki's push API in, incidents out.
#include <cstdio>

#include "adapters/sinks/status_server.hpp"
#include "adapters/sources/loki_push_source.hpp"
#include "cli/options.hpp"
#include "cli/run_live.hpp"

namespace klaxon::cli {

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
    push.other_gets = [board](std::string_view target) -> std::optional<sources::HttpAnswer> {
      auto a = board->answer(target);
      if (!a) return std::nullopt;
      return sources::HttpAnswer{a->status, a->content_type, a->body};
    };
    auto source = std::make_unique<sources::LokiPushSource>(executor, push);
    const auto at = source->local_endpoint();
    std::fprintf(stderr, "klaxon: receiving Loki pushes on http://%s:%u/loki/api/v1/push\n",
                 at.address().to_string().c_str(), unsigned(at.port()));
    return source;
  });
}

}  // namespace klaxon::cli
