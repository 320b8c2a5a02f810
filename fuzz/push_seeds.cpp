// fuzz/push_seeds.cpp — seed bodies for loki_push_fuzz, from log lines on stdin.
//
// Writes into DIR one seed per mode of loki_push_fuzz that wraps its input: a protobuf
// PushRequest (mode 0: the target snappy-compresses it) and a JSON push (modes 2 and 3), each
// holding a few of the lines under two streams. Without such seeds the fuzzer spends its time
// rediscovering the protobuf wire format.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "adapters/sources/loki_push.pb.h"

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c < 0x20) out += fmt::format("\\u{:04x}", c);
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: push_seeds DIR < lines\n");
    return 2;
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(std::cin, line);) lines.push_back(line);
  const std::size_t per_seed = 4;
  for (std::size_t first = 0, n = 0; first < lines.size(); first += per_seed, ++n) {
    logproto::PushRequest request;
    std::string json = R"({"streams":[)";
    for (int s = 0; s < 2; ++s) {
      const std::string selector = fmt::format(R"({{app="fuzz", pod="p-{}"}})", s);
      auto* stream = request.add_streams();
      stream->set_labels(selector);
      json += fmt::format(R"({}{{"stream":{{"app":"fuzz","pod":"p-{}"}},"values":[)", s ? "," : "", s);
      for (std::size_t i = first + s; i < first + per_seed && i < lines.size(); i += 2) {
        auto* entry = stream->add_entries();
        entry->mutable_timestamp()->set_seconds(1'700'000'000 + static_cast<long>(i));
        entry->mutable_timestamp()->set_nanos(123);
        entry->set_line(lines[i]);
        json += fmt::format(R"({}["{}",{}])", i > first + s ? "," : "", 1'700'000'000'000'000'123LL + i, json_string(lines[i]));
      }
      json += "]}";
    }
    json += "]}";
    std::ofstream(fmt::format("{}/protobuf-{}", argv[1], n), std::ios::binary) << '\0' << request.SerializeAsString();
    std::ofstream(fmt::format("{}/json-{}", argv[1], n), std::ios::binary) << '\2' << json;
    std::ofstream(fmt::format("{}/json-gzip-{}", argv[1], n), std::ios::binary) << '\3' << json;
  }
  return 0;
}
