// tests/integration/alert_test_support.hpp — real processes and a real HTTP receiver for the
// alerting tests: a child process with a stdin pipe (klaxon, Alertmanager), a free port, an
// HTTP GET, polling with a deadline, and an in-test HTTP(S) receiver that records what it was
// sent and answers with the statuses it is told. Everything is on 127.0.0.1 and bounded in time.
#pragma once

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapters/net/asio.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon::test {

namespace fs = std::filesystem;

/// A port nothing listens on right now (the kernel's choice; a small race is accepted).
inline unsigned short free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

/// Polls `done` every 100 ms until it holds or `limit` passes; `each` runs before every poll.
inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit,
                       const std::function<void()>& each = {}) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (each) each();
    if (done()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A real child process (tests/support/process.hpp): stdin a pipe we write to, stdout and stderr
/// files we read. `argv[0]` is the program (KLAXON_BINARY for klaxon).
class Child : public Process {
 public:
  Child(const std::vector<std::string>& argv, const fs::path& /*dir*/, const std::string& /*name*/) : Process(argv) {}

  void signal(int sig) {
    if (!exited()) stop(sig, std::chrono::seconds(0));
  }
  /// The exit status once it exited within `limit` (-1 for a signal), else nullopt.
  std::optional<int> wait(std::chrono::milliseconds limit) {
    const bool ended = wait_until([&] { return exited(); }, limit);
    if (!ended) return std::nullopt;
    return wait_exit(std::chrono::seconds(0));
  }
};

struct HttpAnswer {
  int status = 0;  // 0: could not connect or no answer
  std::string body;
};

/// GET http://127.0.0.1:port/target, with a deadline.
inline HttpAnswer http_get(unsigned short port, const std::string& target) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  HttpAnswer answer;
  stream.expires_after(std::chrono::seconds(5));
  stream.async_connect({boost::asio::ip::make_address("127.0.0.1"), port}, [&](beast::error_code ec) {
    if (ec) return;
    auto req = std::make_shared<http::request<http::empty_body>>(http::verb::get, target, 11);
    req->set(http::field::host, "127.0.0.1");
    auto buffer = std::make_shared<beast::flat_buffer>();
    auto res = std::make_shared<http::response<http::string_body>>();
    http::async_write(stream, *req, [&, req, buffer, res](beast::error_code ec2, std::size_t) {
      if (ec2) return;
      http::async_read(stream, *buffer, *res, [&, buffer, res](beast::error_code ec3, std::size_t) {
        if (ec3) return;
        answer.status = res->result_int();
        answer.body = res->body();
      });
    });
  });
  io.run();
  return answer;
}

/// An HTTP (or HTTPS) server on 127.0.0.1 that records each request and answers with the
/// statuses given, in order, then 200; after `answer_after` (a slow receiver) when set.
class HttpReceiver {
 public:
  struct Request {
    std::string target;
    std::string content_type;
    std::string authorization;
    std::string body;
  };

  explicit HttpReceiver(std::vector<int> statuses = {}, std::shared_ptr<boost::asio::ssl::context> tls = nullptr)
      : statuses_(std::move(statuses)), tls_(std::move(tls)),
        acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    boost::asio::co_spawn(io_, accept_loop(), boost::asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~HttpReceiver() {
    io_.stop();
    thread_.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  std::vector<Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return requests_.size();
  }
  /// Requests whose answer was written whole (the client had it).
  std::size_t answered() const { return answered_; }
  void answer_after(std::chrono::milliseconds delay) { delay_ms_ = delay.count(); }

 private:
  boost::asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      auto socket = co_await acceptor_.async_accept(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) co_return;
      boost::asio::co_spawn(io_, session(std::move(socket)), boost::asio::detached);
    }
  }

  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    beast::tcp_stream tcp(std::move(socket));
    tcp.expires_after(std::chrono::seconds(10));
    boost::system::error_code ec;
    if (!tls_) {
      co_await serve(tcp);
      tcp.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), *tls_);
    co_await stream.async_handshake(boost::asio::ssl::stream_base::server,
                                    boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (ec) co_return;  // the client refused our certificate
    co_await serve(stream);
  }

  template <class Stream>
  boost::asio::awaitable<void> serve(Stream& stream) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    boost::system::error_code ec;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    co_await http::async_read(stream, buffer, req, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (ec) co_return;
    int status = 200;
    {
      std::lock_guard lock(mu_);
      requests_.push_back({std::string(req.target()), std::string(req[http::field::content_type]),
                           std::string(req[http::field::authorization]), req.body()});
      if (next_ < statuses_.size()) status = statuses_[next_++];
    }
    if (const long delay = delay_ms_; delay > 0) {
      boost::asio::steady_timer slow(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(delay));
      co_await slow.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, "text/plain");
    res.body() = status == 200 ? "ok" : "test receiver says no";
    res.keep_alive(false);
    res.prepare_payload();
    co_await http::async_write(stream, res, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (!ec) ++answered_;
  }

  std::vector<int> statuses_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  std::size_t next_ = 0;
  std::atomic<long> delay_ms_{0};
  std::atomic<std::size_t> answered_{0};
};

}  // namespace klaxon::test
