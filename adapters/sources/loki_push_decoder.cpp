// adapters/sources/loki_push_decoder.cpp — JSON (simdjson), protobuf (generated from
// loki_push.proto), snappy and zlib: libraries do the decoding, this file says what was wrong.
#include "adapters/sources/loki_push_decoder.hpp"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cstdio>

#include <fmt/format.h>
#include <simdjson.h>
#include <snappy.h>
#include <zlib.h>
#include <google/protobuf/stubs/logging.h>

#include "adapters/sources/loki_push.pb.h"
#include "engine/printable.hpp"

namespace klaxon::sources {
namespace {

std::string lower_trimmed(std::string_view s) {
  const std::size_t semi = s.find(';');  // "application/json; charset=utf-8"
  if (semi != std::string_view::npos) s = s.substr(0, semi);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return out;
}

// protobuf says why a body did not parse (a string field that is not UTF-8) in a log line of
// its own on stderr: one per bad request, outside the "first ten" cap of rejections, a flood.
// Its words go into the 400's reason instead, which is said and capped like every rejection.
thread_local std::string* protobuf_says = nullptr;  // set while this thread parses a body

void protobuf_log(google::protobuf::LogLevel level, const char*, int, const std::string& message) {
  if (protobuf_says) {
    if (protobuf_says->empty()) *protobuf_says = message.substr(0, message.find(". "));
    return;
  }
  if (level >= google::protobuf::LOGLEVEL_ERROR) std::fprintf(stderr, "klaxon: protobuf: %s\n", printable(message).c_str());
}

bool parse_push_request(const std::string& raw, logproto::PushRequest& request, std::string& why) {
  // Set once, before the first parse; SetLogHandler is not thread-safe, a function-local static is.
  [[maybe_unused]] static google::protobuf::LogHandler* const previous = google::protobuf::SetLogHandler(protobuf_log);
  protobuf_says = &why;
  const bool parsed = request.ParseFromString(raw);
  protobuf_says = nullptr;
  return parsed;
}

PushError too_large(std::size_t max_bytes) {
  return {413, fmt::format("the push body is larger than {} MiB once decompressed; send smaller batches "
                           "(Promtail batchsize, Alloy/Vector batch size)",
                           max_bytes >> 20)};
}

// gzip or deflate (zlib-wrapped, or raw as some clients send it), bounded by max_bytes.
std::variant<std::string, PushError> inflate_body(std::string_view in, bool gzip, std::size_t max_bytes) {
  for (const int window_bits : gzip ? std::vector<int>{16 + MAX_WBITS} : std::vector<int>{MAX_WBITS, -MAX_WBITS}) {
    z_stream z{};
    if (inflateInit2(&z, window_bits) != Z_OK) return PushError{500, "zlib could not start"};
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    std::string out;
    int rc = Z_OK;
    char buf[64 * 1024];
    while (rc == Z_OK) {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      rc = inflate(&z, Z_NO_FLUSH);
      out.append(buf, sizeof buf - z.avail_out);
      if (out.size() > max_bytes) {
        inflateEnd(&z);
        return too_large(max_bytes);
      }
      if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // input ended before the stream did
    }
    inflateEnd(&z);
    if (rc == Z_STREAM_END) return out;
  }
  return PushError{400, fmt::format("the body is not valid {} data (Content-Encoding says it is)", gzip ? "gzip" : "deflate")};
}

std::variant<PushRequestBody, PushError> decode_protobuf(std::string_view body, std::size_t max_bytes) {
  std::size_t raw_size = 0;
  if (!snappy::GetUncompressedLength(body.data(), body.size(), &raw_size))
    return PushError{400, "the body is not snappy-compressed protobuf (raw snappy block format, as Loki expects)"};
  if (raw_size > max_bytes) return too_large(max_bytes);
  std::string raw;
  if (!snappy::Uncompress(body.data(), body.size(), &raw))
    return PushError{400, "the snappy body is corrupt or truncated"};
  logproto::PushRequest request;
  if (std::string why; !parse_push_request(raw, request, why))
    return PushError{400, fmt::format("the body is not a Loki PushRequest (protobuf did not parse{}{})",
                                      why.empty() ? "" : ": ", why)};
  PushRequestBody out;
  out.format = PushFormat::protobuf;
  out.streams.reserve(request.streams_size());
  for (const logproto::StreamAdapter& s : request.streams()) {
    auto labels = parse_label_selector(s.labels());
    if (!labels)
      return PushError{400, fmt::format("stream labels {:?} are not a selector like {{app=\"x\"}}",
                                        s.labels().substr(0, 200))};
    PushStream stream{std::move(*labels), {}};
    stream.entries.reserve(s.entries_size());
    for (const logproto::EntryAdapter& e : s.entries())
      stream.entries.push_back({std::int64_t(e.timestamp().seconds()) * 1'000'000'000 + e.timestamp().nanos(), e.line()});
    out.streams.push_back(std::move(stream));
  }
  return out;
}

std::optional<std::int64_t> parse_ns(std::string_view s) {
  // Digits only (from_chars would take a sign), and no more than an int64 holds: a 19-digit
  // string can still overflow (found by fuzz/loki_push_fuzz under UBSan).
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  std::int64_t v = 0;
  const auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (error != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::variant<PushRequestBody, PushError> decode_json(std::string_view body) {
  using namespace simdjson;
  PushRequestBody out;
  out.format = PushFormat::json;
  const padded_string padded(body);
  ondemand::parser parser;
  auto bad = [](std::string_view what) {
    return PushError{400, fmt::format("malformed JSON push body: {} (expected "
                                      "{{\"streams\":[{{\"stream\":{{...}},\"values\":[[\"<unix ns>\",\"line\"]]}}]}})",
                                      what)};
  };
  try {
    ondemand::document doc = parser.iterate(padded);
    ondemand::object root = doc.get_object();
    for (auto field : root) {
      if (std::string_view(field.unescaped_key()) != "streams") continue;
      for (ondemand::object s : field.value().get_array()) {
        PushStream stream;
        bool have_values = false;
        for (auto sf : s) {
          const std::string_view key = sf.unescaped_key();
          if (key == "stream") {
            for (auto label : sf.value().get_object()) {
              std::string name(std::string_view(label.unescaped_key()));
              std::string value(std::string_view(label.value().get_string()));
              stream.labels.emplace_back(std::move(name), std::move(value));
            }
          } else if (key == "values") {
            have_values = true;
            for (ondemand::array v : sf.value().get_array()) {
              PushEntry entry;
              int i = 0;
              for (auto element : v) {
                if (i == 0) {
                  std::string_view ts;
                  if (element.type() == ondemand::json_type::string) ts = element.get_string();
                  else ts = element.raw_json_token();  // a bare number, which some clients send
                  auto ns = parse_ns(ts);
                  if (!ns) return bad(fmt::format("timestamp {:?} is not unix nanoseconds", ts.substr(0, 40)));
                  entry.time_ns = *ns;
                } else if (i == 1) {
                  entry.line = std::string(std::string_view(element.get_string()));
                }  // a third element is structured metadata: not used for matching
                ++i;
              }
              if (i < 2) return bad("a value needs [timestamp, line]");
              stream.entries.push_back(std::move(entry));
            }
          }
        }
        if (!have_values) return bad("a stream without \"values\"");
        std::sort(stream.labels.begin(), stream.labels.end());
        out.streams.push_back(std::move(stream));
      }
    }
  } catch (const simdjson_error& e) {
    return bad(error_message(e.error()));
  }
  return out;
}

}  // namespace

std::variant<PushRequestBody, PushError> decode_push_body(std::string_view body, std::string_view content_type,
                                                          std::string_view content_encoding, std::size_t max_bytes) {
  if (body.size() > max_bytes) return too_large(max_bytes);
  const std::string type = lower_trimmed(content_type);
  const bool json = type == "application/json";
  if (!json && !type.empty() && type != "application/x-protobuf")
    return PushError{415, fmt::format("Content-Type {:?} is not supported: send application/x-protobuf "
                                      "(snappy) or application/json",
                                      type.substr(0, 80))};
  const std::string encoding = lower_trimmed(content_encoding);
  std::string inflated;
  if (encoding == "gzip" || encoding == "deflate") {
    auto r = inflate_body(body, encoding == "gzip", max_bytes);
    if (auto* e = std::get_if<PushError>(&r)) return *e;
    inflated = std::move(std::get<std::string>(r));
    body = inflated;
  } else if (!encoding.empty() && encoding != "identity") {
    return PushError{415, fmt::format("Content-Encoding {:?} is not supported: use gzip, deflate or none",
                                      encoding.substr(0, 40))};
  }
  return json ? decode_json(body) : decode_protobuf(body, max_bytes);
}

std::optional<Labels> parse_label_selector(std::string_view text) {
  Labels out;
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  skip_space();
  if (i >= text.size() || text[i] != '{') return std::nullopt;
  ++i;
  skip_space();
  if (i < text.size() && text[i] == '}') {
    ++i;
  } else {
    for (;;) {
      skip_space();
      const std::size_t name_start = i;
      while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_')) ++i;
      if (i == name_start) return std::nullopt;
      std::string name(text.substr(name_start, i - name_start));
      skip_space();
      if (i >= text.size() || text[i] != '=') return std::nullopt;
      ++i;
      skip_space();
      if (i >= text.size() || text[i] != '"') return std::nullopt;
      ++i;
      std::string value;
      for (;;) {
        if (i >= text.size()) return std::nullopt;
        const char c = text[i++];
        if (c == '"') break;
        if (c != '\\') {
          value += c;
          continue;
        }
        if (i >= text.size()) return std::nullopt;
        const char e = text[i++];
        switch (e) {
          case 'n': value += '\n'; break;
          case 't': value += '\t'; break;
          case 'r': value += '\r'; break;
          case '\\': value += '\\'; break;
          case '"': value += '"'; break;
          default: value += '\\'; value += e; break;  // rare Go escapes (\x.., \u....) kept as written
        }
      }
      out.emplace_back(std::move(name), std::move(value));
      skip_space();
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < text.size() && text[i] == '}') {
        ++i;
        break;
      }
      return std::nullopt;
    }
  }
  skip_space();
  if (i != text.size()) return std::nullopt;
  std::sort(out.begin(), out.end());
  return out;
}

std::string format_label_selector(const Labels& labels) {
  std::string out = "{";
  for (const auto& [name, value] : labels) {
    if (out.size() > 1) out += ", ";
    out += name;
    out += "=\"";
    for (char c : value) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace klaxon::sources
