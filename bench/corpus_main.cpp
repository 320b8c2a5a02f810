// bench/corpus_main.cpp — `klaxon-corpus [--kind KIND] BYTES [INCIDENT_EVERY] [SEED]` writes a
// mix (bench/corpus.hpp: quiet, sick, archive, json, text) to stdout.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bench/corpus.hpp"

int main(int argc, char** argv) {
  klaxon::bench::CorpusOptions o;
  int arg = 1;
  if (argc > 2 && std::string_view(argv[1]) == "--kind") {
    const auto kind = klaxon::bench::corpus_kind(argv[2]);
    if (!kind) {
      std::fprintf(stderr, "klaxon-corpus: unknown kind %s (quiet, sick, archive, json, text)\n", argv[2]);
      return 2;
    }
    o.kind = *kind;
    arg = 3;
  }
  if (argc <= arg) {
    std::fprintf(stderr, "usage: klaxon-corpus [--kind quiet|sick|archive|json|text] BYTES [INCIDENT_EVERY=10000] [SEED=1]\n");
    return 2;
  }
  o.bytes = std::strtoull(argv[arg], nullptr, 10);
  if (argc > arg + 1) o.incident_every = std::strtoull(argv[arg + 1], nullptr, 10);
  if (argc > arg + 2) o.seed = std::strtoull(argv[arg + 2], nullptr, 10);
  // Written in slices so a 10 GB corpus never sits in memory; time goes on from slice to slice.
  const std::uint64_t total = o.bytes;
  std::uint64_t written = 0;
  for (std::uint64_t slice = 0; written < total; ++slice) {
    std::string out;
    o.bytes = std::min<std::uint64_t>(64 << 20, total - written);
    o.seed += slice;
    klaxon::bench::generate_corpus(o, out);
    std::fwrite(out.data(), 1, out.size(), stdout);
    written += out.size();
    o.first_line += std::uint64_t(std::count(out.begin(), out.end(), '\n'));
  }
  return 0;
}
