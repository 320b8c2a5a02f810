// adapters/sinks/status_server.cpp — a small Beast HTTP server on its own thread.
#include "adapters/sinks/status_server.hpp"

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>

#include "adapters/net/asio.hpp"
#include "adapters/net/http_auth.hpp"
#include "adapters/net/tls_server.hpp"
#include "engine/printable.hpp"

namespace klaxon::sinks {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

constexpr auto kIdleTimeout = std::chrono::seconds(30);
// A TLS client that connects and says nothing holds a socket this long at most.
constexpr auto kHandshakeFor = std::chrono::seconds(10);
// Refusals are said on stderr only this often; /metrics counts every one.
constexpr std::uint64_t kRefusalsSaid = 10;

}  // namespace

namespace {

class FixedPage final : public StatusPages {
 public:
  explicit FixedPage(std::string html) : html_(std::move(html)) {}
  std::optional<StatusAnswer> page(std::string_view path) const override {
    if (path != "/") return std::nullopt;
    return StatusAnswer{200, "text/html; charset=utf-8", html_};
  }

 private:
  std::string html_;
};

}  // namespace

void StatusBoard::publish(std::string metrics, std::shared_ptr<const StatusPages> pages, std::string not_ready) {
  std::lock_guard lock(mutex_);
  metrics_ = std::move(metrics);
  pages_ = std::move(pages);
  not_ready_ = std::move(not_ready);
}

void StatusBoard::publish(std::string metrics, std::string page, std::string not_ready) {
  publish(std::move(metrics), std::make_shared<FixedPage>(std::move(page)), std::move(not_ready));
}

std::optional<StatusAnswer> StatusBoard::answer(std::string_view target) const {
  const std::string_view path = target.substr(0, target.find('?'));
  std::shared_ptr<const StatusPages> pages;
  {
    std::lock_guard lock(mutex_);
    if (path == "/metrics") return StatusAnswer{200, "text/plain; version=0.0.4; charset=utf-8", metrics_};
    if (path == "/healthz") return StatusAnswer{200, "text/plain; charset=utf-8", "ok\n"};
    if (path == "/readyz") {
      if (not_ready_.empty()) return StatusAnswer{200, "text/plain; charset=utf-8", "ready\n"};
      return StatusAnswer{503, "text/plain; charset=utf-8", "not ready: " + not_ready_ + "\n"};
    }
    pages = pages_;
  }
  // Rendered outside the lock: a slow page never holds up /metrics.
  if (pages) return pages->page(path);
  return std::nullopt;
}

struct StatusServer::Impl {
  std::shared_ptr<const StatusBoard> board;
  ListenGuard guard;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::atomic<std::uint64_t> tls_refused{0}, credentials_refused{0};

  void say(const std::string& message) {
    if (message.empty()) return;
    if (guard.say) guard.say(message);
    else std::fprintf(stderr, "klaxon: %s\n", message.c_str());
  }

  // The first few refusals are said; later ones only counted (a scraper with a stale token
  // would otherwise fill the log every 15 seconds).
  void say_refusal(const std::string& message) {
    if (tls_refused + credentials_refused <= kRefusalsSaid)
      say(tls_refused + credentials_refused == kRefusalsSaid ? message + " (further refusals are only counted, in /metrics)"
                                                              : message);
  }

  // A request's credential, checked before anything is rendered. The probes need none.
  bool admitted(const http::request<http::empty_body>& req, const std::string& peer) {
    if (!guard.auth) return true;
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (path == "/healthz" || path == "/readyz") return true;
    std::string said;
    guard.auth->refresh(&said);  // a rotated token or users file counts from this request on
    say(said);
    const auto authorization = req[http::field::authorization];
    if (guard.auth->admits(std::string_view(authorization.data(), authorization.size()))) return true;
    ++credentials_refused;
    say_refusal(fmt::format("--listen: refused a request from {} (401): {}", peer,
                            authorization.empty() ? "no credential" : "wrong credential"));
    return false;
  }

  template <class Stream>
  asio::awaitable<void> exchange(Stream& stream, const std::string& peer) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::empty_body> req;
      boost::system::error_code ec;
      beast::get_lowest_layer(stream).expires_after(kIdleTimeout);
      co_await http::async_read(stream, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      http::response<http::string_body> res;
      res.version(11);
      res.set(http::field::server, "klaxon");
      const bool in = admitted(req, peer);
      std::optional<StatusAnswer> a;
      if (!in) {
        a = StatusAnswer{401, "text/plain; charset=utf-8", "klaxon: this status port asks for a credential\n"};
        res.set(http::field::www_authenticate, guard.auth->challenge());
      } else if (req.method() == http::verb::get || req.method() == http::verb::head) {
        a = board->answer(std::string_view(req.target().data(), req.target().size()));
      }
      if (!a)
        a = StatusAnswer{404, "text/plain; charset=utf-8",
                         "klaxon: nothing here; try /, /api/incidents, /metrics, /healthz or /readyz\n"};
      res.result(a->status);
      res.set(http::field::content_type, a->content_type);
      res.body() = std::move(a->body);
      res.keep_alive(in && req.keep_alive());
      res.prepare_payload();
      if (req.method() == http::verb::head) res.body().clear();
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !res.keep_alive()) break;
    }
    boost::system::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<void> session(tcp::socket socket) {
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    const std::string peer = ec ? std::string("a client") : remote.address().to_string();
    if (!guard.tls) {
      beast::tcp_stream stream(std::move(socket));
      co_await exchange(stream, peer);
      co_return;
    }
    std::string said;
    const std::shared_ptr<asio::ssl::context> context = guard.tls->context(&said);  // outlives the stream
    say(said);
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *context);
    beast::get_lowest_layer(stream).expires_after(kHandshakeFor);
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      ++tls_refused;
      say_refusal(fmt::format("--listen: TLS handshake with {} failed: {}", peer, printable(ec.message())));
      beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }
    co_await exchange(stream, peer);
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) continue;
      asio::co_spawn(io, session(std::move(socket)), asio::detached);
    }
  }
};

StatusServer::StatusServer(std::shared_ptr<const StatusBoard> board, const asio::ip::tcp::endpoint& at, ListenGuard guard)
    : impl_(std::make_unique<Impl>()) {
  impl_->board = std::move(board);
  impl_->guard = std::move(guard);
  boost::system::error_code ec;
  impl_->acceptor.open(at.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(at, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error(fmt::format("--listen {}: cannot listen: {} (pick another HOST:PORT)",
                                         at.address().to_string() + ":" + std::to_string(at.port()), ec.message()));
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
}

StatusServer::~StatusServer() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::string StatusServer::address() const {
  const tcp::endpoint e = impl_->acceptor.local_endpoint();
  return e.address().is_v6() ? fmt::format("[{}]:{}", e.address().to_string(), e.port())
                             : fmt::format("{}:{}", e.address().to_string(), e.port());
}

StatusServer::Refusals StatusServer::refusals() const {
  return {impl_->tls_refused.load(), impl_->credentials_refused.load()};
}

}  // namespace klaxon::sinks
