// adapters/certs/certificate_watch.hpp — certificate sources beside log sources, read again as they change.
//
// In the streaming modes (`--certs PATH`, `--certs-kubernetes`, `--probe HOST:PORT`) the
// inventory is not read once: files are looked at every few seconds and read again when a
// name, size or modification time under them changed (a Kubernetes volume's `..data` swap
// included); endpoints are probed again every probe interval; the cluster is listed once and
// then watched (adapters/certs/kubernetes_certificates.hpp). The readers block (a handshake waits for its timeout, kubectl for
// the API server), so they run on a thread of their own and hand each whole reading, as one
// Inventory per group ("files", "probes", "kubernetes"), to the pipeline's loop; the
// CertificateLedger there turns readings into changes. Nothing is shared but the posted value.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "adapters/certs/certificate_inventory.hpp"
#include "adapters/certs/kubernetes_certificates.hpp"
#include "adapters/certs/tls_probe.hpp"

namespace klaxon::certs {

struct WatchOptions {
  std::vector<std::string> paths;                  // --certs
  std::vector<ProbeTarget> probes;                 // --probe
  std::optional<KubernetesOptions> kubernetes;     // --certs-kubernetes
  std::chrono::milliseconds file_poll{5000};       // how often files are looked at
  std::chrono::milliseconds probe_interval{300'000};
  std::chrono::milliseconds probe_timeout{10'000};
  std::chrono::milliseconds kubernetes_interval{300'000};  // after a list that failed, the next
  bool any() const { return !paths.empty() || !probes.empty() || kubernetes.has_value(); }
};

/// One whole reading of a group of sources.
using ReadingHandler = std::function<void(const std::string& group, const Inventory& reading)>;

/// Every group read once, now, on the calling thread (a replay; `klaxon certs`). `cancelled`
/// ends a probe in flight (Ctrl-C).
void read_all_once(const WatchOptions& options, const ReadingHandler& handle, const std::function<bool()>& cancelled = {});

class CertificateWatch {
 public:
  /// Starts reading at once; each reading is posted to `executor` and handed to `handle` there.
  /// Lifetime: `handle` and what it refers to must outlive the executor's run; the watch must
  /// be destroyed before the executor's context.
  CertificateWatch(WatchOptions options, boost::asio::any_io_executor executor, ReadingHandler handle);
  /// Stops: a probe in flight is abandoned (within 100 ms), the cluster's watch within 200 ms.
  ~CertificateWatch();
  CertificateWatch(const CertificateWatch&) = delete;
  CertificateWatch& operator=(const CertificateWatch&) = delete;

 private:
  void run();
  bool sleep_until(std::chrono::steady_clock::time_point when);  // false: stopping

  WatchOptions options_;
  boost::asio::any_io_executor executor_;
  ReadingHandler handle_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;             // files and probes
  std::thread kubernetes_thread_;  // the cluster: list, then watch (watch_kubernetes)
};

/// What a reading of `paths` depends on: every name, size and modification time under them.
/// Equal signatures: nothing changed, nothing to read.
std::string paths_signature(const std::vector<std::string>& paths);

}  // namespace klaxon::certs
