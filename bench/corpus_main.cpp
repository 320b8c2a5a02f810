// bench/corpus_main.cpp — `klaxon-corpus BYTES [INCIDENT_EVERY] [SEED]` writes the mix to stdout.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/corpus.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: klaxon-corpus BYTES [INCIDENT_EVERY=10000] [SEED=1]\n");
    return 2;
  }
  klaxon::bench::CorpusOptions o;
  o.bytes = std::strtoull(argv[1], nullptr, 10);
  if (argc > 2) o.incident_every = std::strtoull(argv[2], nullptr, 10);
  if (argc > 3) o.seed = std::strtoull(argv[3], nullptr, 10);
  // Written in slices so a 10 GB corpus never sits in memory.
  const std::uint64_t total = o.bytes;
  std::uint64_t written = 0;
  for (std::uint64_t slice = 0; written < total; ++slice) {
    std::string out;
    o.bytes = std::min<std::uint64_t>(64 << 20, total - written);
    o.seed += slice;
    klaxon::bench::generate_corpus(o, out);
    std::fwrite(out.data(), 1, out.size(), stdout);
    written += out.size();
  }
  return 0;
}
