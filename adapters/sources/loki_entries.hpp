// adapters/sources/loki_entries.hpp — Loki's JSON (tail frames, query_range pages) as entries,
// and the memory that lets klaxon see every entry exactly once across reconnects.
//
// Loki answers a tail and a range query with the same stream shape:
//   {"streams":[{"stream":{"app":"x"},"values":[["<unix ns>","<line>"],...]}],"dropped_entries":[...]}
//   {"status":"success","data":{"resultType":"streams","result":[{"stream":{...},"values":[...]}]}}
// Lines are JSON strings (Loki escapes `<` as \u003c): parsing unescapes them. This part does no
// I/O, so the wire format and the de-duplication rule are tested without a server.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "adapters/sources/live_source.hpp"

namespace klaxon::sources {

/// One Loki stream: its label set, and the key klaxon files its lines under (`{a="1", b="2"}`,
/// names sorted, the way Loki prints a label set).
struct LokiStream {
  std::string key;
  Labels labels;
};

struct LokiEntry {
  std::size_t stream;  // index into LokiBatch::streams
  Nanos time;
  std::string line;    // unescaped
};

/// What one frame or page held, entries sorted by time (stable: a stream's order is kept), so
/// the streams of a batch are merged in time order.
struct LokiBatch {
  std::vector<LokiStream> streams;
  std::vector<LokiEntry> entries;
  std::uint64_t dropped_entries = 0;  // the tail's "dropped_entries" (it could not send them)
};

/// Parses a tail frame. Returns false (and says why in `error`) for anything that is not one.
bool parse_tail_frame(std::string_view json, LokiBatch& out, std::string& error);
/// Parses a query_range answer whose resultType is "streams".
bool parse_query_range(std::string_view json, LokiBatch& out, std::string& error);

/// Per stream: the newest timestamp delivered and hashes of the lines delivered at it. Enough to
/// drop what a resumed query repeats: Loki's `start` is inclusive, so a page that resumes at the
/// last timestamp seen begins with lines already delivered. Bounded: at most kMaxStreams
/// streams (the ones silent longest are forgotten first) and kMaxLinesPerInstant hashes each.
class EntryMemory {
 public:
  static constexpr std::size_t kMaxStreams = 100'000;
  static constexpr std::size_t kMaxLinesPerInstant = 4096;

  /// How entries older than the stream's newest are judged.
  enum class Older {
    deliver,  // a live tail: Loki accepts out-of-order writes and sends each once
    seen,     // a resumed range query: the tail already delivered the stream up to its newest
  };

  /// True when the entry is new (and remembers it); false for a repeat.
  bool admit(const std::string& stream, Nanos time, std::string_view line, Older older);

  /// The newest timestamp delivered on any stream (0 = none yet).
  Nanos newest() const { return newest_; }
  std::size_t streams() const { return by_stream_.size(); }

 private:
  struct Instant {
    Nanos time = 0;
    std::vector<std::uint64_t> hashes;
  };
  void forget_oldest();

  std::unordered_map<std::string, Instant> by_stream_;
  Nanos newest_ = 0;
};

}  // namespace klaxon::sources
