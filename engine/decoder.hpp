// engine/decoder.hpp — from a raw line to a Record.
//
// Envelopes first (engine/envelope.hpp, and Docker's json-file `{"log":...}` here since it
// needs a JSON parser), then the payload: JSON (simdjson on-demand), klog, logfmt, tracing
// text (Linkerd's proxy, Rust services) or plain text. Broken JSON is read as plain text and
// counted: a bad line is data, never an error. The decoder is only run on lines that passed
// the prefilter, so it may copy and allocate.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "engine/record.hpp"

namespace klaxon {

class Decoder {
 public:
  Decoder();
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  /// Decodes `line` into `out` (cleared first; labels already in `out` are kept).
  /// `context_year` dates klog's year-less headers when no envelope time is present.
  /// Lifetime: `out`'s views point into `line` and into this decoder; they are valid until the
  /// next call. Thread safety: one Decoder per thread.
  void decode(std::string_view line, Record& out, int context_year);

  /// Lines that looked like JSON (payload or Docker envelope) but did not parse.
  std::uint64_t malformed_json() const { return malformed_json_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint64_t malformed_json_ = 0;
};

}  // namespace klaxon
