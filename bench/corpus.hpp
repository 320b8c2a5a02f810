// bench/corpus.hpp — a deterministic, realistic Kubernetes log mix for benchmarks.
//
// The shapes a cluster's logs have: Dapr/zap and logrus JSON, controller-runtime JSON, klog,
// logfmt, Linkerd proxy text, nginx access lines and Java stack traces, wrapped in CRI file
// envelopes, `kubectl --prefix --timestamps` envelopes or none. One line in `incident_every`
// is a real incident line of the seeds' kind (x509 expired, BadSignature, ...). The same seed
// gives the same bytes, so runs compare.
#pragma once

#include <cstdint>
#include <string>

namespace klaxon::bench {

struct CorpusOptions {
  std::uint64_t bytes = 64 << 20;
  std::uint64_t incident_every = 10'000;  // 20 = the "noisy" set: 5% of lines match
  std::uint64_t seed = 1;
};

/// Appends lines to `out` until it holds at least `options.bytes` bytes.
void generate_corpus(const CorpusOptions& options, std::string& out);

}  // namespace klaxon::bench
