// adapters/certs/certificate_metrics.hpp — the inventory on /metrics.
//
// Two families, in the shape dashboards built for x509-certificate-exporter expect (README maps
// the names): `klaxon_certificate_not_after_seconds`, one series per certificate read where it
// is kept, labelled with what it is and where (source_kind, namespace, name, key, path,
// endpoint, subject_cn, issuer_cn, serial; empty when the source has none), its value the
// certificate's end in unix seconds; and `klaxon_certificate_read_errors_total{source=KIND}`,
// the reads that failed. Label values come from certificates and file names: the renderer
// escapes them, and bytes that are not UTF-8 are replaced here, so a scrape always parses.
//
// These are the inventory's. The log-derived expiry (what a line stated) is a family of its
// own, kept apart: the same certificate may appear in both, and they agree when the join does.
#pragma once

#include <vector>

#include "adapters/certs/certificate_ledger.hpp"
#include "adapters/sinks/metrics.hpp"

namespace klaxon::certs {

/// Appends the two families for what `ledger` holds now. Call on the ledger's thread.
void append_certificate_metrics(const CertificateLedger& ledger, std::vector<sinks::MetricFamily>& out);

}  // namespace klaxon::certs
