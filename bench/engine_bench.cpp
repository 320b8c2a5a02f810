// bench/engine_bench.cpp — each stage of the engine alone, in bytes per second, over sizes.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "bench/corpus.hpp"
#include "engine/decoder.hpp"
#include "engine/incident_tracker.hpp"
#include "engine/line_framer.hpp"
#include "engine/matcher.hpp"
#include "engine/stream_classifier.hpp"
#include "rules/rule_pack_loader.hpp"

namespace {

using namespace klaxon;

const std::string& corpus(std::size_t bytes) {
  static std::string text;
  if (text.size() < bytes) {
    text.clear();
    bench::generate_corpus({bytes, 10'000, 1}, text);
  }
  static std::string cut;
  cut = text.substr(0, text.rfind('\n', bytes) + 1);
  return cut;
}

const Matcher& shipped_matcher() {
  static Matcher m = [] {
    rules::RuleSet set;
    std::vector<Diagnostic> problems;
    rules::load_builtin_packs(set, problems);
    return std::move(*Matcher::compile(set.rules, problems));
  }();
  return m;
}

void BM_MemchrLines(benchmark::State& state) {
  const std::string& text = corpus(std::size_t(state.range(0)));
  for (auto _ : state) {
    std::size_t lines = 0;
    const char* p = text.data();
    const char* end = p + text.size();
    while ((p = static_cast<const char*>(std::memchr(p, '\n', std::size_t(end - p)))) != nullptr) ++lines, ++p;
    benchmark::DoNotOptimize(lines);
  }
  state.SetBytesProcessed(std::int64_t(state.iterations() * text.size()));
}
BENCHMARK(BM_MemchrLines)->Range(64 << 10, 16 << 20);

void BM_Framing(benchmark::State& state) {
  const std::string& text = corpus(std::size_t(state.range(0)));
  for (auto _ : state) {
    LineFramer framer;
    std::size_t lines = 0;
    for (std::size_t i = 0; i < text.size(); i += 256 << 10)
      framer.feed(std::string_view(text).substr(i, 256 << 10), [&](std::string_view, bool) { ++lines; });
    benchmark::DoNotOptimize(lines);
  }
  state.SetBytesProcessed(std::int64_t(state.iterations() * text.size()));
}
BENCHMARK(BM_Framing)->Range(64 << 10, 16 << 20);

void BM_PrefilterBlockScan(benchmark::State& state) {
  const std::string& text = corpus(std::size_t(state.range(0)));
  Matcher::Scratch scratch;
  for (auto _ : state)
    for (std::size_t i = 0; i < text.size(); i += 256 << 10) shipped_matcher().scan_block(std::string_view(text).substr(i, 256 << 10), scratch);
  state.SetBytesProcessed(std::int64_t(state.iterations() * text.size()));
}
BENCHMARK(BM_PrefilterBlockScan)->Range(64 << 10, 16 << 20);

void BM_DecodeEveryLine(benchmark::State& state) {
  const std::string& text = corpus(std::size_t(state.range(0)));
  Decoder decoder;
  Record record;
  for (auto _ : state) {
    LineFramer framer;
    framer.feed(text, [&](std::string_view line, bool) {
      record.labels.clear();
      decoder.decode(line, record, 2023);
      benchmark::DoNotOptimize(record.message.data());
    });
  }
  state.SetBytesProcessed(std::int64_t(state.iterations() * text.size()));
}
BENCHMARK(BM_DecodeEveryLine)->Range(64 << 10, 4 << 20);

// The whole per-stream path: framing, prefilter, decoding and matching of candidates.
void BM_StreamClassifier(benchmark::State& state) {
  const std::string& text = corpus(std::size_t(state.range(0)));
  std::size_t matched = 0;
  for (auto _ : state) {
    StreamClassifier s(shipped_matcher(), "bench", {}, {}, [&](const ClassifiedLine&) { ++matched; });
    for (std::size_t i = 0; i < text.size(); i += 256 << 10) s.feed(std::string_view(text).substr(i, 256 << 10));
    s.finish();
  }
  benchmark::DoNotOptimize(matched);
  state.SetBytesProcessed(std::int64_t(state.iterations() * text.size()));
}
BENCHMARK(BM_StreamClassifier)->Range(64 << 10, 16 << 20);

void BM_Tracker(benchmark::State& state) {
  const std::string& text = corpus(std::size_t(state.range(0)));
  std::vector<IncidentEvent> events;
  for (auto _ : state) {
    IncidentTracker tracker(shipped_matcher().rules(), {});
    StreamClassifier s(shipped_matcher(), "bench", {}, {}, [&](const ClassifiedLine& l) {
      tracker.observe(l, events);
      events.clear();
    });
    s.feed(text);
    s.finish();
  }
  state.SetBytesProcessed(std::int64_t(state.iterations() * text.size()));
}
BENCHMARK(BM_Tracker)->Range(1 << 20, 16 << 20);

}  // namespace

BENCHMARK_MAIN();
