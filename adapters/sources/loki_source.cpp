// adapters/sources/loki_source.cpp — the Loki tail and range replay (see loki_source.hpp).
//
// What Loki's documentation and source say, and what follows from it here:
// - query_range: `start` is inclusive ("timestamp greater or equal"), `end` is exclusive
//   ("timestamp lower than this value"). So a fill [from, to) and a tail opened with start = to
//   neither overlap nor leave a hole; a page resumed at its last timestamp repeats the entries
//   at that nanosecond, which EntryMemory drops. With direction=forward Loki returns the
//   `limit` oldest entries of the window across all streams.
// - tail: `start` is inclusive and the tail first sends up to `limit` of the newest entries
//   since `start` (a backward query), then live entries. Loki writes a ping every second and
//   ends a tail with a 1011 close frame whose reason says why ("reached tail max duration
//   limit" after tail_max_duration, or the error). A tail that cannot keep up gets
//   `dropped_entries` instead of lines.
// - A tail re-opened at start = now - ingest_delay overlaps what the previous tail sent; the
//   overlap is dropped the same way (see read_tail).
// - Frames are handled as they arrive, on the event loop: Loki closes a tail whose client reads
//   slowly, and matching a frame costs far less than the network.
#include "adapters/sources/loki_source.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <exception>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <fmt/format.h>

#include "adapters/net/asio.hpp"
#include "adapters/sources/loki_entries.hpp"
#include "engine/civil_time.hpp"
#include "engine/printable.hpp"

namespace klaxon::sources {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::use_awaitable;

constexpr std::string_view kSourceName = "loki";
constexpr std::size_t kMaxBodyBytes = 512u << 20;
constexpr std::chrono::seconds kConnectTimeout{10};

Nanos wall_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::chrono::nanoseconds as_duration(Nanos n) { return std::chrono::nanoseconds(n); }

std::string format_ms(Nanos n) {
  if (n < kNanosPerSecond) return fmt::format("{}ms", n / 1'000'000);
  return fmt::format("{:.1f}s", double(n) / double(kNanosPerSecond));
}

struct Url {
  bool tls = false;
  std::string host, port, prefix;
};

Url parse_url(const std::string& url) {
  Url u;
  std::string rest;
  for (auto [scheme, tls] : {std::pair{"http://", false}, {"ws://", false}, {"https://", true}, {"wss://", true}}) {
    if (url.starts_with(scheme)) {
      u.tls = tls;
      rest = url.substr(std::string_view(scheme).size());
    }
  }
  if (rest.empty()) throw FatalSourceError("--url " + redact_url(url) + " is not an http(s):// address of Loki (e.g. http://loki:3100)");
  const std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) u.prefix = rest.substr(slash);
  while (!u.prefix.empty() && u.prefix.back() == '/') u.prefix.pop_back();
  if (authority.find('@') != std::string::npos)
    throw FatalSourceError("--url must not hold credentials: use --user/--password or --bearer-token-file");
  const std::size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  } else {
    u.host = authority;
    u.port = u.tls ? "443" : "80";
  }
  if (u.host.size() > 2 && u.host.front() == '[' && u.host.back() == ']') u.host = u.host.substr(1, u.host.size() - 2);
  if (u.host.empty() || u.port.empty() || u.port.find_first_not_of("0123456789") != std::string::npos)
    throw FatalSourceError("--url " + redact_url(url) + " has no usable host:port");
  return u;
}

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += char(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string base64(std::string_view s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(s.data()), int(s.size()));
  out.resize(std::size_t(n));
  return out;
}

std::string trimmed(std::string text, std::size_t max = 400) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (text.size() > max) text = text.substr(0, max) + "...";
  return text;
}

/// Loki answered with something other than 200 / a WebSocket upgrade.
class LokiRefused : public std::runtime_error {
 public:
  LokiRefused(unsigned status, const std::string& message) : std::runtime_error(message), status(status) {}
  /// A refusal that retrying will not fix (credentials, tenant, query, URL).
  bool about_configuration() const { return status >= 400 && status < 500 && status != 408 && status != 429; }
  unsigned status;
};

LokiRefused refusal(unsigned status, std::string body, const std::string& url) {
  body = trimmed(std::move(body));
  std::string msg;
  if (status == 401 && body.find("no org id") != std::string::npos)
    msg = "Loki is multi-tenant and no tenant was given (401 \"no org id\"): add --tenant NAME (sent as X-Scope-OrgID)";
  else if (status == 401)
    msg = fmt::format("Loki refused the credentials (401 {}): check --user/--password or --bearer-token-file", body);
  else if (status == 403)
    msg = fmt::format("Loki forbids this (403 {}): check --tenant and what the credentials may read", body);
  else if (status == 400)
    msg = fmt::format("Loki rejected the request (400): {}. Fix --query (a LogQL log query such as "
                      "'{{namespace=\"dapr-system\"}}') or lower --limit",
                      body);
  else if (status == 404)
    msg = fmt::format("no Loki API at {} (404): check --url, with the path prefix if Loki is behind one", redact_url(url));
  else
    msg = fmt::format("Loki answered {}: {}", status, body.empty() ? "(no text)" : body);
  return LokiRefused(status, msg);
}

/// Why a tail ended, for the log line and the backoff.
struct TailEnd {
  std::string why;
  bool delivered = false;  // it brought entries: the next failure starts the backoff over
};

class LokiSource final : public LiveSource {
 public:
  LokiSource(asio::any_io_executor executor, LokiOptions options)
      : options_(std::move(options)), url_(parse_url(options_.url)), ssl_(ssl::context::tls_client),
        random_(std::random_device{}()) {
    (void)executor;
    if (options_.query.empty()) throw FatalSourceError("loki needs --query, a LogQL selector such as '{namespace=\"dapr-system\"}'");
    if (options_.limit == 0) options_.limit = 1;
    for (const std::string& h : options_.headers) {
      const std::size_t colon = h.find(':');
      if (colon == std::string::npos || colon == 0)
        throw FatalSourceError("--header '" + h + "' is not 'Name: value'");
    }
    if (!options_.bearer_token_file.empty()) bearer_token();  // unreadable: say so now, not at the first reconnect
    if (url_.tls) {
      if (!options_.ca_file.empty()) {
        boost::system::error_code ec;
        ssl_.load_verify_file(options_.ca_file, ec);
        if (ec) throw FatalSourceError("--ca-file " + options_.ca_file + ": " + ec.message());
      } else {
        ssl_.set_default_verify_paths();
      }
      ssl_.set_verify_mode(options_.insecure_skip_verify ? ssl::verify_none : ssl::verify_peer);
    }
  }

  awaitable<void> run(Intake& out) override {
    out.connected(kSourceName, false);
    if (url_.tls && options_.insecure_skip_verify)
      out.notice("loki_insecure", "warning: --insecure-skip-verify: Loki's certificate is not checked; anyone on the path can read and forge these logs");
    // One small query first, so that a wrong tenant, credential or query stops the run with
    // Loki's own words instead of a tail that retries forever. A Loki that is not up yet is
    // waited for (a sidecar may start first); a replay gives up after a few tries.
    for (int failures = 0;; ++failures) {
      std::string why;
      try {
        const Nanos now = wall_now();
        co_await query_page(now - kNanosPerSecond, now, 1);
        break;
      } catch (const LokiRefused& e) {
        if (e.about_configuration()) throw FatalSourceError(e.what());
        why = e.what();
      } catch (const boost::system::system_error& e) {
        why = e.code().message();
      } catch (const std::runtime_error& e) {
        why = e.what();
      }
      why = fmt::format("cannot reach Loki at {}: {}", redact_url(options_.url), why);
      if (why.find("certificate verify failed") != std::string::npos)
        why += " (give the CA that signed Loki's certificate with --ca-file)";
      if (!options_.follow && failures >= 4) throw std::runtime_error(why);
      const Nanos wait = backoff();
      out.notice("loki_errors", fmt::format("loki: {}; retrying in {}", why, format_ms(wait)));
      co_await sleep(wait);
    }
    attempt_ = 0;

    Nanos cursor = settled_now();
    if (options_.from) {
      const Nanos to = options_.to.value_or(settled_now());
      co_await checked_at_startup([&]() -> awaitable<void> { co_await fill_until_done(out, *options_.from, to); });
      if (!options_.follow) co_return;
      cursor = to;
    }
    started_ = true;
    for (;;) {
      const TailEnd end = co_await tail(out, cursor);
      out.connected(kSourceName, false);
      if (end.delivered) attempt_ = 0;
      const Nanos wait = backoff();
      out.notice("loki_reconnects", fmt::format("loki: the tail ended ({}); reconnecting in {} and filling the gap",
                                                end.why, format_ms(wait)));
      co_await sleep(wait);
      // Where the tail stood: everything before `cursor` came from the last fill, and the tail
      // delivered what Loki had until it last spoke. Resuming a little earlier costs a few
      // repeated entries, which the memory drops.
      const Nanos from = std::max(cursor, heard_until_ - options_.resume_lookback);
      cursor = co_await fill_until_done(out, from, settled_now());
    }
  }

 private:
  /// The instant up to which Loki is taken to hold every entry: log shippers batch lines (about a
  /// second), so entries younger than ingest_delay may still arrive. The tail opened there sends
  /// them (its history, then live).
  Nanos settled_now() const { return wall_now() - options_.ingest_delay; }

  // --- the gap fill and the replay: forward query_range pages --------------------------------

  /// Fills [from, to), retrying until done (following) or a few times (replay). Returns `to`.
  awaitable<Nanos> fill_until_done(Intake& out, Nanos from, Nanos to) {
    int failures = 0;
    for (;;) {
      std::string why;
      try {
        co_await fill(out, from, to);
        co_return to;
      } catch (const LokiRefused& e) {
        if (e.about_configuration() && !started_) throw;
        why = e.what();
      } catch (const boost::system::system_error& e) {
        why = e.code().message();
      } catch (const std::runtime_error& e) {
        why = e.what();
      }
      if (!options_.follow && ++failures >= 5) throw std::runtime_error("loki: the replay failed 5 times: " + why);
      const Nanos wait = backoff();
      out.notice("loki_errors", fmt::format("loki: query_range failed ({}); retrying in {}", why, format_ms(wait)));
      co_await sleep(wait);
      from = std::max(from, fill_resume_);
    }
  }

  /// Delivers [from, to) in time order, page by page. On failure, fill_resume_ says where to
  /// resume (the start of the page that failed).
  awaitable<void> fill(Intake& out, Nanos from, Nanos to) {
    Nanos start = from;
    fill_resume_ = start;
    while (start < to) {
      LokiBatch page = co_await query_page(start, to, options_.limit);
      std::size_t fresh = 0;
      for (const LokiEntry& e : page.entries) fresh += deliver(out, page, e, EntryMemory::Older::seen);
      if (page.entries.size() < options_.limit) co_return;  // the window is exhausted
      const Nanos last = page.entries.back().time;
      if (last == start && fresh == 0) {
        // More than `limit` entries at one nanosecond: Loki cannot page past them.
        out.notice("loki_skipped_instants",
                   fmt::format("warning: loki: more than {} entries at {}; the rest of that nanosecond is skipped "
                               "(raise --limit up to Loki's max_entries_limit_per_query)",
                               options_.limit, format_rfc3339_nano(last)));
        start = last + 1;
      } else {
        start = last;  // inclusive: its entries already delivered are dropped by the memory
      }
      fill_resume_ = start;
    }
  }

  awaitable<LokiBatch> query_page(Nanos start, Nanos end, std::uint32_t limit) {
    const std::string target = fmt::format("{}/loki/api/v1/query_range?query={}&start={}&end={}&limit={}&direction=forward",
                                           url_.prefix, url_encode(options_.query), start, end, limit);
    auto [status, body] = co_await get(target);
    if (status != 200) throw refusal(status, std::move(body), options_.url);
    LokiBatch page;
    std::string error;
    if (!parse_query_range(body, page, error)) throw std::runtime_error("Loki's query_range answer held " + error);
    co_return page;
  }

  awaitable<std::pair<unsigned, std::string>> get(const std::string& target) {
    auto executor = co_await asio::this_coro::executor;
    http::request<http::empty_body> req{http::verb::get, target, 11};
    add_headers(req);
    if (url_.tls) {
      beast::ssl_stream<beast::tcp_stream> stream(executor, ssl_);
      co_await connect(beast::get_lowest_layer(stream));
      prepare_tls(stream);
      co_await stream.async_handshake(ssl::stream_base::client, use_awaitable);
      co_return co_await exchange(stream, req);
    }
    beast::tcp_stream stream(executor);
    co_await connect(stream);
    co_return co_await exchange(stream, req);
  }

  template <class Stream>
  awaitable<std::pair<unsigned, std::string>> exchange(Stream& stream, http::request<http::empty_body>& req) {
    beast::get_lowest_layer(stream).expires_after(as_duration(options_.request_timeout));
    co_await http::async_write(stream, req, use_awaitable);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBodyBytes);
    co_await http::async_read(stream, buffer, parser, use_awaitable);
    auto res = parser.release();
    co_return std::pair{res.result_int(), std::move(res.body())};
  }

  // --- the tail -------------------------------------------------------------------------------

  awaitable<TailEnd> tail(Intake& out, Nanos start) {
    const std::string target = fmt::format("{}/loki/api/v1/tail?query={}&start={}&limit={}", url_.prefix,
                                           url_encode(options_.query), start, options_.tail_limit);
    heard_until_ = wall_now();
    TailEnd end;
    try {
      auto executor = co_await asio::this_coro::executor;
      if (url_.tls) {
        websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(executor, ssl_);
        co_await connect(beast::get_lowest_layer(ws));
        prepare_tls(ws.next_layer());
        co_await ws.next_layer().async_handshake(ssl::stream_base::client, use_awaitable);
        co_await read_tail(ws, out, target, end);
      } else {
        websocket::stream<beast::tcp_stream> ws(executor);
        co_await connect(beast::get_lowest_layer(ws));
        co_await read_tail(ws, out, target, end);
      }
    } catch (const LokiRefused& e) {
      end.why = e.what();
    } catch (const boost::system::system_error& e) {
      if (end.why.empty()) end.why = e.code() == beast::error::timeout ? "no data or ping for " + format_ms(options_.idle_timeout) : e.code().message();
    } catch (const std::runtime_error& e) {
      end.why = e.what();
    }
    co_return end;
  }

  template <class Ws>
  awaitable<void> read_tail(Ws& ws, Intake& out, const std::string& target, TailEnd& end) {
    beast::get_lowest_layer(ws).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = kConnectTimeout;
    timeouts.idle_timeout = as_duration(options_.idle_timeout);
    timeouts.keep_alive_pings = true;  // our pings get pongs even when Loki's own pings are late
    ws.set_option(timeouts);
    ws.set_option(websocket::stream_base::decorator([this](websocket::request_type& req) { add_headers(req); }));
    ws.read_message_max(kMaxBodyBytes);
    websocket::response_type res;
    try {
      co_await ws.async_handshake(res, host_header(), target, use_awaitable);
    } catch (const boost::system::system_error& e) {
      if (e.code() == websocket::error::upgrade_declined) throw refusal(res.result_int(), res.body(), options_.url);
      throw;
    }
    out.connected(kSourceName, true);
    // A re-opened tail first sends entries since `start`, which lies ingest_delay back: some of
    // them the previous tail delivered. Entries stamped before the tail opened are therefore
    // judged as a resumed query judges them; later ones that arrive out of order are new.
    const Nanos opened = wall_now();
    beast::flat_buffer buffer;
    LokiBatch frame;
    std::string error;
    bool said_bad_frame = false;
    for (;;) {
      try {
        co_await ws.async_read(buffer, use_awaitable);
      } catch (const boost::system::system_error& e) {
        if (e.code() == websocket::error::closed) {
          const auto& reason = ws.reason();
          const std::string text(reason.reason.data(), reason.reason.size());
          end.why = fmt::format("Loki closed it: {} {}", unsigned(reason.code), text.empty() ? "(no reason)" : text);
        }
        throw;
      }
      heard_until_ = wall_now();
      const std::string_view text(static_cast<const char*>(buffer.data().data()), buffer.size());
      if (!parse_tail_frame(text, frame, error)) {
        // Not a frame Loki would send: say it once per tail and read on.
        out.notice("loki_bad_frames", said_bad_frame ? std::string() : "warning: loki: the tail sent " + error + "; skipped (counted as loki_bad_frames)");
        said_bad_frame = true;
      } else {
        for (const LokiEntry& e : frame.entries)
          end.delivered |= deliver(out, frame, e, e.time < opened ? EntryMemory::Older::seen : EntryMemory::Older::deliver);
        note_dropped(out, frame.dropped_entries);
      }
      buffer.consume(buffer.size());
    }
  }

  void note_dropped(Intake& out, std::uint64_t dropped) {
    if (dropped == 0) {
      in_drop_burst_ = false;
      return;
    }
    // Said once per burst (frames in a row that report drops), counted always.
    const std::string message = in_drop_burst_ ? std::string()
        : fmt::format("warning: loki: Loki dropped {} entries of the tail (it could not send them fast enough); "
                      "they are counted as loki_dropped_entries", dropped);
    in_drop_burst_ = true;
    out.notice("loki_dropped_entries", message, dropped);
  }

  // --- shared pieces --------------------------------------------------------------------------

  bool deliver(Intake& out, const LokiBatch& batch, const LokiEntry& e, EntryMemory::Older older) {
    const LokiStream& stream = batch.streams[e.stream];
    if (!memory_.admit(stream.key, e.time, e.line, older)) return false;
    // Another shard's entry was new all the same: paging and the tail's liveness count it.
    if (options_.shards > 1 && !in_shard(stream)) return true;
    out.line(stream.key, e.line, e.time, stream.labels);
    return true;
  }

  bool in_shard(const LokiStream& stream) {
    if (shard_of_.size() > 100'000) shard_of_.clear();  // streams of pods long gone
    auto [it, fresh] = shard_of_.try_emplace(stream.key, false);
    if (fresh) it->second = stream_shard_hash(stream.labels) % options_.shards == options_.shard;
    return it->second;
  }

  /// Runs a startup step; Loki refusing the configuration is fatal, anything else is thrown on.
  template <class Step>
  awaitable<void> checked_at_startup(Step step) {
    try {
      co_await step();
    } catch (const LokiRefused& e) {
      if (e.about_configuration()) throw FatalSourceError(e.what());
      throw;
    }
  }

  awaitable<void> connect(beast::tcp_stream& stream) {
    tcp::resolver resolver(co_await asio::this_coro::executor);
    stream.expires_after(kConnectTimeout);
    auto endpoints = co_await resolver.async_resolve(url_.host, url_.port, use_awaitable);
    co_await stream.async_connect(endpoints, use_awaitable);
  }

  void prepare_tls(beast::ssl_stream<beast::tcp_stream>& stream) {
    SSL* ssl = stream.native_handle();
    boost::system::error_code not_ip;
    asio::ip::make_address(url_.host, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(ssl, url_.host.c_str());  // SNI carries names only
    if (options_.insecure_skip_verify) return;
    // The certificate must name the host of --url: a DNS name, or an IP address in its SANs.
    if (not_ip) SSL_set1_host(ssl, url_.host.c_str());
    else X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url_.host.c_str());
  }

  std::string host_header() const {
    const bool default_port = (url_.tls && url_.port == "443") || (!url_.tls && url_.port == "80");
    return default_port ? url_.host : url_.host + ":" + url_.port;
  }

  std::string bearer_token() const {
    std::ifstream in(options_.bearer_token_file);
    if (!in) throw FatalSourceError("--bearer-token-file " + options_.bearer_token_file + " cannot be read");
    std::stringstream s;
    s << in.rdbuf();
    return trimmed(s.str(), std::string::npos);
  }

  template <class Fields>
  void add_headers(Fields& req) const {
    req.set(http::field::host, host_header());
    req.set(http::field::user_agent, "klaxon");
    if (!options_.tenant.empty()) req.set("X-Scope-OrgID", options_.tenant);
    if (!options_.user.empty() || !options_.password.empty())
      req.set(http::field::authorization, "Basic " + base64(options_.user + ":" + options_.password));
    if (!options_.bearer_token_file.empty()) req.set(http::field::authorization, "Bearer " + bearer_token());
    for (const std::string& h : options_.headers) {
      const std::size_t colon = h.find(':');
      std::string value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      req.set(h.substr(0, colon), value);
    }
  }

  /// Exponential backoff with full jitter (half to all of the step), so that many klaxons do not
  /// reconnect to one Loki in step.
  Nanos backoff() {
    Nanos step = options_.reconnect_min;
    for (int i = 0; i < attempt_ && step < options_.reconnect_max; ++i) step *= 2;
    step = std::min(step, options_.reconnect_max);
    ++attempt_;
    return std::uniform_int_distribution<Nanos>(step / 2, step)(random_);
  }

  awaitable<void> sleep(Nanos n) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(as_duration(n));
    co_await timer.async_wait(use_awaitable);
  }

  LokiOptions options_;
  Url url_;
  ssl::context ssl_;
  std::mt19937_64 random_;
  EntryMemory memory_;
  std::unordered_map<std::string, bool> shard_of_;  // stream key -> in this shard
  Nanos heard_until_ = 0;  // wall time the tail last sent a frame (or opened)
  Nanos fill_resume_ = 0;  // where a failed fill resumes
  int attempt_ = 0;        // failures since the last tail that delivered
  bool in_drop_burst_ = false;
  bool started_ = false;   // past startup: refusals are retried, not fatal
};

}  // namespace

std::uint64_t stream_shard_hash(const std::vector<std::pair<std::string, std::string>>& labels) {
  std::vector<std::pair<std::string, std::string>> sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  std::uint64_t h = 14695981039346656037ull;  // FNV-1a 64: offset basis, then prime
  auto add = [&h](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  };
  for (const auto& [name, value] : sorted) {
    add(name);
    add("=");
    add(value);
    add("\n");
  }
  return h;
}

std::unique_ptr<LiveSource> make_loki_source(boost::asio::any_io_executor executor, LokiOptions options) {
  return std::make_unique<LokiSource>(std::move(executor), std::move(options));
}

}  // namespace klaxon::sources
