#include "adapters/sinks/delivery.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "adapters/net/asio.hpp"
#include "engine/printable.hpp"

namespace klaxon::sinks {

namespace beast = boost::beast;
namespace http = beast::http;

std::optional<Endpoint> parse_endpoint(std::string_view url, std::string& error) {
  Endpoint e;
  e.url = redact_url(url);
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
    e.tls = true;
  } else {
    error = "not an http:// or https:// URL";
    return std::nullopt;
  }
  const std::size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  e.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (e.target.front() == '?') e.target.insert(0, "/");
  if (authority.find('@') != std::string_view::npos) {
    error = "credentials in the URL are not supported (use --webhook-header 'Authorization: ...')";
    return std::nullopt;
  }
  std::string_view port;
  if (authority.starts_with('[')) {  // [::1]:9093
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unclosed [ in the host";
      return std::nullopt;
    }
    e.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        error = "expected :port after ]";
        return std::nullopt;
      }
      port = authority.substr(close + 2);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    e.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (e.host.empty()) {
    error = "no host";
    return std::nullopt;
  }
  if (!port.empty() && (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))) {
    error = "the port is not a number";
    return std::nullopt;
  }
  e.port = port.empty() ? (e.tls ? "443" : "80") : std::string(port);
  return e;
}

struct DeliveryQueue::State {
  explicit State(asio::any_io_executor ex) : executor(ex), wake(ex) {}

  std::string name;
  Endpoint endpoint;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type;
  RetryPolicy policy;

  asio::any_io_executor executor;  // the delivery thread's
  asio::steady_timer wake;         // the queue's coroutine waits on it when there is nothing to send

  mutable std::mutex mu;
  std::deque<std::string> waiting;
  bool in_flight = false;
  bool failing = false;   // trouble was said; say when it ends
  bool gave_up_said = false;
  DeliveryStats stats;
};

void DeliveryQueue::post(std::string body, bool supersede) {
  {
    std::lock_guard lock(state_->mu);
    if (supersede) state_->waiting.clear();
    if (state_->waiting.size() >= state_->policy.capacity) {
      state_->waiting.pop_front();
      ++state_->stats.dropped;
    }
    state_->waiting.push_back(std::move(body));
  }
  // The coroutine runs on the delivery thread; wake it there (timers are not thread-safe).
  asio::post(state_->executor, [s = state_] { s->wake.cancel(); });
}

DeliveryStats DeliveryQueue::stats() const {
  std::lock_guard lock(state_->mu);
  DeliveryStats s = state_->stats;
  s.queue_depth = state_->waiting.size() + (state_->in_flight ? 1 : 0);
  return s;
}

namespace {

struct Outcome {
  bool ok = false;
  bool permanent = false;  // retrying will not help (4xx)
  std::string error;
};

Outcome judge(const http::response<http::string_body>& res) {
  const unsigned code = res.result_int();
  if (code >= 200 && code < 300) return {true, false, {}};
  std::string body = res.body().substr(0, 200);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  std::string error = "answered HTTP " + std::to_string(code) + (body.empty() ? "" : ": " + printable(body));
  const bool permanent = code >= 400 && code < 500 && code != 408 && code != 429;
  return {false, permanent, std::move(error)};
}

template <class Stream>
asio::awaitable<Outcome> exchange(Stream& stream, http::request<http::string_body>& req) {
  beast::error_code ec;
  co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Outcome{false, false, "sending failed: " + ec.message()};
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  co_await http::async_read(stream, buffer, res, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Outcome{false, false, "no answer: " + ec.message()};
  co_return judge(res);
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

struct DeliveryWorker::Impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  asio::ssl::context ssl{asio::ssl::context::tls_client};
  TlsOptions tls;
  std::vector<std::unique_ptr<DeliveryQueue>> queues;
  std::vector<std::shared_ptr<DeliveryQueue::State>> states;
  std::mt19937 random{std::random_device{}()};
  std::thread thread;

  asio::awaitable<Outcome> post_once(DeliveryQueue::State& s, const std::string& body) {
    auto ex = co_await asio::this_coro::executor;
    const Endpoint& e = s.endpoint;
    beast::error_code ec;
    tcp::resolver resolver(ex);
    auto addresses = co_await resolver.async_resolve(e.host, e.port, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Outcome{false, false, "cannot resolve " + e.host + ": " + ec.message()};

    http::request<http::string_body> req{http::verb::post, e.target, 11};
    const bool default_port = e.port == (e.tls ? "443" : "80");
    req.set(http::field::host, default_port ? e.host : e.host + ":" + e.port);
    req.set(http::field::user_agent, "klaxon");
    req.set(http::field::content_type, s.content_type);
    for (const auto& [name, value] : s.headers) req.set(name, value);
    req.keep_alive(false);
    req.body() = body;
    req.prepare_payload();

    if (!e.tls) {
      beast::tcp_stream stream(ex);
      stream.expires_after(s.policy.request_timeout);
      co_await stream.async_connect(addresses, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return Outcome{false, false, "cannot connect: " + ec.message()};
      Outcome r = co_await exchange(stream, req);
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return r;
    }
    beast::ssl_stream<beast::tcp_stream> stream(ex, ssl);
    if (!is_ip_literal(e.host)) SSL_set_tlsext_host_name(stream.native_handle(), e.host.c_str());
    if (!tls.insecure_skip_verify) stream.set_verify_callback(asio::ssl::host_name_verification(e.host));
    beast::get_lowest_layer(stream).expires_after(s.policy.request_timeout);
    co_await beast::get_lowest_layer(stream).async_connect(addresses, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Outcome{false, false, "cannot connect: " + ec.message()};
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Outcome{false, false, "TLS handshake failed: " + ec.message()};
    co_return co_await exchange(stream, req);
  }

  std::chrono::milliseconds jittered(std::chrono::milliseconds backoff) {
    // Between half and all of the backoff: receivers coming back are not hit by every client at once.
    std::uniform_int_distribution<long> half(0, std::max<long>(0, backoff.count() / 2));
    return std::chrono::milliseconds(backoff.count() - half(random));
  }

  asio::awaitable<void> run_queue(std::shared_ptr<DeliveryQueue::State> s) {
    asio::steady_timer backoff_timer(co_await asio::this_coro::executor);
    for (;;) {
      std::string body;
      bool have = false;
      {
        std::lock_guard lock(s->mu);
        if (!s->waiting.empty()) {
          body = std::move(s->waiting.front());
          s->waiting.pop_front();
          have = true;
        }
        s->in_flight = have;
      }
      if (!have) {
        boost::system::error_code ec;
        s->wake.expires_at(asio::steady_timer::time_point::max());
        co_await s->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      auto backoff = s->policy.first_backoff;
      for (int attempt = 1;; ++attempt) {
        Outcome r = co_await post_once(*s, body);
        if (!settle(*s, r, attempt)) break;
        backoff_timer.expires_after(jittered(backoff));
        backoff = std::min(backoff * 2, s->policy.max_backoff);
        boost::system::error_code ec;
        co_await backoff_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      std::lock_guard lock(s->mu);
      s->in_flight = false;
    }
  }

  // Counts the outcome of one attempt and says what the operator must know. True: try again.
  static bool settle(DeliveryQueue::State& s, const Outcome& r, int attempt) {
    std::lock_guard lock(s.mu);
    if (r.ok) {
      ++s.stats.sent;
      if (s.failing) std::fprintf(stderr, "klaxon: %s: delivering again\n", s.name.c_str());
      s.failing = s.gave_up_said = false;
      return false;
    }
    if (!s.failing) {
      std::fprintf(stderr, "klaxon: warning: %s: %s; retrying (up to %zu posts are kept meanwhile)\n", s.name.c_str(),
                   r.error.c_str(), s.policy.capacity);
      s.failing = true;
    }
    if (r.permanent || attempt >= s.policy.max_attempts) {
      ++s.stats.failed;
      if (!s.gave_up_said) {
        std::fprintf(stderr, "klaxon: error: %s: a post was not delivered (%s%s); counted as failed\n", s.name.c_str(),
                     r.permanent ? "" : "retry budget spent: ", r.error.c_str());
        s.gave_up_said = true;
      }
      return false;
    }
    ++s.stats.retries;
    return true;
  }

  bool idle() const {
    for (const auto& s : states) {
      std::lock_guard lock(s->mu);
      if (!s->waiting.empty() || s->in_flight) return false;
    }
    return true;
  }
};

DeliveryWorker::DeliveryWorker(const TlsOptions& tls) : impl_(std::make_unique<Impl>()) {
  impl_->tls = tls;
  boost::system::error_code ec;
  if (!tls.ca_file.empty()) {
    // OpenSSL says only "asio.ssl error" for a file it cannot open: ask the file system first.
    if (std::FILE* f = std::fopen(tls.ca_file.c_str(), "rb")) std::fclose(f);
    else throw std::runtime_error("--ca-file " + printable(tls.ca_file) + ": cannot be read (" + std::strerror(errno) + ")");
    impl_->ssl.load_verify_file(tls.ca_file, ec);
    if (ec) throw std::runtime_error("--ca-file " + tls.ca_file + ": cannot load CA certificates (" + ec.message() + ")");
  } else {
    impl_->ssl.set_default_verify_paths(ec);
  }
  impl_->ssl.set_verify_mode(tls.insecure_skip_verify ? asio::ssl::verify_none : asio::ssl::verify_peer);
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

DeliveryWorker::~DeliveryWorker() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

DeliveryQueue& DeliveryWorker::add_queue(std::string name, Endpoint endpoint,
                                         std::vector<std::pair<std::string, std::string>> headers,
                                         std::string content_type, RetryPolicy policy) {
  auto state = std::make_shared<DeliveryQueue::State>(impl_->io.get_executor());
  state->name = name;
  state->endpoint = std::move(endpoint);
  state->headers = std::move(headers);
  state->content_type = std::move(content_type);
  state->policy = policy;
  state->stats.sink = std::move(name);
  impl_->states.push_back(state);
  impl_->queues.push_back(std::make_unique<DeliveryQueue>(state));
  asio::co_spawn(impl_->io, impl_->run_queue(state), asio::detached);
  return *impl_->queues.back();
}

asio::any_io_executor DeliveryWorker::executor() { return impl_->io.get_executor(); }

bool DeliveryWorker::drain_and_stop(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!impl_->idle() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // at exit only: a bounded wait
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  bool all = true;
  for (const auto& s : impl_->states) {
    std::lock_guard lock(s->mu);
    const std::size_t left = s->waiting.size() + (s->in_flight ? 1 : 0);
    s->stats.dropped += left;
    s->waiting.clear();
    s->in_flight = false;
    all &= left == 0;
  }
  return all;
}

std::vector<DeliveryStats> DeliveryWorker::stats() const {
  std::vector<DeliveryStats> out;
  for (const auto& q : impl_->queues) out.push_back(q->stats());
  return out;
}

}  // namespace klaxon::sinks
