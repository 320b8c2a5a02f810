// fuzz/loki_tail_fuzz.cpp — what a Loki server (or anything answering in its place) sends.
//
// A tail frame and a query_range page are parsed from the same bytes; entries that parse are
// run through the de-duplicating memory as a resumed query would.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "adapters/sources/loki_entries.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace klaxon::sources;
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  static EntryMemory memory;
  std::string error;
  for (const bool tail : {true, false}) {
    LokiBatch batch;
    if (!(tail ? parse_tail_frame(json, batch, error) : parse_query_range(json, batch, error))) continue;
    for (const LokiEntry& e : batch.entries) {
      if (e.stream >= batch.streams.size()) __builtin_trap();
      (void)memory.admit(batch.streams[e.stream].key, e.time, e.line,
                         tail ? EntryMemory::Older::deliver : EntryMemory::Older::seen);
    }
  }
  return 0;
}
