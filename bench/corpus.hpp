// bench/corpus.hpp — deterministic, realistic Kubernetes log mixes for benchmarks.
//
// One throughput figure on one mix says little: klaxon's cost is in the lines that look
// interesting, and how many do depends on the cluster. So there are five kinds:
//
//  * quiet: the shapes a healthy cluster's logs have — Dapr/zap and logrus JSON,
//    controller-runtime JSON, klog, logfmt, Linkerd proxy text, nginx access lines and Java
//    stack traces, wrapped in CRI file envelopes, `kubectl --prefix --timestamps` envelopes or
//    none — with one real incident line of the seeds' kind (x509 expired, BadSignature, ...) in
//    `incident_every` (20 = the "noisy" set: 5% of lines match).
//  * sick: the quiet mix from a node in trouble: a few percent of lines are the kubelet's
//    CrashLoopBackOff and failing-probe lines for pods that crash in a loop.
//  * archive: an incident archive, replayed offline: the lines of samples/timelines/ (Dapr's
//    root certificate expiring, Linkerd's trust anchor rotated) from many pods, time advancing,
//    most lines from the failing components and ~8% of them classified, with the healthy lines
//    those components print around the failure (Dapr's operator says its conversion webhooks
//    are up to date, sidecars renew certificates, proxies handle connections).
//  * json: JSON payloads only (Dapr, logrus, controller-runtime, Envoy access logs), also in
//    Docker's json-file envelope, where a JSON payload is escaped twice.
//  * text: plain-text payloads only (klog, logfmt, Linkerd, nginx, Java).
//
// The same kind, size and seed give the same bytes, so runs compare.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace klaxon::bench {

enum class CorpusKind { quiet, sick, archive, json, text };

/// The kind named `name` ("quiet", "sick", "archive", "json", "text"), or nullopt.
std::optional<CorpusKind> corpus_kind(std::string_view name);

struct CorpusOptions {
  std::uint64_t bytes = 64 << 20;
  std::uint64_t incident_every = 10'000;  // quiet, json, text: one incident line in this many
  std::uint64_t seed = 1;
  CorpusKind kind = CorpusKind::quiet;
  std::uint64_t first_line = 1;  // times advance with the line number: a later slice starts here
};

/// Appends lines to `out` until it holds at least `options.bytes` bytes.
void generate_corpus(const CorpusOptions& options, std::string& out);

}  // namespace klaxon::bench
