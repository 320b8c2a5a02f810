// adapters/sources/kubectl_source.hpp — `klaxon kubectl ARGS...`: follows pods' logs with the
// real kubectl and keeps the stream whole.
//
// `kubectl logs -f -l ...` alone resolves pods once, ends silently (status 0) when the API
// server drops a stream, and never picks up the pods of a rollout. This source instead lists
// the matching pods every --poll-interval (`kubectl get pods -o json`), runs one
// `kubectl logs -f --prefix --timestamps pod/NAME -c CONTAINER` per container (at most
// --max-streams), restarts a child that exits or stalls with backoff and
// `--since-time=<newest timestamp seen>` (ResumeFilter drops the repeats), follows new pods
// from their first line, and lets go of pods that are gone. Each container is one stream key
// (`NAMESPACE/POD/CONTAINER`), labelled with its namespace; the pod and container come from
// kubectl's prefix. Forbidden, unauthorized, no such namespace or context, and kubectl missing
// are fatal (FatalSourceError); everything else is retried and said.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "adapters/sources/live_source.hpp"

namespace klaxon::sources {

class ChildProcess;

/// What `klaxon kubectl` was asked, in kubectl's words plus klaxon's own.
struct KubectlOptions {
  std::string kubectl = "kubectl";  // program (found on PATH)
  std::string kubeconfig, context;  // --kubeconfig, --context (the flags: cli/run_kubectl.cpp)
  std::string namespace_;           // -n; empty: the context's namespace
  bool all_namespaces = false;      // -A
  std::string selector;             // -l
  std::string resource;             // pod/NAME, NAME, or deploy|sts|ds|rs|job/NAME
  std::string container;            // -c
  bool all_containers = false;      // --all-containers
  std::string since, since_time;    // --since, --since-time (for the first start only)
  std::optional<long> tail;         // --tail (for the first start only)
  std::size_t max_streams = 50;
  std::chrono::milliseconds poll_interval{5000};
  std::chrono::milliseconds stall_timeout{15 * 60 * 1000};
};

/// Checks what the flags (kubectl's names, parsed by CLI11 in cli/run_kubectl.cpp) asked for
/// together: which pods, and which of kubectl's flags go with which. Throws FatalSourceError
/// naming what is wrong.
void check_kubectl_options(const KubectlOptions& options);

class KubectlSource final : public LiveSource {
 public:
  /// Throws FatalSourceError when kubectl is not on PATH.
  KubectlSource(boost::asio::any_io_executor executor, KubectlOptions options);
  ~KubectlSource() override;

  boost::asio::awaitable<void> run(Intake& out) override;

 private:
  struct Pod;
  struct Stream;
  struct Listing;

  boost::asio::awaitable<void> check_namespace();
  boost::asio::awaitable<void> resolve_workload();
  boost::asio::awaitable<Listing> list_pods();
  void reconcile(const std::vector<Pod>& pods, Intake& out);
  boost::asio::awaitable<void> follow(std::shared_ptr<Stream> stream, Intake& out);
  void watch_for_stalls();
  std::vector<std::string> kubectl_args(std::vector<std::string> words) const;
  std::vector<std::string> logs_args(const Stream& stream) const;
  void fail(std::string message);

  boost::asio::any_io_executor executor_;
  KubectlOptions options_;
  std::string kubectl_path_;
  std::string selector_;  // -l, or the workload's selector
  boost::asio::steady_timer poll_timer_;
  std::map<std::string, std::shared_ptr<Stream>> streams_;  // by key
  std::shared_ptr<ChildProcess> lister_;  // the running get/list child
  std::optional<std::string> fatal_;
  bool first_listing_ = true;
  bool listing_failing_ = false;
  std::size_t said_skipped_ = 0;
  std::set<std::string> initial_uids_;  // pods of the first listing: the user's --tail/--since apply
  std::set<std::string> done_;          // UID/CONTAINER of finished pods read to their end
};

}  // namespace klaxon::sources
