// cli/certificate_sources.hpp — `--certs`, `--certs-kubernetes`, `--probe` in the streaming modes.
//
// Certificate sources run beside the log source and feed the same pipeline: each certificate
// becomes a certificate-lifecycle incident in the same tracker (engine/inventory_certificate.hpp),
// and a log line stating its end joins it. Live, they are read again as they change
// (adapters/certs/certificate_watch.hpp); in a replay, once before the first line. Their
// numbers go to /metrics (adapters/certs/certificate_metrics.hpp).
#pragma once

#include <memory>

#include <CLI/CLI.hpp>
#include <boost/asio/any_io_executor.hpp>

#include "adapters/certs/certificate_ledger.hpp"
#include "adapters/certs/certificate_watch.hpp"
#include "adapters/sinks/metrics.hpp"
#include "cli/options.hpp"

namespace klaxon::cli {

/// The flags, in `group` of klaxon's --help.
void add_certificate_source_flags(CLI::App& app, CertificateSourceOptions& options, const char* group);

class CertificateSources {
 public:
  /// nullptr when no certificate source was asked for. Throws sources::FatalSourceError (with
  /// the fix) for a bad --probe or --probe-interval. Registers the /metrics families in `metrics`.
  static std::unique_ptr<CertificateSources> create(const CertificateSourceOptions& options, Pipeline& pipeline,
                                                    sinks::MetricsRegistry& metrics);

  /// Live: reads now and as the sources change, on a thread of its own, into the pipeline on
  /// `executor`'s loop, until destroyed (before that loop's context).
  void follow(boost::asio::any_io_executor executor);
  /// Replay: reads every source once, now; `cancelled` (Ctrl-C) ends a probe in flight.
  void read_once(const std::function<bool()>& cancelled = {});

  CertificateSources(certs::WatchOptions watch, Pipeline& pipeline);

 private:
  void take(const std::string& group, const certs::Inventory& reading);

  certs::WatchOptions watch_options_;
  Pipeline& pipeline_;
  std::shared_ptr<certs::CertificateLedger> ledger_ = std::make_shared<certs::CertificateLedger>();
  certs::CertificateReceiver receiver_;
  std::unique_ptr<certs::CertificateWatch> watch_;
};

}  // namespace klaxon::cli
