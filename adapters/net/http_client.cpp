#include "adapters/net/http_client.hpp"

#include <stdexcept>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>

#include "engine/printable.hpp"

namespace klaxon::net {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

template <class Stream>
asio::awaitable<void> exchange(Stream& stream, http::request<http::string_body>& req, std::chrono::nanoseconds timeout,
                               std::size_t body_limit, HttpResult& out) {
  beast::get_lowest_layer(stream).expires_after(timeout);
  co_await http::async_write(stream, req, into(out.error));
  if (out.error) {
    out.failed = HttpStep::send;
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  co_await http::async_read(stream, buffer, parser, into(out.error));
  if (out.error) {
    out.failed = HttpStep::receive;
    co_return;
  }
  auto res = parser.release();
  out.status = res.result_int();
  for (const auto& field : res) out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  out.body = std::move(res.body());
}

}  // namespace

std::string HttpResult::why() const {
  if (!failed) return fmt::format("answered HTTP {}", status);
  const std::string what = error.message();
  switch (*failed) {
    case HttpStep::resolve: return fmt::format("cannot resolve {}: {}", printable(host), what);
    case HttpStep::connect: return fmt::format("cannot connect to {}: {}", printable(host), what);
    case HttpStep::tls_handshake: return "TLS handshake failed: " + what;
    case HttpStep::send: return "sending failed: " + what;
    case HttpStep::receive: return "no answer: " + what;
  }
  return what;
}

HttpClient::HttpClient(Url url, std::shared_ptr<const TlsClient> tls, std::chrono::nanoseconds connect_timeout)
    : url_(std::move(url)), tls_(std::move(tls)), connect_timeout_(connect_timeout) {
  if (url_.tls && !tls_) throw std::logic_error("HttpClient: a TLS URL needs a TlsClient");
}

HttpResult HttpClient::failure(HttpStep step, boost::system::error_code ec) const {
  HttpResult r;
  r.host = url_.host_header();
  r.failed = step;
  r.error = ec;
  return r;
}

asio::awaitable<std::optional<HttpStep>> HttpClient::connect(beast::tcp_stream& stream, boost::system::error_code& ec) const {
  tcp::resolver resolver(stream.get_executor());
  const auto addresses = co_await resolver.async_resolve(url_.host, url_.port, into(ec));
  if (ec) co_return HttpStep::resolve;
  stream.expires_after(connect_timeout_);
  co_await stream.async_connect(addresses, into(ec));
  if (ec) co_return HttpStep::connect;
  co_return std::nullopt;
}

asio::awaitable<std::optional<HttpStep>> HttpClient::handshake(beast::ssl_stream<beast::tcp_stream>& stream,
                                                               boost::system::error_code& ec) const {
  tls_->prepare(stream.native_handle(), url_);
  co_await stream.async_handshake(asio::ssl::stream_base::client, into(ec));
  if (ec) co_return HttpStep::tls_handshake;
  co_return std::nullopt;
}

asio::awaitable<HttpResult> HttpClient::request(HttpRequest r, std::chrono::nanoseconds timeout, std::size_t body_limit) const {
  auto executor = co_await asio::this_coro::executor;
  http::request<http::string_body> req{r.method == HttpRequest::Method::post ? http::verb::post : http::verb::get, r.target, 11};
  req.set(http::field::host, url_.host_header());
  req.set(http::field::user_agent, "klaxon");
  for (const auto& [name, value] : r.headers) req.set(name, value);
  req.keep_alive(false);
  req.body() = std::move(r.body);
  req.prepare_payload();

  HttpResult out;
  out.host = url_.host_header();
  if (!url_.tls) {
    beast::tcp_stream stream(executor);
    if (auto step = co_await connect(stream, out.error)) co_return failure(*step, out.error);
    co_await exchange(stream, req, timeout, body_limit, out);
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return out;
  }
  beast::ssl_stream<beast::tcp_stream> stream(executor, tls_->context());
  if (auto step = co_await connect(beast::get_lowest_layer(stream), out.error)) co_return failure(*step, out.error);
  if (auto step = co_await handshake(stream, out.error)) co_return failure(*step, out.error);
  co_await exchange(stream, req, timeout, body_limit, out);
  co_return out;
}

}  // namespace klaxon::net
