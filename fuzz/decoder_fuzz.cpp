// fuzz/decoder_fuzz.cpp — one line through every envelope and payload decoder.
//
// peel_envelope (kubectl prefix, timestamp, CRI) and Decoder (Docker json-file, JSON, klog,
// logfmt, tracing text, plain), without the prefilter in front, so lines the rules would never
// pick are decoded too. Every view the decoder hands back must lie inside the line or the
// decoder (ASan checks each byte read).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/decoder.hpp"
#include "engine/envelope.hpp"
#include "engine/record.hpp"

namespace {
// Reads every byte of a view, so that a view past its buffer is an ASan report.
unsigned touch(std::string_view v) {
  unsigned sum = 0;
  for (const char c : v) sum += static_cast<unsigned char>(c);
  return sum;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace klaxon;
  static Decoder decoder;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const Envelope e = peel_envelope(line);
  unsigned sum = touch(e.payload) + touch(e.pod) + touch(e.container) + touch(e.stream);
  Record record;
  decoder.decode(line, record, 2024);
  for (const Field& f : record.labels) sum += touch(f.name) + touch(f.value);
  for (const Field& f : record.fields) sum += touch(f.name) + touch(f.value);
  sum += touch(record.payload) + touch(record.message) + touch(record.level);
  static volatile unsigned keep;
  keep = keep + sum;  // the reads are not optimised away
  return 0;
}
