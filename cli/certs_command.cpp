// cli/certs_command.cpp — `klaxon certs`: read every source, sort soonest first, print, exit by
// --fail-on.
#include "cli/certs_command.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <fmt/format.h>

#include "adapters/certs/certificate_inventory.hpp"
#include "adapters/certs/kubernetes_certificates.hpp"
#include "adapters/certs/tls_probe.hpp"
#include "adapters/certs/trust_checks.hpp"
#include "cli/flags.hpp"
#include "engine/duration.hpp"
#include "engine/json_text.hpp"

namespace klaxon::cli {
namespace {

using certs::Assessment;
using certs::Certificate;
using certs::Level;
using certs::Status;

std::optional<certs::Seconds> threshold(const char* flag, const std::string& text) {
  if (auto secs = parse_duration_seconds(text); secs && *secs >= 0) return *secs;
  std::fprintf(stderr, "klaxon certs: %s %s is not a duration (write 30d, 14d, 48h)\n", flag, text.c_str());
  return std::nullopt;
}

// What the first column says: the level when it is loud, else the status.
const char* status_word(Assessment a) {
  switch (a.status) {
    case Status::expired: return "EXPIRED";
    case Status::not_yet_valid: return "NOT-YET-VALID";
    case Status::expiring_soon: return a.level == Level::critical ? "CRITICAL" : "WARNING";
    case Status::ok: return "ok";
  }
  return "ok";
}

}  // namespace

void add_certs_command(CLI::App& app, CertsCommand& c) {
  c.app = app.add_subcommand("certs", "Certificates in files, the cluster and endpoints, soonest expiry first");
  CLI::App& cmd = *c.app;
  cmd.footer(R"(Reads PEM (bundles too), DER and kubeconfigs; directories recursively. Private keys are
never read: *.key files are skipped, key blocks are passed over.

--kubernetes reads Secrets and ConfigMaps holding PEM certificates, and the caBundle of webhook
configurations, CRD conversion webhooks and APIServices, through kubectl. It needs get, list and
watch on secrets, configmaps, mutatingwebhookconfigurations, validatingwebhookconfigurations,
customresourcedefinitions and apiservices. Secret values that are not certificates are dropped.
A Linkerd or Dapr issuer that its trust bundle does not sign is a predicted cert_bad_signature.

Examples:
  klaxon certs /etc/kubernetes/pki ~/.kube/config
  klaxon certs --kubernetes -A --fail-on critical
  klaxon certs --probe api.example.com:443 --probe 10.0.0.5:8443@internal.example
  klaxon certs --warn-before 14d --fail-on warning certs/   in CI: exit 1 if one ends within 14d
  klaxon certs --format jsonl /etc/ssl/certs/ca-certificates.crt

Exit status: 0 ok, 1 a certificate reached --fail-on (or nothing could be read), 2 usage.)");
  cmd.add_option("paths", c.paths, "Files or directories to read")->type_name("PATH");
  cmd.add_flag("--kubernetes", c.kubernetes, "Also read the cluster's Secrets, ConfigMaps and caBundles (kubectl)");
  cmd.add_option("-n,--namespace", c.namespace_, "With --kubernetes: this namespace [the context's]")->type_name("NS");
  cmd.add_flag("-A,--all-namespaces", c.all_namespaces, "With --kubernetes: every namespace");
  cmd.add_option("--context", c.context, "With --kubernetes: this kubeconfig context")->type_name("C");
  cmd.add_option("--kubeconfig", c.kubeconfig, "With --kubernetes: this kubeconfig file")->type_name("FILE");
  cmd.add_option("--probe", c.probes, "Also shake hands with this TLS endpoint, SNI optional (repeatable)")
      ->type_name("HOST:PORT[@SNI]")
      ->allow_extra_args(false);
  cmd.add_option("--probe-timeout", c.probe_timeout, "Give up on an endpoint after this [10s]")
      ->check(duration_check(/*positive=*/false))
      ->type_name("DUR");
  cmd.add_option("--format", c.format, "text (for people) or jsonl (one object per certificate)")
      ->check(CLI::IsMember({"text", "jsonl"}).description(""))
      ->type_name("text|jsonl");
  cmd.add_option("--warn-before", c.warn_before, "Warning when a certificate ends within this [30d]")
      ->check(duration_check(/*positive=*/false))
      ->type_name("DUR");
  cmd.add_option("--critical-before", c.critical_before, "Critical when it ends within this [7d]")
      ->check(duration_check(/*positive=*/false))
      ->type_name("DUR");
  cmd.add_option("--fail-on", c.fail_on, "Exit 1 if a certificate is this bad (expired counts as critical)")
      ->check(CLI::IsMember({"warning", "critical"}).description(""))
      ->type_name("warning|critical");
}

int run_certs(const CertsCommand& c) {
  const auto warn = threshold("--warn-before", c.warn_before);
  const auto critical = threshold("--critical-before", c.critical_before);
  if (!warn || !critical) return 2;
  const auto probe_timeout = threshold("--probe-timeout", c.probe_timeout);
  if (!probe_timeout) return 2;
  if (c.paths.empty() && c.probes.empty() && !c.kubernetes) {
    std::fprintf(stderr, "klaxon certs: name a PATH, a --probe HOST:PORT or --kubernetes (klaxon certs --help)\n");
    return 2;
  }
  if (!c.kubernetes && (!c.namespace_.empty() || c.all_namespaces || !c.context.empty() || !c.kubeconfig.empty())) {
    std::fprintf(stderr, "klaxon certs: -n, -A, --context and --kubeconfig go with --kubernetes\n");
    return 2;
  }
  if (!c.namespace_.empty() && c.all_namespaces) {
    std::fprintf(stderr, "klaxon certs: give -n NS or -A, not both\n");
    return 2;
  }
  std::vector<certs::ProbeTarget> targets;
  for (const std::string& text : c.probes) {
    std::string error;
    auto target = certs::parse_probe_target(text, error);
    if (!target) {
      std::fprintf(stderr, "klaxon certs: --probe %s: %s\n", certs::printable(text).c_str(), error.c_str());
      return 2;
    }
    targets.push_back(std::move(*target));
  }
  const certs::Thresholds thresholds{*warn, std::max(std::int64_t{0}, std::min(*critical, *warn))};
  const Level fail_level = c.fail_on == "warning"    ? Level::warning
                           : c.fail_on == "critical" ? Level::critical
                                                     : Level::none;

  certs::Inventory inventory;
  for (const std::string& path : c.paths) certs::read_path(path, inventory);
  for (const certs::ProbeTarget& target : targets)
    certs::probe_endpoint(target, std::chrono::seconds(std::max<certs::Seconds>(1, *probe_timeout)), inventory);
  if (c.kubernetes) {
    certs::KubernetesOptions k;
    k.namespace_ = c.namespace_;
    k.all_namespaces = c.all_namespaces;
    k.context = c.context;
    k.kubeconfig = c.kubeconfig;
    certs::read_kubernetes(k, inventory);
  }
  certs::sort_soonest_first(inventory.certificates);
  const std::vector<certs::Prediction> predictions = certs::check_trust_bundles(inventory.certificates);

  const certs::Seconds now = std::time(nullptr);
  const bool jsonl = c.format == "jsonl";
  Level worst = Level::none;
  std::size_t counts[4] = {};
  std::string out;
  if (!jsonl && !inventory.certificates.empty())
    out += fmt::format("{:<13} {:<20}  {:>8}  {}  {}\n", "STATUS", "NOT AFTER (UTC)", "LEFT", "SOURCE", "SUBJECT");
  for (const Certificate& cert : inventory.certificates) {
    const Assessment a = certs::assess(cert, now, thresholds);
    worst = std::max(worst, a.level);
    ++counts[int(a.status)];
    if (jsonl) {
      out += certs::to_json_line(cert, a.status);
      out += '\n';
    } else {
      out += fmt::format("{:<13} {:<20}  {:>8}  {}  {}\n", status_word(a), certs::format_seconds_rfc3339(cert.not_after),
                         format_duration(cert.not_after - now), certs::printable(cert.source), cert.subject);
    }
  }
  for (const certs::Prediction& p : predictions) {
    worst = Level::critical;
    if (jsonl) {
      out += R"({"type":"prediction","class":)";
      append_json_string(out, p.incident_class);
      out += R"(,"severity":"critical","certificate":{"source":)";
      append_json_string(out, p.certificate->source);
      out += R"(,"subject":)";
      append_json_string(out, p.certificate->subject);
      out += R"(,"serial":)";
      append_json_string(out, p.certificate->serial);
      out += R"(,"not_after":)";
      append_json_string(out, certs::format_seconds_rfc3339(p.certificate->not_after));
      out += R"(},"bundle":)";
      append_json_string(out, p.bundle);
      out += R"(,"message":)";
      append_json_string(out, p.message);
      out += "}\n";
    } else {
      out += fmt::format("PREDICTED {}: {}\n", p.incident_class, certs::printable(p.message));
    }
  }
  for (const certs::ReadError& e : inventory.errors) {
    std::fprintf(stderr, "klaxon certs: cannot read %s: %s\n", certs::printable(e.source).c_str(), certs::printable(e.message).c_str());
    if (jsonl) {
      out += R"({"type":"error","source":)";
      append_json_string(out, e.source);
      out += R"(,"message":)";
      append_json_string(out, e.message);
      out += "}\n";
    }
  }
  if (!jsonl) {
    out += fmt::format("{} certificate{}: {} expired, {} expiring soon, {} not yet valid, {} ok", inventory.certificates.size(),
                       inventory.certificates.size() == 1 ? "" : "s", counts[int(Status::expired)],
                       counts[int(Status::expiring_soon)], counts[int(Status::not_yet_valid)], counts[int(Status::ok)]);
    if (!inventory.errors.empty())
      out += fmt::format("; {} unreadable (named above)", inventory.errors.size());
    out += '\n';
    if (counts[int(Status::not_yet_valid)] != 0)
      out += "NOT-YET-VALID: its notBefore is ahead of this clock by more than 5m. Check the clocks first (chronyc "
             "tracking, timedatectl on this host, the nodes and the issuer); if they agree, it was minted with a future "
             "notBefore: re-issue it.\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);

  if (fail_level != Level::none && worst >= fail_level) return 1;
  if (inventory.certificates.empty() && !inventory.errors.empty()) return 1;  // nothing could be read
  return 0;
}

}  // namespace klaxon::cli
