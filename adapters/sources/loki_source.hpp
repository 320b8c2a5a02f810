// adapters/sources/loki_source.hpp — `klaxon loki`: Loki's tail that never loses or repeats a
// line, and replay of a time window.
//
// Loki's own tail client loses and repeats lines: the server closes every tail after
// tail_max_duration (1011 "reached tail max duration limit"), and a client that resumes with
// `start` = last timestamp repeats that line and loses what exceeds `limit`. This source keeps
// the tail over WebSocket (`/loki/api/v1/tail`) and, on ANY end of it (a close frame of any
// code, a reset, pings that stop), waits with backoff and jitter, fills the gap with forward
// `/loki/api/v1/query_range` pages from where the tail stood, and re-opens the tail at the
// instant the fill ended. Entries repeated at a resumed page's first instant are dropped per
// stream and line (EntryMemory). Replay (`--since`, `--from/--to`) is the same fill, then stops
// or hands over to the tail.
//
// Each Loki stream is one klaxon stream: its key is the label set (`{app="x", pod="y"}`), its
// labels are the stream labels, each entry's timestamp is the line's time.
//
// Shards (`--shard I/N`): N klaxons split one query's streams, each keeping the streams whose
// label set hashes to I modulo N (stream_shard_hash: the same on every machine and in every
// version, so a restarted or upgraded shard keeps its streams). Each still runs the whole
// query against Loki and drops the other shards' entries: sharding divides matching and
// incident state, not Loki's work. A stream is whole in one shard, so its lines stay in order
// and its incidents in one place.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "adapters/sources/live_source.hpp"

namespace klaxon::sources {

struct LokiOptions {
  std::string url;    // http(s):// or ws(s):// host[:port][/path prefix]
  std::string query;  // a LogQL log query: {namespace="dapr-system"} |= "x509"
  // Who klaxon is to Loki.
  std::string tenant;             // X-Scope-OrgID
  std::string user, password;     // basic auth
  std::string bearer_token_file;  // read at every connection (projected tokens rotate)
  std::vector<std::string> headers;  // "Name: value"
  std::string ca_file;
  bool insecure_skip_verify = false;
  // What to read: a window [from, to) replayed first (none: tail from now), then the tail if follow.
  std::optional<Nanos> from, to;
  bool follow = true;
  std::uint32_t limit = 5000;       // entries per query_range page (Loki's default max_entries_limit_per_query)
  std::uint32_t tail_limit = 5000;  // entries a (re)opened tail sends from before it opened
  Nanos ingest_delay = 2 * kNanosPerSecond;  // lines this young may not be in Loki yet (shippers batch)
  // Patience.
  Nanos reconnect_min = 250'000'000;        // backoff after the first failure; doubles
  Nanos reconnect_max = 30 * kNanosPerSecond;
  Nanos idle_timeout = 30 * kNanosPerSecond;  // Loki pings every second; silence this long = dead tail
  Nanos request_timeout = 60 * kNanosPerSecond;
  Nanos resume_lookback = 30 * kNanosPerSecond;  // a gap fill starts this long before the tail last spoke
  // --shard I/N: keep only the streams of shard I of N (N = 1: every stream).
  std::uint32_t shard = 0, shards = 1;
};

/// The shard hash of a stream: 64-bit FNV-1a over `name=value\n` for each label, sorted by name
/// (then value), in bytes as Loki sends them. Fixed forever: changing it moves streams between
/// shards of a running fleet.
std::uint64_t stream_shard_hash(const Labels& labels);

/// Errors: FatalSourceError for a URL klaxon cannot use (thrown here) and, from run(), for what
/// Loki refuses at startup (401, 403, "no org id", a malformed query: Loki's own text is shown).
/// Later refusals and every network failure are said, counted and retried: run() never returns
/// while following. Thread safety: one event loop.
std::unique_ptr<LiveSource> make_loki_source(boost::asio::any_io_executor executor, LokiOptions options);

}  // namespace klaxon::sources
