// fuzz/stream_fuzz.cpp — bytes of a log stream, as a follow or a pipe delivers them.
//
// Everything one stream's bytes go through: LineFramer (any chunking, a small line limit so
// truncation is reached), kubectl's prefix and timestamp, the CRI envelope and the joining of
// `P` pieces, Docker's json-file envelope, every payload decoder and the built-in rules. The
// threaded replay's path (scan_block then feed_scanned) must say the same as feed(): the
// fuzzer checks that too, since "the output is the same for any --threads" is a promise.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_support.hpp"

namespace {

using namespace klaxon;

std::vector<std::string> run(const Matcher& m, std::string_view bytes, std::size_t chunk, std::size_t max_line,
                             bool scanned) {
  std::vector<std::string> seen;
  StreamOptions options;
  options.max_line_bytes = max_line;
  options.now = [] { return Nanos{1'700'000'000} * kNanosPerSecond; };
  StreamClassifier s(m, "fuzz", {{"namespace", "fuzz"}}, options, [&](const ClassifiedLine& l) {
    // Not the time: a line without a year (klog, syslog) takes the year of the lines before it,
    // and the threaded path learns it only from the lines that matched (bench/README.md).
    seen.push_back(std::to_string(l.line_no) + " " + l.rule.id);
  });
  if (scanned) {
    // Whole lines to the block path, the unterminated tail through feed().
    const std::size_t last = bytes.rfind('\n');
    const std::string_view block = last == std::string_view::npos ? std::string_view{} : bytes.substr(0, last + 1);
    BlockScratch scratch;
    if (!block.empty()) s.feed_scanned(block, StreamClassifier::scan_block(m, block, max_line, scratch));
    s.feed(bytes.substr(block.size()));
  } else {
    for (std::size_t i = 0; i < bytes.size(); i += chunk) s.feed(bytes.substr(i, chunk));
  }
  s.finish();
  return seen;
}

}  // namespace

// The rules compile once, before the first input, outside its time limit.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  klaxon::fuzz::builtin_matcher();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Matcher& matcher = fuzz::builtin_matcher();
  if (size < 1) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  const std::size_t max_line = (data[0] & 0x80) ? 96 : LineFramer::kDefaultMaxLineBytes;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto whole = run(matcher, bytes, bytes.size() ? bytes.size() : 1, max_line, false);
  const auto pieces = run(matcher, bytes, chunk, max_line, false);
  const auto scanned = run(matcher, bytes, 0, max_line, true);
  if (pieces != whole || scanned != whole) std::abort();  // chunking or threads changed what was found
  return 0;
}
