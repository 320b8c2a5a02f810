// engine/envelope.hpp — what wraps a log line on its way to us.
//
// `kubectl logs --prefix` puts `[pod/NAME/CONTAINER] ` in front, `--timestamps` an RFC3339Nano
// instant and a space; the kubelet's CRI files hold `<RFC3339Nano> stdout|stderr F|P <msg>`, with
// `P` marking a piece of a longer line. These layers nest in that order (prefix outermost) and
// any may be missing. Docker's json-file envelope needs a JSON parser and is peeled by Decoder;
// what is here of it is only the shape of a record cut in pieces, which is found without one.
#pragma once

#include <optional>
#include <string_view>

#include "engine/civil_time.hpp"

namespace klaxon {

struct Envelope {
  std::string_view payload;    ///< the line inside every envelope found
  Nanos time = 0;              ///< from `--timestamps` or CRI; 0 = none
  std::string_view pod;        ///< from `--prefix`
  std::string_view container;  ///< from `--prefix`
  std::string_view stream;     ///< `stdout` / `stderr` from CRI
  bool partial = false;        ///< CRI `P`: the line continues in the next record of the stream
};

/// Peels kubectl's prefix and timestamp and the CRI envelope. Never fails: a line with no
/// envelope comes back whole as the payload. Lifetime: views into `line`.
Envelope peel_envelope(std::string_view line) noexcept;

/// A record of Docker's json-file driver, `{"log":"<JSON-escaped text>","stream":"stdout",...}`,
/// as Docker writes it (that key order). A line longer than 16 KiB is written as several records:
/// every one but the last is a piece, whose text does not end in `\n`.
struct DockerRecord {
  std::string_view text;    ///< the escaped text, between `{"log":"` and its closing quote
  std::string_view stream;  ///< `stdout` / `stderr` (empty when the record does not say)
  bool piece = false;       ///< the line goes on in the next record of the stream
};
/// The record `line` is; nullopt when it is not one. Lifetime: views into `line`.
std::optional<DockerRecord> peel_docker_record(std::string_view line) noexcept;
/// False when `block` (lines) certainly holds no json-file piece. Cheap: one search.
bool may_hold_docker_piece(std::string_view block) noexcept;

}  // namespace klaxon
