// cli/run_kubectl.cpp — `klaxon kubectl ...`: kubectl's flags to a KubectlSource on the live runner.
#include "cli/kubectl_command.hpp"

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "cli/flags.hpp"
#include "cli/run_live.hpp"
#include "engine/printable.hpp"
#include "cli/state_dir.hpp"

namespace klaxon::cli {
namespace {

std::string kubectl_duration(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? fmt::format("{}s", d.count() / 1000) : fmt::format("{}ms", d.count());
}

}  // namespace

void add_kubectl_command(CLI::App& app, KubectlCommand& c) {
  auto& o = c.options;
  c.app = app.add_subcommand("kubectl", "Follow pods' logs through kubectl: restarts, new pods, no gaps");
  CLI::App& cmd = *c.app;
  cmd.footer(
      "Follows pods' logs with the real kubectl (on PATH): one `kubectl logs -f` per container, restarted\n"
      "with --since-time when it ends or stalls (no gap, no duplicate), new pods of a rollout followed,\n"
      "pods that are gone let go. Runs until Ctrl-C; then prints the summary.\n"
      "--certs-kubernetes also watches the certificates in the same namespaces' Secrets, ConfigMaps and\n"
      "caBundles (RBAC: samples/kubernetes/klaxon-certs-rbac.yaml); each is an incident before it expires.\n\n"
      "Example: klaxon kubectl -n dapr-system -l app=dapr-sidecar-injector --format jsonl --matches");
  const char* kKubectl = "kubectl's words";
  const char* kOwn = "klaxon's own";
  cmd.add_option("names", c.names, "One pod; deploy/NAME, sts/NAME, ds/NAME, rs/NAME, job/NAME: its pods")
      ->type_name("pod/NAME")
      ->group(kKubectl);
  cmd.add_option("-n,--namespace", o.namespace_, "Namespace (default: the context's)")->type_name("NS")->group(kKubectl);
  cmd.add_flag("-A,--all-namespaces", o.all_namespaces, "Every namespace")->group(kKubectl);
  cmd.add_option("-l,--selector", o.selector, "Pods with these labels (re-listed every --poll-interval)")
      ->type_name("SEL")
      ->group(kKubectl);
  cmd.add_option("-c,--container", o.container, "This container (default: the pod's default container)")
      ->type_name("NAME")
      ->group(kKubectl);
  cmd.add_flag("--all-containers", o.all_containers, "Every container of each pod")->group(kKubectl);
  cmd.add_option("--context", o.context, "Which cluster (kubeconfig context)")->type_name("NAME")->group(kKubectl);
  cmd.add_option("--kubeconfig", o.kubeconfig, "Which kubeconfig file")->type_name("PATH")->group(kKubectl);
  cmd.add_option("--since", o.since, "Start this far back in pods that run already (e.g. 1h, 2d)")
      ->check(duration_check())
      ->type_name("DUR")
      ->group(kKubectl);
  cmd.add_option("--since-time", o.since_time, "Start at this instant in pods that run already (RFC3339)")
      ->type_name("TIME")
      ->group(kKubectl);
  cmd.add_option("--tail", c.tail, "Start with the last N lines of pods that run already (default with -l: 10)")
      ->type_name("N")
      ->group(kKubectl);
  // kubectl logs flags that klaxon always sets: accepted, so a kubectl command line can be pasted.
  // (CLI11 writes through the reference when it parses: it must outlive this function.)
  cmd.add_flag("-f,--follow,--prefix,--timestamps", c.always_on, "Always on (accepted for kubectl's sake)")
      ->group(kKubectl);
  cmd.add_option("--max-streams", o.max_streams, "Follow at most N containers [50]")
      ->check(count_check(1, 100000))
      ->type_name("N")
      ->group(kOwn);
  cmd.add_option("--poll-interval", c.poll_interval, "How often pods are listed [5s]")
      ->check(duration_check())
      ->type_name("DUR")
      ->group(kOwn);
  cmd.add_option("--stall-timeout", c.stall_timeout, "Restart a child that printed nothing for this long; 0: never [15m]")
      ->check(duration_check(/*positive=*/false))
      ->type_name("DUR")
      ->group(kOwn);
}

sources::KubectlOptions kubectl_options(const KubectlCommand& c) {
  sources::KubectlOptions o = c.options;
  if (c.names.size() > 1)
    throw sources::FatalSourceError(
        fmt::format("one pod or workload at a time, not '{}' and '{}'", c.names[0], c.names[1]));
  if (!c.names.empty()) o.resource = c.names[0];
  if (c.app && c.app->count("--tail") > 0) o.tail = c.tail;
  // kubectl takes Go's durations (no d or w): 2d goes to it as 172800s.
  if (!o.since.empty()) o.since = kubectl_duration(duration_ms(o.since));
  o.poll_interval = duration_ms(c.poll_interval);
  o.stall_timeout = duration_ms(c.stall_timeout);
  sources::check_kubectl_options(o);
  return o;
}

int run_kubectl(const RunOptions& options, const KubectlCommand& command) {
  sources::KubectlOptions kubectl;
  try {
    kubectl = kubectl_options(command);
  } catch (const sources::FatalSourceError& e) {
    std::fprintf(stderr, "klaxon kubectl: %s\n", printable(e.what()).c_str());
    return kExitUsage;
  }
  // --state-dir: pods present at start resume from the newest line the last run handed on.
  if (kubectl.since.empty() && kubectl.since_time.empty() && !kubectl.tail)
    if (auto from = saved_resume_point(options.state_dir)) {
      kubectl.since_time = format_rfc3339(*from);
      std::fprintf(stderr, "klaxon kubectl: resuming at %s (--state-dir)\n", kubectl.since_time.c_str());
    }
  RunOptions with_cluster = options;  // --certs-kubernetes reads the cluster kubectl follows
  with_cluster.certs.namespace_ = kubectl.namespace_;
  with_cluster.certs.all_namespaces = kubectl.all_namespaces;
  with_cluster.certs.context = kubectl.context;
  with_cluster.certs.kubeconfig = kubectl.kubeconfig;
  return run_live(with_cluster, [&](boost::asio::any_io_executor executor) {
    return std::make_unique<sources::KubectlSource>(std::move(executor), kubectl);
  });
}

}  // namespace klaxon::cli
