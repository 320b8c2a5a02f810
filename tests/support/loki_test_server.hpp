// tests/support/loki_test_server.hpp — a Loki on 127.0.0.1 that speaks Loki's wire format and
// misbehaves on cue, for the `klaxon loki` tests.
//
// Written from Loki's HTTP API documentation and its querier (pkg/querier/http.go, tail.go):
// - GET /loki/api/v1/query_range?query&start&end&limit&direction: entries with
//   start <= ts < end, the `limit` oldest (forward) or newest (backward), as
//   {"status":"success","data":{"resultType":"streams","result":[{"stream":{...},"values":[["<ns>","<line>"]]}]}}.
// - GET /loki/api/v1/tail?query&start&limit (WebSocket): first the newest `limit` entries since
//   `start`, then each entry as it is appended, in frames {"streams":[...]} (one stream object
//   per run of entries of one stream), a ping every 100 ms, and on cue a 1011 close with Loki's
//   reason, a normal close, a TCP reset, silence, or a "dropped_entries" frame.
// - Errors as Loki gives them: 401 "no org id" without X-Scope-OrgID when a tenant is required,
//   400 with a LogQL parse error for a query that is not a stream selector.
// Lines are JSON-escaped the way Go does it (`<` `>` `&` as \u003c \u003e \u0026).
// The store stamps entries when they are appended (like an ingester with no lag), strictly
// increasing unless a group shares one instant on purpose.
// Thread safety: the server runs on its own thread; every public method may be called from the test.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <optional>
#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <fmt/format.h>

#include "adapters/net/asio.hpp"
#include "engine/labels.hpp"

namespace klaxon::test {

/// What the n-th tail connection (0-based) does after it has sent `after` entries.
enum class LokiTailCut { none, close_1011, close_1000, reset, silence, dropped_entries };
struct LokiTailScript {
  LokiTailCut cut = LokiTailCut::none;
  std::size_t after = 0;
};
struct LokiServerOptions {
  std::string require_tenant;         // non-empty: answer 401 "no org id" without it
  std::vector<LokiTailScript> tails;  // by connection order; later connections behave
  std::size_t frame_entries = 5;      // entries per tail frame at most
  std::string cert_pem, key_pem;      // non-empty: https and wss only
};

class LokiTestServer {
 public:
  using Nanos = std::int64_t;
  struct Entry {
    std::string stream;  // label set as JSON: {"app":"a"}
    Nanos time = 0;
    std::string line;
  };
  using Cut = LokiTailCut;
  using TailScript = LokiTailScript;
  using Options = LokiServerOptions;

  explicit LokiTestServer(Options options = {})
      : options_(std::move(options)), acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    if (tls()) {
      tls_.use_certificate_chain(boost::asio::buffer(options_.cert_pem));
      tls_.use_private_key(boost::asio::buffer(options_.key_pem), boost::asio::ssl::context::pem);
    }
    boost::asio::co_spawn(io_, accept_loop(), boost::asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~LokiTestServer() {
    io_.stop();
    thread_.join();
  }

  std::string url() const { return (tls() ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_); }
  bool tls() const { return !options_.cert_pem.empty(); }

  /// Appends entries that share one instant (the server's clock, after every earlier entry).
  /// Each pair is {stream labels as JSON, line}. Returns the instant.
  Nanos append_group(const Labels& group) {
    std::promise<Nanos> done;
    boost::asio::post(io_, [&] {
      const Nanos now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
      const Nanos t = std::max(now, last_time_ + 1);
      last_time_ = t;
      for (const auto& [stream, line] : group) store_.push_back({stream, t, line});
      wake_tails();
      done.set_value(t);
    });
    return done.get_future().get();
  }
  Nanos append(const std::string& stream, const std::string& line) { return append_group({{stream, line}}); }

  /// Puts entries with given times into the store (before any tail: history for replays).
  void preload(std::vector<Entry> entries) {
    std::promise<void> done;
    boost::asio::post(io_, [&] {
      for (auto& e : entries) {
        last_time_ = std::max(last_time_, e.time);
        store_.push_back(std::move(e));
      }
      std::stable_sort(store_.begin(), store_.end(), [](const Entry& a, const Entry& b) { return a.time < b.time; });
      done.set_value();
    });
    done.get_future().get();
  }

  int tails_opened() const { return tails_opened_.load(); }
  int range_queries() const { return range_queries_.load(); }
  int refused() const { return refused_.load(); }
  std::string last_tail_target() const {
    std::lock_guard lock(mutex_);
    return last_tail_target_;
  }

  /// Go's encoding/json string escaping, HTML-safe (what Loki sends).
  static std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '<': case '>': case '&': out += fmt::format("\\u{:04x}", c); break;
        default:
          if (c < 0x20) out += fmt::format("\\u{:04x}", c);
          else out += char(c);
      }
    }
    return out + "\"";
  }

  /// Stream objects for entries [begin, end): one per run of entries of one stream.
  std::string streams_json(std::size_t begin, std::size_t end) const {
    std::string out = "[";
    for (std::size_t i = begin; i < end;) {
      std::size_t j = i;
      if (out.size() > 1) out += ',';
      out += "{\"stream\":" + store_[i].stream + ",\"values\":[";
      for (; j < end && store_[j].stream == store_[i].stream; ++j) {
        if (j > i) out += ',';
        out += "[\"" + std::to_string(store_[j].time) + "\"," + json_string(store_[j].line) + "]";
      }
      out += "]}";
      i = j;
    }
    return out + "]";
  }

  // The store is sorted by time; entries are selected by index.
  std::vector<std::size_t> select(Nanos start, Nanos end, std::size_t limit, bool forward) const {
    std::vector<std::size_t> picked;
    for (std::size_t i = 0; i < store_.size(); ++i)
      if (store_[i].time >= start && store_[i].time < end) picked.push_back(i);
    if (picked.size() > limit) {
      if (forward) picked.resize(limit);
      else picked.erase(picked.begin(), picked.end() - static_cast<std::ptrdiff_t>(limit));
    }
    return picked;
  }

  static std::map<std::string, std::string> query_params(std::string_view target) {
    std::map<std::string, std::string> params;
    const std::size_t q = target.find('?');
    if (q == std::string_view::npos) return params;
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      const std::size_t amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      const std::size_t eq = pair.find('=');
      params[std::string(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1));
      if (amp == std::string_view::npos) break;
      rest = rest.substr(amp + 1);
    }
    return params;
  }
  static std::string decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out += char(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        out += s[i] == '+' ? ' ' : s[i];
      }
    }
    return out;
  }
  static Nanos number(const std::map<std::string, std::string>& p, const std::string& key, Nanos fallback) {
    auto it = p.find(key);
    return it == p.end() || it->second.empty() ? fallback : std::stoll(it->second);
  }

  void wake_tails() {
    for (auto* t : waiting_) t->cancel();
  }

  boost::asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::asio::ip::tcp::socket socket = co_await acceptor_.async_accept(boost::asio::use_awaitable);
      if (tls()) boost::asio::co_spawn(io_, tls_session(std::move(socket)), boost::asio::detached);
      else boost::asio::co_spawn(io_, session(boost::beast::tcp_stream(std::move(socket))), boost::asio::detached);
    }
  }

  boost::asio::awaitable<void> tls_session(boost::asio::ip::tcp::socket socket) {
    boost::beast::ssl_stream<boost::beast::tcp_stream> stream(std::move(socket), tls_);
    try {
      boost::beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
      co_await stream.async_handshake(boost::asio::ssl::stream_base::server, boost::asio::use_awaitable);
      boost::beast::get_lowest_layer(stream).expires_never();
    } catch (const std::exception&) {
      co_return;  // the client refused our certificate
    }
    co_await session(std::move(stream));
  }

  template <class Stream>
  boost::asio::awaitable<void> session(Stream stream) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    try {
      beast::flat_buffer buffer;
      http::request<http::string_body> req;
      co_await http::async_read(stream, buffer, req, boost::asio::use_awaitable);
      const std::string target(req.target());
      const auto params = query_params(target);
      auto answer = [&](http::status status, std::string body, const char* type) -> http::response<http::string_body> {
        http::response<http::string_body> res{status, req.version()};
        res.set(http::field::content_type, type);
        res.body() = std::move(body);
        res.prepare_payload();
        return res;
      };
      std::optional<http::response<http::string_body>> refusal;
      if (!options_.require_tenant.empty() && req["X-Scope-OrgID"] != options_.require_tenant)
        refusal = answer(http::status::unauthorized, "no org id\n", "text/plain; charset=utf-8");
      else if (auto q = params.find("query"); q == params.end() || !q->second.starts_with("{"))
        refusal = answer(http::status::bad_request,
                         "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER\n", "text/plain; charset=utf-8");
      if (refusal) {
        ++refused_;
        co_await http::async_write(stream, *refusal, boost::asio::use_awaitable);
        co_return;
      }
      if (target.starts_with("/loki/api/v1/query_range")) {
        ++range_queries_;
        const auto picked = select(number(params, "start", 0), number(params, "end", INT64_MAX),
                                   std::size_t(number(params, "limit", 100)),
                                   params.count("direction") && params.at("direction") == "forward");
        std::string body = "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[";
        // Loki groups a page by stream; entries of a stream stay in time order.
        std::map<std::string, std::vector<std::size_t>> by_stream;
        for (std::size_t i : picked) by_stream[store_[i].stream].push_back(i);
        bool first = true;
        for (const auto& [labels, indexes] : by_stream) {
          if (!first) body += ',';
          first = false;
          body += "{\"stream\":" + labels + ",\"values\":[";
          for (std::size_t k = 0; k < indexes.size(); ++k) {
            if (k) body += ',';
            body += "[\"" + std::to_string(store_[indexes[k]].time) + "\"," + json_string(store_[indexes[k]].line) + "]";
          }
          body += "]}";
        }
        body += "],\"stats\":{}}}";
        auto res = answer(http::status::ok, std::move(body), "application/json; charset=UTF-8");
        co_await http::async_write(stream, res, boost::asio::use_awaitable);
        co_return;
      }
      if (target.starts_with("/loki/api/v1/tail") && beast::websocket::is_upgrade(req)) {
        co_await tail(std::move(stream), req, params);
        co_return;
      }
      auto res = answer(http::status::not_found, "404 page not found\n", "text/plain; charset=utf-8");
      co_await http::async_write(stream, res, boost::asio::use_awaitable);
    } catch (const std::exception&) {
      // the client went away: nothing to do
    }
  }

  template <class Stream>
  boost::asio::awaitable<void> tail(Stream stream, const boost::beast::http::request<boost::beast::http::string_body>& req,
                                    const std::map<std::string, std::string>& params) {
    namespace beast = boost::beast;
    namespace websocket = beast::websocket;
    const int index = tails_opened_++;
    {
      std::lock_guard lock(mutex_);
      last_tail_target_ = std::string(req.target());
    }
    TailScript script = index < int(options_.tails.size()) ? options_.tails[std::size_t(index)] : TailScript{};
    websocket::stream<Stream> ws(std::move(stream));
    beast::get_lowest_layer(ws).expires_never();
    co_await ws.async_accept(req, boost::asio::use_awaitable);
    // History: the newest `limit` entries since `start` (Loki's tail runs a backward query), sent oldest first.
    const auto history = select(number(params, "start", 0), INT64_MAX, std::size_t(number(params, "limit", 100)), false);
    std::size_t next = history.empty() ? store_.size() : history.front();
    std::size_t sent = 0;
    boost::asio::steady_timer wake(co_await boost::asio::this_coro::executor);
    for (;;) {
      if (next < store_.size()) {
        std::size_t end = std::min(store_.size(), next + options_.frame_entries);
        if (script.cut != Cut::none && sent < script.after) end = std::min(end, next + (script.after - sent));
        if (script.cut == Cut::none || sent < script.after) {
          const std::string frame = "{\"streams\":" + streams_json(next, end) + "}";
          co_await ws.async_write(boost::asio::buffer(frame), boost::asio::use_awaitable);
          sent += end - next;
          next = end;
          continue;
        }
      }
      if (script.cut != Cut::none && sent >= script.after) {
        switch (script.cut) {
          case Cut::close_1011:
            co_await ws.async_close(websocket::close_reason(websocket::close_code::internal_error, "reached tail max duration limit"),
                                    boost::asio::use_awaitable);
            co_return;
          case Cut::close_1000:
            co_await ws.async_close(websocket::close_code::normal, boost::asio::use_awaitable);
            co_return;
          case Cut::reset: {
            auto& socket = beast::get_lowest_layer(ws).socket();
            socket.set_option(boost::asio::socket_base::linger(true, 0));
            socket.close();
            co_return;
          }
          case Cut::silence: {
            // Neither lines nor pings, nor reading the client's pings: a hung peer.
            wake.expires_after(std::chrono::seconds(30));
            boost::system::error_code ignored;
            co_await wake.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
            co_return;
          }
          case Cut::dropped_entries: {
            const std::string frame =
                "{\"streams\":null,\"dropped_entries\":[{\"labels\":{\"app\":\"x\"},\"timestamp\":\"1\"},"
                "{\"labels\":{\"app\":\"x\"},\"timestamp\":\"2\"},{\"labels\":{\"app\":\"y\"},\"timestamp\":\"3\"}]}";
            co_await ws.async_write(boost::asio::buffer(frame), boost::asio::use_awaitable);
            script.cut = Cut::none;  // then behave
            continue;
          }
          case Cut::none: break;
        }
      }
      // Wait for new entries; ping every 100 ms as Loki pings every second.
      wake.expires_after(std::chrono::milliseconds(100));
      waiting_.push_back(&wake);
      boost::system::error_code ec;
      co_await wake.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      std::erase(waiting_, &wake);
      if (!ec) co_await ws.async_ping({}, boost::asio::use_awaitable);
    }
  }

  Options options_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ssl::context tls_{boost::asio::ssl::context::tls_server};
  unsigned short port_ = 0;
  std::thread thread_;
  std::vector<Entry> store_;
  Nanos last_time_ = 0;
  std::vector<boost::asio::steady_timer*> waiting_;
  std::atomic<int> tails_opened_{0}, range_queries_{0}, refused_{0};
  mutable std::mutex mutex_;
  std::string last_tail_target_;
};

}  // namespace klaxon::test
