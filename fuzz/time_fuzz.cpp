// fuzz/time_fuzz.cpp — durations and instants as log lines and flags write them.
//
// parse_duration_seconds reads `2 days and 15 hours`, Go's `62h59m59.9s` and `7d`;
// parse_rfc3339_prefix and parse_instant read the instants of envelopes, payloads and flags.
// What parses must format back without overflow (UBSan checks the arithmetic), and an instant
// formatted must parse back to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/civil_time.hpp"
#include "engine/duration.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace klaxon;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto seconds = parse_duration_seconds(text)) (void)format_duration(*seconds);
  std::size_t used = 0;
  if (const auto t = parse_rfc3339_prefix(text, &used)) {
    if (used > text.size()) std::abort();
    const auto again = parse_rfc3339_prefix(format_rfc3339_nano(*t));
    if (!again || *again != *t) std::abort();  // an instant we read must print as itself
  }
  if (const auto t = parse_instant(text)) (void)format_rfc3339(*t);
  return 0;
}
