// adapters/sources/loki_push_source.hpp — `klaxon serve`: a Loki push receiver.
//
// Agents that already ship logs to Loki (Promtail, Grafana Alloy, Vector's and Fluent Bit's
// `loki` outputs, winston-loki) can point at klaxon instead of, or beside, Loki: it listens for
// POST /loki/api/v1/push (protobuf+snappy or JSON, optionally gzip/deflate), answers 204 once
// the body decoded, and feeds each entry as a whole line with its timestamp under its stream's
// labels. GET /ready answers as Loki's does; other GETs go to an optional responder (the CLI
// serves /metrics, /healthz, /readyz and / there, so one port does for a Loki-shaped setup).
//
// A request is decoded whole before a line is fed, so a bad body (400), an oversized one (413)
// or a wrong content type (415) is refused with a short message and touches no stream. Bodies
// are bounded (64 MiB by default, after decompression); lines longer than --max-line-bytes are
// cut by the pipeline and counted. Each connection is a coroutine on the run's event loop with
// an idle timeout, so a hung client holds one socket and nothing else.
//
// Memory is bounded as a whole, not only per request: at most `max_connections` connections
// are served (more are answered 503 and closed), and the bodies being received, all connections
// together, may announce at most `max_inflight_bytes` (a request beyond is answered 429, which
// Promtail, Alloy and Vector retry with backoff). A body without a length counts as
// `max_body_bytes`. Both refusals are said once on stderr and counted in /metrics. A label set
// (stream) that sent nothing for 15 minutes is ended; past `max_label_sets` streams, the least
// recently seen tenth are ended at once (a client that sends a fresh label set per request).
//
// Facing a network: with `tls` every connection is TLS (adapters/net/tls_server.hpp: files
// picked up again when they change, client certificates when asked); a failed handshake is
// said for the first ten and counted. With `auth` a request must carry a credential the receiver
// admits (401 with WWW-Authenticate before its body is read), and with a tenant allow-list a
// push must name a listed X-Scope-OrgID (403). /ready, /healthz and /readyz answer without: they
// are for probes.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

#include "adapters/net/http_auth.hpp"
#include "adapters/net/tls_server.hpp"
#include "adapters/sources/live_source.hpp"

namespace klaxon::sources {

/// An answer to a GET the push receiver does not own (/metrics ...). Sources know no sinks, so
/// the CLI adapts its status board to this shape.
struct HttpAnswer {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};
using HttpResponder = std::function<std::optional<HttpAnswer>(std::string_view target)>;

struct LokiPushOptions {
  std::string listen = "127.0.0.1:3100";     // host:port; port 0 picks a free one
  std::size_t max_body_bytes = 64u << 20;    // after decompression; larger bodies get 413
  std::size_t idle_timeout_seconds = 60;     // a silent keep-alive connection is closed
  std::size_t max_connections = 256;         // served at once; more get 503
  std::size_t max_inflight_bytes = 256u << 20;  // bodies being received, together; more get 429
  std::size_t max_label_sets = 10000;        // streams held; past it the least recently seen end
  HttpResponder other_gets;                  // GETs other than /ready; empty = 404
  std::shared_ptr<net::ServerTls> tls;       // null = plain HTTP
  std::shared_ptr<net::HttpAuth> auth;       // null = anyone may push
};

/// Parses "host:port" (IPv4, [IPv6] or a name that resolves locally). Throws FatalSourceError
/// with the operator's fix when it is not one. Shared with the status server's --listen.
boost::asio::ip::tcp::endpoint parse_listen_address(const std::string& text, std::string_view flag);

class LokiPushSource final : public LiveSource {
 public:
  /// Binds now, so a taken port is a startup error (FatalSourceError) and port 0 is known.
  LokiPushSource(boost::asio::any_io_executor executor, LokiPushOptions options);
  ~LokiPushSource() override;

  /// The address it listens on (the real port when 0 was asked).
  boost::asio::ip::tcp::endpoint local_endpoint() const;

  /// Accepts connections until the event loop stops.
  boost::asio::awaitable<void> run(Intake& out) override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace klaxon::sources
