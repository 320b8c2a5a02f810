// adapters/sources/loki_push_decoder.hpp — a Loki push body (JSON or protobuf) to owned entries.
//
// Loki's push API (POST /loki/api/v1/push) is what Promtail, Grafana Alloy and the `loki` outputs
// of Vector and Fluent Bit speak. Two bodies exist: `application/x-protobuf` (Loki's push.proto,
// raw snappy block compression, the default of every agent) and `application/json`
// (`{"streams":[{"stream":{"a":"b"},"values":[["<unix ns>","line"(,{metadata})]]}]}`), either
// optionally wrapped in gzip or deflate (`Content-Encoding`). Stream labels in protobuf are a
// LogQL selector string (`{app="x", ns="y"}`), parsed here.
//
// The decoder is pure (no I/O) so every bad body can be tested byte by byte, and it decodes the
// whole body before anything is fed: a bad request is rejected whole and touches no stream.
// Errors: a PushError with the HTTP status to answer (400 malformed, 413 too large, 415 wrong
// content type or encoding) and a short message saying what is wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "engine/labels.hpp"

namespace klaxon::sources {

struct PushEntry {
  std::int64_t time_ns = 0;  // unix ns, as the client stamped it
  std::string line;
};

struct PushStream {
  Labels labels;  // sorted by name
  std::vector<PushEntry> entries;
};

struct PushError {
  unsigned status = 400;  // HTTP status to answer
  std::string message;
};

/// What the body was, for the operator's counters.
enum class PushFormat { protobuf, json };

struct PushRequestBody {
  PushFormat format = PushFormat::protobuf;
  std::vector<PushStream> streams;
};

/// Decodes one push body. `content_type` and `content_encoding` are the request's headers
/// (empty when absent; an absent type means protobuf, as in Loki). `max_bytes` bounds the body
/// after every decompression step (gzip bombs and snappy lengths are checked before allocating).
std::variant<PushRequestBody, PushError> decode_push_body(std::string_view body, std::string_view content_type,
                                                          std::string_view content_encoding, std::size_t max_bytes);

/// Parses a LogQL stream selector with equality matchers only: `{a="b", c="d"}` (Go-quoted
/// values). Returns nullopt when it is not one. Labels come back sorted by name.
std::optional<Labels> parse_label_selector(std::string_view text);

/// The canonical selector text of sorted labels, `{a="b", c="d"}`: the stream's key.
std::string format_label_selector(const Labels& labels);

}  // namespace klaxon::sources
