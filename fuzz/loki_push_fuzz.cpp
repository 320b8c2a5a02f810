// fuzz/loki_push_fuzz.cpp — a Loki push request body, as any client on the network may send it.
//
// The first byte picks the headers and how the rest is wrapped. Raw modes hand the bytes to
// decode_push_body as they are (bad snappy, bad gzip, bad protobuf, bad JSON); wrapping modes
// compress the bytes first (snappy, gzip, deflate) so the fuzzer reaches the protobuf and JSON
// parsers behind the compression instead of stopping at its checksum. The body bound is small
// so the size checks are reached; the label selector parser gets the bytes too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <snappy.h>
#include <zlib.h>

#include "adapters/sources/loki_push_decoder.hpp"

namespace {

// zlib's deflate with the given window bits (31 = gzip, 15 = zlib, -15 = raw deflate).
std::string deflate_with(std::string_view in, int window_bits) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace klaxon::sources;
  if (size < 1) return 0;
  const unsigned mode = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string body(rest);
  std::string_view type, encoding;
  switch (mode % 8) {
    case 0: type = "application/x-protobuf"; snappy::Compress(rest.data(), rest.size(), &body); break;
    case 1: type = "application/x-protobuf"; break;
    case 2: type = "application/json"; break;
    case 3: type = "application/json"; encoding = "gzip"; body = deflate_with(rest, 31); break;
    case 4: type = "application/json"; encoding = "deflate"; body = deflate_with(rest, (mode & 0x80) ? -15 : 15); break;
    case 5: {
      std::string packed;
      snappy::Compress(rest.data(), rest.size(), &packed);
      encoding = "gzip";
      body = deflate_with(packed, 31);
      break;
    }
    case 6: encoding = (mode & 0x80) ? "gzip" : "deflate"; break;  // no type: protobuf, as in Loki
    case 7: type = (mode & 0x80) ? "text/plain" : "application/json; charset=utf-8"; encoding = "br"; break;
  }
  const std::size_t max_bytes = (mode & 0x40) ? 64 : 1 << 20;
  const auto decoded = decode_push_body(body, type, encoding, max_bytes);
  if (const auto* ok = std::get_if<PushRequestBody>(&decoded)) {
    for (const PushStream& s : ok->streams) (void)format_label_selector(s.labels);
  }
  if (const auto labels = parse_label_selector(rest)) {
    // A selector we print must read back as the same labels.
    const auto again = parse_label_selector(format_label_selector(*labels));
    if (!again || *again != *labels) __builtin_trap();
  }
  return 0;
}
