// adapters/net/http_client.hpp — the one HTTP client: a request to a peer within a time limit,
// and its answer or the step that failed, as a value.
//
// klaxon's clients (alert delivery to Alertmanager and webhooks, the Loki source's queries)
// send few requests, each on a fresh connection (Connection: close): a receiver restarted
// behind a Service is reached at its new address, and no pooled connection can go stale
// unseen. Beast does the HTTP/1.1, OpenSSL the TLS (adapters/net/tls_client.hpp). Failure to
// get an answer is an expected outcome, not an exception: HttpResult names the step (resolve,
// connect, TLS handshake, send, receive) and the error, and why() says it in one line. Whether
// an answer means "try again" is adapters/net/retry.hpp's call, not the client's.
// A stream that is not request and answer (the Loki tail's WebSocket) uses connect() and
// handshake() here, so it reaches the same host the same way and trusts the same CAs.
// Cancellation: the awaitables take the caller's cancellation slot (co_spawn with
// bind_cancellation_slot): a cancelled request ends at once as a failed step with
// operation_aborted.
// Thread safety: an HttpClient is const after construction; its coroutines run on the
// caller's executor.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "adapters/net/asio.hpp"
#include "adapters/net/tls_client.hpp"
#include "adapters/net/url.hpp"

namespace klaxon::net {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  enum class Method { get, post } method = Method::get;
  std::string target = "/";  // path and query
  Headers headers;           // besides Host, User-Agent and Content-Length
  std::string body;          // for a post
};

/// The step of a request that failed.
enum class HttpStep { resolve, connect, tls_handshake, send, receive };

struct HttpResult {
  unsigned status = 0;  // the answer's status; 0 when there was none
  std::string body;
  Headers headers;
  std::optional<HttpStep> failed;  // set: no answer, `error` says why
  boost::system::error_code error;
  std::string host;  // the peer asked (Url::host_header), for why()

  bool answered() const { return !failed; }
  /// One line for the operator: "cannot connect to am:9093: Connection refused".
  std::string why() const;
};

class HttpClient {
 public:
  static constexpr std::chrono::seconds kConnectTimeout{10};

  /// `tls` must be set for an https or wss URL.
  HttpClient(Url url, std::shared_ptr<const TlsClient> tls, std::chrono::nanoseconds connect_timeout = kConnectTimeout);

  const Url& url() const { return url_; }

  /// Connects (within the connect timeout), sends `request`, reads the answer (within
  /// `timeout`, at most `body_limit` bytes of body).
  asio::awaitable<HttpResult> request(HttpRequest request, std::chrono::nanoseconds timeout,
                                      std::size_t body_limit = 8u << 20) const;

  /// Resolves the URL's host and connects `stream` to it within the connect timeout (which
  /// stays set on the stream for a handshake). The step that failed, with `ec`, or nullopt.
  asio::awaitable<std::optional<HttpStep>> connect(boost::beast::tcp_stream& stream, boost::system::error_code& ec) const;
  /// The TLS handshake on a connected stream, with SNI and the host check.
  asio::awaitable<std::optional<HttpStep>> handshake(boost::beast::ssl_stream<boost::beast::tcp_stream>& stream,
                                                     boost::system::error_code& ec) const;
  /// A result that says `step` failed with `ec` (for a stream's own steps).
  HttpResult failure(HttpStep step, boost::system::error_code ec) const;

  const std::shared_ptr<const TlsClient>& tls() const { return tls_; }

 private:
  Url url_;
  std::shared_ptr<const TlsClient> tls_;
  std::chrono::nanoseconds connect_timeout_;
};

}  // namespace klaxon::net
