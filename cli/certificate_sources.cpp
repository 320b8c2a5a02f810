// cli/certificate_sources.cpp — see the header.
#include "cli/certificate_sources.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "adapters/certs/certificate_metrics.hpp"
#include "adapters/sources/live_source.hpp"
#include "cli/flags.hpp"

namespace klaxon::cli {

void add_certificate_source_flags(CLI::App& app, CertificateSourceOptions& o, const char* group) {
  app.add_option("--certs", o.paths, "Also watch the certificates in these files or directories (repeatable)")
      ->type_name("PATH")
      ->allow_extra_args(false)
      ->group(group);
  app.add_flag("--certs-kubernetes", o.kubernetes,
               "Also watch the certificates in Secrets, ConfigMaps, caBundles (kubectl)")
      ->group(group);
  app.add_option("--probe", o.probes, "Also shake hands with this TLS endpoint (HOST:PORT[@SNI]), every 5m")
      ->type_name("HOST:PORT")
      ->allow_extra_args(false)
      ->group(group);
  app.add_option("--probe-interval", o.probe_interval, "How often --probe shakes hands again (and a cluster list that failed is retried) [5m]")
      ->check(duration_check())
      ->type_name("DUR")
      ->group(kHiddenGroup);  // README; --help stays one screen
}

CertificateSources::CertificateSources(certs::WatchOptions watch, Pipeline& pipeline)
    : watch_options_(std::move(watch)), pipeline_(pipeline) {
  receiver_.read = [this](const InventoryCertificate& c) { pipeline_.certificate_read(c); };
  receiver_.gone = [this](const std::string& source) { pipeline_.certificate_gone(source); };
  receiver_.predicted = [this](const PredictedFailure& p) { pipeline_.failure_predicted(p); };
  receiver_.unpredicted = [this](const std::string& key, const std::string& why, const std::string& summary) {
    pipeline_.prediction_ended(key, why, summary);
  };
  receiver_.error = [](const certs::ReadError& e) {
    std::fprintf(stderr, "klaxon: cannot read certificates at %s: %s\n", certs::printable(e.source).c_str(),
                 certs::printable(e.message).c_str());
  };
}

std::unique_ptr<CertificateSources> CertificateSources::create(const CertificateSourceOptions& o, Pipeline& pipeline,
                                                               sinks::MetricsRegistry& metrics) {
  if (!o.any()) return nullptr;
  certs::WatchOptions w;
  w.paths = o.paths;
  for (const std::string& text : o.probes) {
    std::string error;
    auto target = certs::parse_probe_target(text, error);
    if (!target)
      throw sources::FatalSourceError(fmt::format("--probe {}: {}", certs::printable(text), error));
    w.probes.push_back(std::move(*target));
  }
  w.probe_interval = w.kubernetes_interval = duration_ms(o.probe_interval);
  if (o.kubernetes) {
    certs::KubernetesOptions k;
    k.namespace_ = o.namespace_;
    k.all_namespaces = o.all_namespaces;
    k.context = o.context;
    k.kubeconfig = o.kubeconfig;
    w.kubernetes = k;
  }
  auto sources = std::make_unique<CertificateSources>(std::move(w), pipeline);
  // Restored from --state-dir: what the first readings must confirm or end.
  const IncidentTracker::OpenInventory open = pipeline.tracker().open_inventory();
  sources->ledger_->expect(open.sources, open.predictions);
  metrics.add([ledger = sources->ledger_](std::vector<sinks::MetricFamily>& out) {
    certs::append_certificate_metrics(*ledger, out);
  });
  return sources;
}

void CertificateSources::take(const std::string& group, const certs::Inventory& reading) {
  ledger_->reconcile(group, reading, receiver_);
  pipeline_.flush();
}

void CertificateSources::follow(boost::asio::any_io_executor executor) {
  watch_ = std::make_unique<certs::CertificateWatch>(
      watch_options_, std::move(executor),
      [this](const std::string& group, const certs::Inventory& reading) { take(group, reading); });
}

void CertificateSources::read_once(const std::function<bool()>& cancelled) {
  certs::read_all_once(
      watch_options_, [this](const std::string& group, const certs::Inventory& reading) { take(group, reading); },
      cancelled);
}

}  // namespace klaxon::cli
