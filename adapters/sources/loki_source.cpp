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
// - Requests, the URL and TLS are adapters/net/'s, as for every peer of klaxon; the tail's
//   WebSocket keeps its own stream but connects and verifies through the same HttpClient.
// - Frames are handled as they arrive, on the event loop: Loki closes a tail whose client reads
//   slowly, and matching a frame costs far less than the network.
#include "adapters/sources/loki_source.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <exception>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/evp.h>

#include <fmt/format.h>

#include "adapters/net/asio.hpp"
#include "adapters/net/http_client.hpp"
#include "adapters/net/retry.hpp"
#include "adapters/net/url.hpp"
#include "adapters/sources/loki_entries.hpp"
#include "engine/civil_time.hpp"
#include "engine/printable.hpp"
#include "engine/trim.hpp"

namespace klaxon::sources {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::awaitable;
using asio::use_awaitable;

constexpr std::string_view kSourceName = "loki";
constexpr std::size_t kMaxBodyBytes = 512u << 20;
constexpr auto kConnectTimeout = net::HttpClient::kConnectTimeout;

std::chrono::nanoseconds as_duration(Nanos n) { return std::chrono::nanoseconds(n); }

std::string format_ms(Nanos n) {
  if (n < kNanosPerSecond) return fmt::format("{}ms", n / 1'000'000);
  return fmt::format("{:.1f}s", double(n) / double(kNanosPerSecond));
}

net::Url parse_loki_url(const std::string& text) {
  std::string error;
  std::optional<net::Url> url = net::parse_url(text, {"http", "https", "ws", "wss"}, error);
  if (!url) throw FatalSourceError("--url " + redact_url(text) + ": " + error + " (write Loki's address, e.g. http://loki:3100)");
  if (url->has_credentials)
    throw FatalSourceError("--url must not hold credentials: use --user/--password or --bearer-token-file");
  // The target is a path prefix (Loki behind a proxy): the API's paths are appended to it.
  while (!url->target.empty() && url->target.back() == '/') url->target.pop_back();
  return *std::move(url);
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
  text.resize(trim_right(text).size());
  if (text.size() > max) text = text.substr(0, max) + "...";
  return text;
}

/// Loki answered with something other than 200 / a WebSocket upgrade.
class LokiRefused : public std::runtime_error {
 public:
  LokiRefused(unsigned status, const std::string& message) : std::runtime_error(message), status(status) {}
  /// A refusal that retrying will not fix (credentials, tenant, query, URL).
  bool about_configuration() const { return net::permanent_status(status); }
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
      : options_(std::move(options)), url_(parse_loki_url(options_.url)),
        backoff_(std::chrono::nanoseconds(options_.reconnect_min), std::chrono::nanoseconds(options_.reconnect_max)) {
    (void)executor;
    if (options_.query.empty()) throw FatalSourceError("loki needs --query, a LogQL selector such as '{namespace=\"dapr-system\"}'");
    if (options_.limit == 0) options_.limit = 1;
    for (const std::string& h : options_.headers) {
      const std::size_t colon = h.find(':');
      if (colon == std::string::npos || colon == 0)
        throw FatalSourceError("--header '" + h + "' is not 'Name: value'");
    }
    if (!options_.bearer_token_file.empty()) bearer_token();  // unreadable: say so now, not at the first reconnect
    std::shared_ptr<const net::TlsClient> tls;
    if (url_.tls) {
      try {
        tls = std::make_shared<const net::TlsClient>(net::TlsClientOptions{options_.ca_file, options_.insecure_skip_verify});
      } catch (const std::runtime_error& e) {
        throw FatalSourceError(e.what());
      }
    }
    client_.emplace(url_, std::move(tls));
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
      co_await return_if_cancelled();
      why = fmt::format("cannot reach Loki at {}: {}", redact_url(options_.url), why);
      if (why.find("certificate verify failed") != std::string::npos)
        why += " (give the CA that signed Loki's certificate with --ca-file)";
      if (!options_.follow && failures >= 4) throw std::runtime_error(why);
      const Nanos wait = backoff();
      out.notice("loki_errors", fmt::format("loki: {}; retrying in {}", why, format_ms(wait)));
      co_await sleep(wait);
    }
    backoff_.reset();

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
      co_await return_if_cancelled();  // ended by shutdown, not by Loki: nothing to say
      out.connected(kSourceName, false);
      if (end.delivered) backoff_.reset();
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
      co_await return_if_cancelled();
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
    net::HttpRequest req;
    req.target = fmt::format("{}/loki/api/v1/query_range?query={}&start={}&end={}&limit={}&direction=forward",
                             url_.target, url_encode(options_.query), start, end, limit);
    req.headers = headers();
    net::HttpResult res = co_await client_->request(std::move(req), as_duration(options_.request_timeout), kMaxBodyBytes);
    if (!res.answered()) throw std::runtime_error(res.why());
    if (res.status != 200) throw refusal(res.status, std::move(res.body), options_.url);
    LokiBatch page;
    std::string error;
    if (!parse_query_range(res.body, page, error)) throw std::runtime_error("Loki's query_range answer held " + error);
    co_return page;
  }

  // --- the tail -------------------------------------------------------------------------------

  awaitable<TailEnd> tail(Intake& out, Nanos start) {
    const std::string target = fmt::format("{}/loki/api/v1/tail?query={}&start={}&limit={}", url_.target,
                                           url_encode(options_.query), start, options_.tail_limit);
    heard_until_ = wall_now();
    TailEnd end;
    try {
      auto executor = co_await asio::this_coro::executor;
      if (url_.tls) {
        websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(executor, client_->tls()->context());
        co_await connect(beast::get_lowest_layer(ws));
        boost::system::error_code ec;
        if (auto step = co_await client_->handshake(ws.next_layer(), ec)) throw std::runtime_error(client_->failure(*step, ec).why());
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
    ws.set_option(websocket::stream_base::decorator([this](websocket::request_type& req) {
      req.set(http::field::user_agent, "klaxon");
      for (const auto& [name, value] : headers()) req.set(name, value);
    }));
    ws.read_message_max(kMaxBodyBytes);
    websocket::response_type res;
    try {
      co_await ws.async_handshake(res, url_.host_header(), target, use_awaitable);
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

  /// Resolves and connects, as every request does; a failure is thrown with the step that failed.
  awaitable<void> connect(beast::tcp_stream& stream) {
    boost::system::error_code ec;
    if (auto step = co_await client_->connect(stream, ec)) throw std::runtime_error(client_->failure(*step, ec).why());
  }

  std::string bearer_token() const {
    std::ifstream in(options_.bearer_token_file);
    if (!in) throw FatalSourceError("--bearer-token-file " + options_.bearer_token_file + " cannot be read");
    std::stringstream s;
    s << in.rdbuf();
    return trimmed(s.str(), std::string::npos);
  }

  /// Who klaxon is to Loki, on every request and the tail's upgrade.
  net::Headers headers() const {
    net::Headers h;
    if (!options_.tenant.empty()) h.emplace_back("X-Scope-OrgID", options_.tenant);
    if (!options_.bearer_token_file.empty()) h.emplace_back("Authorization", "Bearer " + bearer_token());
    else if (!options_.user.empty() || !options_.password.empty())
      h.emplace_back("Authorization", "Basic " + base64(options_.user + ":" + options_.password));
    for (const std::string& line : options_.headers) {
      const std::size_t colon = line.find(':');
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      h.emplace_back(line.substr(0, colon), std::move(value));
    }
    return h;
  }

  /// Shutdown cancels run() (cli/run_live.cpp): a request or tail that ended because of it is
  /// no failure to say or retry; the source returns (by operation_aborted, as Asio does).
  static awaitable<void> return_if_cancelled() {
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) throw boost::system::system_error(asio::error::operation_aborted);
  }

  /// Exponential backoff with jitter (adapters/net/retry.hpp), so that many klaxons do not
  /// reconnect to one Loki in step.
  Nanos backoff() { return backoff_.next().count(); }

  awaitable<void> sleep(Nanos n) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(as_duration(n));
    co_await timer.async_wait(use_awaitable);
  }

  LokiOptions options_;
  net::Url url_;
  std::optional<net::HttpClient> client_;
  net::Backoff backoff_;
  EntryMemory memory_;
  std::unordered_map<std::string, bool> shard_of_;  // stream key -> in this shard
  Nanos heard_until_ = 0;  // wall time the tail last sent a frame (or opened)
  Nanos fill_resume_ = 0;  // where a failed fill resumes
  bool in_drop_burst_ = false;
  bool started_ = false;   // past startup: refusals are retried, not fatal
};

}  // namespace

std::uint64_t stream_shard_hash(const Labels& labels) {
  Labels sorted = labels;
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
