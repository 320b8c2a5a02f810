// tests/integration/alert_test_support.hpp — real processes and a real HTTP receiver for the
// alerting tests: a child process with a stdin pipe (klaxon, Alertmanager), a free port, an
// HTTP GET, polling with a deadline, and an in-test HTTP(S) receiver that records what it was
// sent and answers with the statuses it is told. Everything is on 127.0.0.1 and bounded in time.
#pragma once

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
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

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

/// A fresh directory under the system's temp dir, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "klaxon-alerts-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

/// A real child process: stdin a pipe we write to, stdout and stderr files we read.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const fs::path& dir, const std::string& name)
      : out_(dir / (name + ".out")), err_(dir / (name + ".err")) {
    std::signal(SIGPIPE, SIG_IGN);  // a child that died makes write() fail, not the test process
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[0]);
    stdin_ = fds[1];
    if (rc != 0) {
      ::close(stdin_);
      throw std::runtime_error("cannot start " + argv[0]);
    }
  }
  ~Child() {
    close_stdin();
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void write(const std::string& text) {
    if (stdin_ < 0) return;
    const char* p = text.data();
    std::size_t left = text.size();
    while (left > 0) {
      const ssize_t n = ::write(stdin_, p, left);
      if (n <= 0) throw std::runtime_error("writing to the child failed");
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }
  void signal(int sig) {
    if (!status_) ::kill(pid_, sig);
  }
  /// The exit status once it exited within `limit` (-1 for a signal), else nullopt.
  std::optional<int> wait(std::chrono::milliseconds limit) {
    wait_until(
        [&] {
          if (status_) return true;
          int st;
          if (::waitpid(pid_, &st, WNOHANG) == pid_) status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
          return status_.has_value();
        },
        limit);
    return status_;
  }
  std::string out() const { return slurp(out_); }
  std::string err() const { return slurp(err_); }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  std::optional<int> status_;
  fs::path out_, err_;
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
/// statuses given, in order, then 200.
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
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, "text/plain");
    res.body() = status == 200 ? "ok" : "test receiver says no";
    res.keep_alive(false);
    res.prepare_payload();
    co_await http::async_write(stream, res, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  }

  std::vector<int> statuses_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  std::size_t next_ = 0;
};

}  // namespace klaxon::test
