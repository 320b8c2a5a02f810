// adapters/sources/loki_push_source.cpp — Beast HTTP/1.1 server for Loki's push API.
#include "adapters/sources/loki_push_source.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <vector>
#include <utility>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>

#include "adapters/net/asio.hpp"
#include "adapters/sources/loki_push_decoder.hpp"
#include "engine/printable.hpp"

namespace klaxon::sources {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

constexpr std::string_view kPushPath = "/loki/api/v1/push";
// Rejections are said on stderr only this often; /metrics counts every one.
constexpr std::uint64_t kRejectionsSaid = 10;
// After refusing a body we read and drop what the client still sends (bounded), so that it
// sees our answer instead of a connection reset.
constexpr std::size_t kDrainAtMost = 256u << 20;
constexpr auto kDrainFor = std::chrono::seconds(10);
// A TLS client that connects and says nothing holds a socket this long at most.
constexpr auto kHandshakeFor = std::chrono::seconds(10);
// A stream (label set) that sent nothing for this long is ended, so pods that come and go do
// not hold memory for ever; it starts afresh if it sends again.
constexpr auto kStreamIdle = std::chrono::minutes(15);
constexpr auto kSweepEvery = std::chrono::minutes(1);

std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

std::string_view path_of(std::string_view target) {
  const std::size_t q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

}  // namespace

tcp::endpoint parse_listen_address(const std::string& text, std::string_view flag) {
  auto fail = [&] {
    return FatalSourceError(fmt::format("{} {:?}: write HOST:PORT, e.g. 127.0.0.1:9095 (or :9095 for every interface)",
                                        flag, text));
  };
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos) throw fail();
  std::string host = text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535 || port_text.empty()) throw fail();
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code bad;
  const asio::ip::address address = asio::ip::make_address(host, bad);
  if (bad) throw fail();
  return {address, static_cast<unsigned short>(port)};
}

struct LokiPushSource::Impl : std::enable_shared_from_this<Impl> {
  LokiPushOptions options;
  tcp::acceptor acceptor;
  std::uint64_t rejections = 0;
  std::uint64_t tls_refusals = 0;  // failed handshakes
  std::size_t connections = 0;     // sessions running
  std::size_t inflight_bytes = 0;  // announced by the bodies being received
  bool said_busy = false, said_full = false, said_label_sets = false;
  std::map<std::string, std::chrono::steady_clock::time_point> last_seen;  // per stream key

  Impl(asio::any_io_executor executor, LokiPushOptions o) : options(std::move(o)), acceptor(executor) {}

  http::response<http::string_body> answer(http::status status, std::string body,
                                           std::string content_type = "text/plain; charset=utf-8") {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::server, "klaxon");
    if (!body.empty()) res.set(http::field::content_type, content_type);
    res.body() = std::move(body);
    return res;
  }

  http::response<http::string_body> reject(Intake& out, unsigned status, const std::string& message) {
    ++rejections;
    std::string said;
    if (rejections <= kRejectionsSaid)
      said = fmt::format("loki push: refused a request ({}): {}{}", status, message,
                         rejections == kRejectionsSaid ? " (further refusals are only counted, in /metrics)" : "");
    out.notice("loki_push_rejected", said);
    return answer(static_cast<http::status>(status), "klaxon: " + message + "\n");
  }

  http::response<http::string_body> push(const http::request<http::string_body>& req, Intake& out) {
    auto decoded = decode_push_body(req.body(), sv(req[http::field::content_type]), sv(req[http::field::content_encoding]),
                                    options.max_body_bytes);
    if (auto* error = std::get_if<PushError>(&decoded)) return reject(out, error->status, error->message);
    const PushRequestBody& body = std::get<PushRequestBody>(decoded);
    std::uint64_t entries = 0;
    for (const PushStream& stream : body.streams) {
      const std::string key = format_label_selector(stream.labels);
      last_seen[key] = std::chrono::steady_clock::now();
      for (const PushEntry& e : stream.entries) out.line(key, e.line, e.time_ns, stream.labels);
      entries += stream.entries.size();
    }
    if (last_seen.size() > options.max_label_sets) end_least_recent(out);
    out.notice(body.format == PushFormat::json ? "loki_push_requests_json" : "loki_push_requests_protobuf", "");
    out.notice("loki_push_entries", "", entries);
    return answer(http::status::no_content, "");
  }

  http::response<http::string_body> handle(const http::request<http::string_body>& req, Intake& out) {
    const std::string_view path = path_of(sv(req.target()));
    if (path == kPushPath) {
      if (req.method() != http::verb::post)
        return answer(http::status::method_not_allowed, "klaxon: POST log streams to " + std::string(kPushPath) + "\n");
      return push(req, out);
    }
    if (req.method() == http::verb::get || req.method() == http::verb::head) {
      if (path == "/ready") return answer(http::status::ok, "ready\n");
      if (options.other_gets)
        if (auto a = options.other_gets(sv(req.target())))
          return answer(static_cast<http::status>(a->status), std::move(a->body), a->content_type);
    }
    return answer(http::status::not_found,
                  fmt::format("klaxon: nothing at {}; push to {} (GET /ready, /metrics)\n", path, kPushPath));
  }

  // Written whole, then the sending side closed and what the client still sends read and
  // dropped at the socket (bounded), TLS or not: the client sees the answer, not a reset.
  template <class Stream>
  asio::awaitable<void> refuse_and_drain(Stream& stream, http::response<http::string_body>& res) {
    res.keep_alive(false);
    res.prepare_payload();
    boost::system::error_code ec;
    auto& tcp_layer = beast::get_lowest_layer(stream);
    tcp_layer.expires_after(kDrainFor);
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    tcp_layer.socket().shutdown(tcp::socket::shutdown_send, ec);
    static char sink[64 * 1024];  // contents never read
    for (std::size_t drained = 0; !ec && drained < kDrainAtMost;)
      drained += co_await tcp_layer.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
  }

  // A request's credential and tenant, checked from its header before its body is read. The
  // probes' paths need neither: a kubelet probe carries no credential.
  std::optional<http::response<http::string_body>> refusal(const http::request_header<>& req, Intake& out) {
    const std::string_view path = path_of(sv(req.target()));
    if (path == "/ready" || path == "/healthz" || path == "/readyz") return std::nullopt;
    if (options.auth) {  // a rotated token or users file counts from this request on
      std::string said;
      options.auth->refresh(&said);
      if (!said.empty()) out.notice("loki_push_auth_reloads", said);
    }
    if (options.auth && !options.auth->admits(sv(req[http::field::authorization]))) {
      auto res = reject(out, 401,
                        req[http::field::authorization].empty() ? "no credential; send the one serve was given"
                                                                : "wrong credential");
      res.set(http::field::www_authenticate, options.auth->challenge());
      return res;
    }
    if (options.auth && options.auth->checks_tenants() && path == kPushPath) {
      const std::string_view tenant = sv(req["X-Scope-OrgID"]);
      if (!options.auth->allows_tenant(tenant))
        return reject(out, 403,
                      tenant.empty() ? std::string("no X-Scope-OrgID; this receiver takes only the tenants of serve --tenant")
                                     : fmt::format("tenant {:?} is not one of serve --tenant", printable(tenant.substr(0, 64))));
    }
    return std::nullopt;
  }

  // Past max_label_sets: the least recently seen tenth end now (one pass for many requests).
  void end_least_recent(Intake& out) {
    out.notice("loki_push_label_sets_ended", std::exchange(said_label_sets, true) ? std::string() :
               fmt::format("loki push: more than serve --max-label-sets {} label sets; the least recently seen are "
                           "ended early (said once, counted in /metrics)", options.max_label_sets),
               0);
    std::vector<std::pair<std::chrono::steady_clock::time_point, std::string>> by_age;
    by_age.reserve(last_seen.size());
    for (const auto& [key, seen] : last_seen) by_age.emplace_back(seen, key);
    const std::size_t keep = options.max_label_sets - options.max_label_sets / 10;
    const std::size_t end = by_age.size() - keep;
    std::nth_element(by_age.begin(), by_age.begin() + std::ptrdiff_t(end), by_age.end());
    for (std::size_t i = 0; i < end; ++i) {
      out.end(by_age[i].second);
      last_seen.erase(by_age[i].second);
    }
    out.notice("loki_push_label_sets_ended", "", end);
  }

  // Ends streams that fell silent (see kStreamIdle).
  asio::awaitable<void> sweep_idle_streams(Intake& out) {
    auto self = shared_from_this();
    asio::steady_timer timer(acceptor.get_executor());
    for (;;) {
      timer.expires_after(kSweepEvery);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !acceptor.is_open()) co_return;
      const auto now = std::chrono::steady_clock::now();
      for (auto it = last_seen.begin(); it != last_seen.end();) {
        if (now - it->second < kStreamIdle) {
          ++it;
          continue;
        }
        out.end(it->first);
        it = last_seen.erase(it);
      }
    }
  }

  // Past --max-connections: a 503 and the door closed, before anything is read.
  asio::awaitable<void> turn_away(tcp::socket socket, Intake& out) {
    auto self = shared_from_this();
    beast::tcp_stream stream(std::move(socket));
    out.notice("loki_push_busy", std::exchange(said_busy, true) ? std::string() :
               fmt::format("loki push: {} connections are open, the most serve --max-connections allows; further "
                           "ones are answered 503 (said once, counted in /metrics)", options.max_connections));
    boost::system::error_code ec;
    if (options.tls) {  // an HTTP answer would be garbage to a TLS client: the door closes
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }
    auto res = answer(http::status::service_unavailable,
                      fmt::format("klaxon: {} connections already; retry later\n", options.max_connections));
    res.set(http::field::retry_after, "1");
    res.keep_alive(false);
    res.prepare_payload();
    stream.expires_after(std::chrono::seconds(5));
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  asio::awaitable<void> session(tcp::socket socket, Intake& out) {
    auto self = shared_from_this();  // the acceptor's owner may go first at shutdown
    struct Leave {  // counted in by the accept loop, before this coroutine first runs
      Impl& impl;
      ~Leave() { --impl.connections; }
    } leave{*this};
    if (!options.tls) {
      beast::tcp_stream stream(std::move(socket));
      co_await exchange(stream, out);
      co_return;
    }
    std::string said;
    const std::shared_ptr<asio::ssl::context> context = options.tls->context(&said);  // outlives the stream
    if (!said.empty()) out.notice("loki_push_tls_reloads", said);
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *context);
    boost::system::error_code ec;
    const auto peer = stream.next_layer().socket().remote_endpoint(ec);
    beast::get_lowest_layer(stream).expires_after(kHandshakeFor);
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      ++tls_refusals;
      std::string why;
      if (tls_refusals <= kRejectionsSaid)
        why = fmt::format("loki push: TLS handshake with {} failed: {}{}", peer.address().to_string(), printable(ec.message()),
                          tls_refusals == kRejectionsSaid ? " (further failures are only counted, in /metrics)" : "");
      out.notice("loki_push_tls_refused", why);
      beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }
    co_await exchange(stream, out);
  }

  // HTTP/1.1 requests on one connection, plain or TLS, until it closes or idles.
  template <class Stream>
  asio::awaitable<void> exchange(Stream& stream, Intake& out) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options.max_body_bytes);
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(options.idle_timeout_seconds));
      boost::system::error_code ec;
      co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec)
        if (auto refused = refusal(parser.get(), out)) {
          co_await refuse_and_drain(stream, *refused);
          break;
        }
      // The body is held only within the in-flight budget: what it announces (Content-Length),
      // or the most a body may be when it does not say.
      const std::size_t announced =
          ec ? 0 : std::min<std::uint64_t>(parser.content_length().value_or(options.max_body_bytes), options.max_body_bytes);
      if (!ec && inflight_bytes + announced > options.max_inflight_bytes) {
        out.notice("loki_push_over_inflight", std::exchange(said_full, true) ? std::string() :
                   fmt::format("loki push: more than serve --max-inflight-mib {} of push bodies at once; further "
                               "requests are answered 429 until some are done (said once, counted in /metrics)",
                               options.max_inflight_bytes >> 20));
        auto res = answer(http::status::too_many_requests, "klaxon: too many push bodies in flight; retry later\n");
        res.set(http::field::retry_after, "1");
        co_await refuse_and_drain(stream, res);
        break;
      }
      inflight_bytes += announced;
      struct Release {
        Impl& impl;
        std::size_t bytes;
        ~Release() { impl.inflight_bytes -= bytes; }
      } release{*this, announced};
      if (!ec && !parser.is_done())
        co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::body_limit) {
        auto res = reject(out, 413,
                          fmt::format("the push body is larger than {} MiB; send smaller batches", options.max_body_bytes >> 20));
        co_await refuse_and_drain(stream, res);
        break;
      }
      const bool http_error = ec && &ec.category() == &http::make_error_code(http::error::bad_target).category();
      if (http_error && ec != http::error::end_of_stream && ec != http::error::partial_message) {
        auto res = reject(out, 400, "malformed HTTP request: " + ec.message());
        co_await refuse_and_drain(stream, res);
        break;
      }
      if (ec) break;  // closed, reset or idle: nothing to answer
      const http::request<http::string_body>& req = parser.get();
      auto res = handle(req, out);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      if (req.method() == http::verb::head) res.body().clear();  // Content-Length stays
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !req.keep_alive()) break;
    }
    boost::system::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
};

LokiPushSource::LokiPushSource(asio::any_io_executor executor, LokiPushOptions options)
    : impl_(std::make_shared<Impl>(executor, std::move(options))) {
  const tcp::endpoint at = parse_listen_address(impl_->options.listen, "serve --listen");
  boost::system::error_code ec;
  impl_->acceptor.open(at.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(at, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw FatalSourceError(fmt::format("serve: cannot listen on {}: {} (pick another --listen HOST:PORT)",
                                       impl_->options.listen, ec.message()));
}

LokiPushSource::~LokiPushSource() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

tcp::endpoint LokiPushSource::local_endpoint() const { return impl_->acceptor.local_endpoint(); }

asio::awaitable<void> LokiPushSource::run(Intake& out) {
  auto impl = impl_;
  out.connected("loki_push", true);
  asio::co_spawn(impl->acceptor.get_executor(), impl->sweep_idle_streams(out), asio::detached);
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await impl->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !impl->acceptor.is_open()) co_return;
    if (ec) {
      // Out of file descriptors and the like: say so, wait a moment, go on accepting.
      out.notice("loki_push_accept_errors", fmt::format("loki push: accept failed: {}", ec.message()));
      asio::steady_timer pause(impl->acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::use_awaitable);
      continue;
    }
    if (impl->connections >= impl->options.max_connections)
      asio::co_spawn(impl->acceptor.get_executor(), impl->turn_away(std::move(socket), out), asio::detached);
    else {
      ++impl->connections;
      asio::co_spawn(impl->acceptor.get_executor(), impl->session(std::move(socket), out), asio::detached);
    }
  }
}

}  // namespace klaxon::sources
