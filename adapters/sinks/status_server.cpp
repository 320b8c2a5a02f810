// adapters/sinks/status_server.cpp — a small Beast HTTP server on its own thread.
#include "adapters/sinks/status_server.hpp"

#include <chrono>
#include <stdexcept>
#include <utility>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "adapters/net/asio.hpp"

namespace klaxon::sinks {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

constexpr auto kIdleTimeout = std::chrono::seconds(30);

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
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;

  asio::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::empty_body> req;
      boost::system::error_code ec;
      stream.expires_after(kIdleTimeout);
      co_await http::async_read(stream, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      http::response<http::string_body> res;
      res.version(11);
      res.set(http::field::server, "klaxon");
      std::optional<StatusAnswer> a;
      if (req.method() == http::verb::get || req.method() == http::verb::head) a = board->answer(std::string_view(req.target().data(), req.target().size()));
      if (!a)
        a = StatusAnswer{404, "text/plain; charset=utf-8",
                         "klaxon: nothing here; try /, /api/incidents, /metrics, /healthz or /readyz\n"};
      res.result(a->status);
      res.set(http::field::content_type, a->content_type);
      res.body() = std::move(a->body);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      if (req.method() == http::verb::head) res.body().clear();
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !req.keep_alive()) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
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

StatusServer::StatusServer(std::shared_ptr<const StatusBoard> board, const asio::ip::tcp::endpoint& at)
    : impl_(std::make_unique<Impl>()) {
  impl_->board = std::move(board);
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

}  // namespace klaxon::sinks
