// adapters/sources/loki_entries.cpp — Loki's stream JSON to entries; the exactly-once memory.
#include "adapters/sources/loki_entries.hpp"

#include <algorithm>
#include <charconv>
#include <functional>

#include <simdjson.h>

#include "adapters/sources/loki_push_decoder.hpp"

namespace klaxon::sources {
namespace {

namespace dom = simdjson::dom;

bool parse_nanos(std::string_view text, Nanos& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// Appends the streams of `result` (an array of {"stream":{...},"values":[[ts,line,...],...]}).
bool add_streams(dom::array result, LokiBatch& out, std::string& error) {
  for (dom::element item : result) {
    dom::object labels_json;
    dom::array values;
    if (item["stream"].get(labels_json) || item["values"].get(values)) {
      error = "a stream without \"stream\" labels or \"values\"";
      return false;
    }
    LokiStream stream;
    for (auto field : labels_json) {
      std::string_view value;
      if (field.value.get(value)) {
        error = "a stream label that is not a string";
        return false;
      }
      stream.labels.emplace_back(std::string(field.key), std::string(value));
    }
    std::sort(stream.labels.begin(), stream.labels.end());
    stream.key = format_label_selector(stream.labels);  // the same key as a pushed stream
    const std::size_t index = out.streams.size();
    out.streams.push_back(std::move(stream));
    for (dom::element value : values) {
      // ["<ns>", "<line>"] and, when structured metadata is asked for, a third element.
      dom::array pair;
      std::string_view ts, line;
      Nanos time = 0;
      if (value.get(pair) || pair.size() < 2 || pair.at(0).get(ts) || pair.at(1).get(line) || !parse_nanos(ts, time)) {
        error = "an entry that is not [\"<unix ns>\", \"<line>\"]";
        return false;
      }
      out.entries.push_back({index, time, std::string(line)});
    }
  }
  return true;
}

void sort_by_time(LokiBatch& out) {
  std::stable_sort(out.entries.begin(), out.entries.end(),
                   [](const LokiEntry& a, const LokiEntry& b) { return a.time < b.time; });
}

dom::parser& parser() {
  thread_local dom::parser p;
  return p;
}

}  // namespace

bool parse_tail_frame(std::string_view json, LokiBatch& out, std::string& error) {
  out = {};
  dom::element doc;
  if (parser().parse(json.data(), json.size()).get(doc)) {
    error = "a tail frame that is not JSON";
    return false;
  }
  if (doc.type() != dom::element_type::OBJECT) {
    error = "a tail frame that is not a JSON object";
    return false;
  }
  // Go writes an empty list as null: a frame with only dropped_entries may say "streams":null.
  dom::element streams_json;
  if (!doc["streams"].get(streams_json) && !streams_json.is_null()) {
    dom::array streams;
    if (streams_json.get(streams)) {
      error = "a tail frame whose \"streams\" is not a list";
      return false;
    }
    if (!add_streams(streams, out, error)) return false;
  }
  dom::array dropped;
  if (!doc["dropped_entries"].get(dropped)) out.dropped_entries = dropped.size();
  sort_by_time(out);
  return true;
}

bool parse_query_range(std::string_view json, LokiBatch& out, std::string& error) {
  out = {};
  dom::element doc;
  if (parser().parse(json.data(), json.size()).get(doc)) {
    error = "an answer that is not JSON";
    return false;
  }
  std::string_view status, type;
  if (doc["status"].get(status) || status != "success") {
    error = "an answer whose status is not \"success\"";
    return false;
  }
  if (doc["data"]["resultType"].get(type) || type != "streams") {
    error = "a result that is not log lines (resultType " + std::string(type) + "): use a log query, not a metric query";
    return false;
  }
  dom::array result;
  if (doc["data"]["result"].get(result)) {
    error = "an answer without data.result";
    return false;
  }
  if (!add_streams(result, out, error)) return false;
  sort_by_time(out);
  return true;
}

bool EntryMemory::admit(const std::string& stream, Nanos time, std::string_view line, Older older) {
  const std::uint64_t hash = std::hash<std::string_view>{}(line);
  auto it = by_stream_.find(stream);
  if (it == by_stream_.end()) {
    if (by_stream_.size() >= kMaxStreams) forget_oldest();
    by_stream_.emplace(stream, Instant{time, {hash}});
    newest_ = std::max(newest_, time);
    return true;
  }
  Instant& seen = it->second;
  if (time > seen.time) {
    seen.time = time;
    seen.hashes.assign(1, hash);
    newest_ = std::max(newest_, time);
    return true;
  }
  if (time < seen.time) return older == Older::deliver;
  if (std::find(seen.hashes.begin(), seen.hashes.end(), hash) != seen.hashes.end()) return false;
  if (seen.hashes.size() < kMaxLinesPerInstant) seen.hashes.push_back(hash);
  return true;
}

void EntryMemory::forget_oldest() {
  // Rare (a hundred thousand streams): one pass forgets the older half.
  std::vector<Nanos> times;
  times.reserve(by_stream_.size());
  for (const auto& [key, seen] : by_stream_) times.push_back(seen.time);
  auto mid = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
  std::nth_element(times.begin(), mid, times.end());
  const Nanos cut = *mid;
  std::erase_if(by_stream_, [cut](const auto& kv) { return kv.second.time < cut; });
  if (by_stream_.size() >= kMaxStreams) by_stream_.clear();  // all at one instant: start over
}

}  // namespace klaxon::sources
