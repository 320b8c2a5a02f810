// cli/main.cpp — flags to pipeline. The only place that knows every adapter.
#include <cstdint>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <chrono>
#include <exception>
#include <thread>

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "cli/alerting.hpp"
#include "cli/certificate_sources.hpp"
#include "cli/certs_command.hpp"
#include "cli/expiry_flags.hpp"
#include "cli/external_labels.hpp"
#include "cli/flags.hpp"
#include "cli/options.hpp"
#include "cli/source_commands.hpp"
#include "cli/version.hpp"
#include "engine/civil_time.hpp"
#include "engine/duration.hpp"
#include "engine/printable.hpp"

namespace {

// CLI11's help with one blank line between option groups (not two), and a usage line that
// shows the three shapes of a klaxon command.
class CompactFormatter : public CLI::Formatter {
 public:
  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override {
    std::string out = CLI::Formatter::make_help(app, std::move(name), mode);
    for (std::size_t at; (at = out.find("\n\n\n")) != std::string::npos;) out.erase(at, 1);
    return out;
  }
  std::string make_group(std::string group, bool is_positional, std::vector<const CLI::Option*> opts) const override {
    if (group == klaxon::cli::kHiddenGroup) return {};
    return CLI::Formatter::make_group(std::move(group), is_positional, std::move(opts));
  }
  std::string make_usage(const CLI::App* app, std::string name) const override {
    if (app->get_parent() != nullptr) return CLI::Formatter::make_usage(app, std::move(name));
    return "\nUsage: klaxon [OPTIONS] [FILE...]              files, or standard input\n"
           "       klaxon [OPTIONS] kubectl|loki|serve ...  a live source (its own --help)\n"
           "       klaxon rules check|test|list|export ...\n";
  }
};

constexpr const char* kFooter = R"(Examples:
  kubectl logs -f -n dapr-system -l app=dapr-sentry --prefix --timestamps | klaxon
  klaxon incident-2023-06-19.log.gz sentry.log            replay an archive
  klaxon --alertmanager http://am:9093 kubectl -n dapr-system -l app=dapr-sentry
  klaxon --listen :9095 serve --listen :3100              Loki push receiver, /metrics
  klaxon --follow /var/log/pods --state follow.state      on a node
  klaxon loki --url http://loki:3100 --query '{namespace="dapr-system"}'

Exit status: 0 ok, 1 an input failed or alerts were not delivered, 2 usage or rule errors,
3 --fail-on was met, 130/143 a replay cut short by Ctrl-C/SIGTERM.)";

// Start-up allocates tens of MB in small pieces (YAML nodes, RE2 programs, Hyperscan's
// compiler), and the first touch of each 4 KiB page is a fault: 13,000 of them, a fifth of the
// start-up with 2,000 extra rules on a VM. Let the main heap grow in steps of 64 MiB of address
// space, kept rather than given back, and ask for transparent huge pages on it (glibc's own
// `glibc.malloc.hugetlb=1` does the same, but only as an environment variable). Where the kernel
// does not offer them, madvise fails and nothing changes.
void heap_in_huge_pages() {
  constexpr std::size_t kStep = std::size_t{64} << 20, kHuge = std::size_t{2} << 20;
  mallopt(M_TOP_PAD, int(kStep));
  mallopt(M_TRIM_THRESHOLD, int(2 * kStep));
  mallopt(M_MMAP_THRESHOLD, int(kStep / 2));  // large blocks from the heap too
  auto* before = static_cast<char*>(sbrk(0));
  void* volatile grow = std::malloc(kStep / 4);  // volatile: a malloc freed unused is optimised away
  std::free(grow);  // the heap has grown by kStep / 4 + kStep, and keeps it
  auto* after = static_cast<char*>(sbrk(0));
  auto* from = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(before) + kHuge - 1) & ~(kHuge - 1));
  if (after > from) madvise(from, std::size_t(after - from), MADV_HUGEPAGE);
}

// What was written to standard output must have arrived: `klaxon ... > /dev/full` (a full disk,
// a closed pipe) is an error with a non-zero exit, not a quiet success. EPIPE is SIGPIPE's case.
int with_output_checked(int code) {
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  if (flushed && !std::ferror(stdout)) return code;
  // An earlier write's errno is gone by now; the last flush's is known.
  std::fprintf(stderr, "klaxon: error: writing the output failed%s%s\n", flushed ? "" : ": ",
               flushed ? " (a full disk? a reader that went away?)" : std::strerror(errno));
  return code == 0 ? 1 : code;
}

int run_main(int argc, char** argv);

}  // namespace

int main(int argc, char** argv) { return with_output_checked(run_main(argc, argv)); }

namespace {

int run_main(int argc, char** argv) {
  using namespace klaxon::cli;
  heap_in_huge_pages();
  CLI::App app{"klaxon: finds certificate and mTLS failures in Kubernetes logs, and says which one to fix first.\n"
               "Reads log lines from FILEs (plain, .gz, .zst) or standard input and prints each line it recognises."};
  app.footer(kFooter);
  app.set_version_flag("--version", klaxon::cli::version_text);
  app.formatter(std::make_shared<CompactFormatter>());
  app.get_formatter()->column_width(28);
  // Flags of klaxon itself are taken anywhere on the line, also after a source word
  // (`klaxon loki --url ... --format jsonl`): subcommands inherit this; a source's own flag of
  // the same name (serve's --listen) wins after its word. One command word at most.
  app.fallthrough();
  app.require_subcommand(0, 1);

  RunOptions run;
  std::string fail_on;
  // Groups keep --help readable at 3 a.m.: what to read, what to print, where to alert, knobs.
  const char* kOutput = "Output";
  const char* kRules = "Rules";
  const char* kFollow = "Follow files (like tail -F)";
  const char* kAlerts = "Alerts and metrics";
  const char* kTuning = "Tuning";
  // The usage line says what FILE is; a Positionals section would say it again.
  app.add_option("files", run.inputs, "Log files to read; - or none for standard input")->type_name("FILE")->group("");
  app.add_option("--format", run.format, "text (for people: an update when a count doubles) or jsonl (every event)")
      ->check(CLI::IsMember({"text", "jsonl"}).description(""))
      ->type_name("text|jsonl")
      ->group(kOutput);
  app.add_flag("--matches", run.matches, "With jsonl: also one object per classified line")->group(kOutput);
  app.add_flag("--incidents", run.incidents_only, "Text: incident events and the summary, not each line")->group(kOutput);
  app.add_option("--rules", run.rules.rule_paths, "Add a rule pack file or directory (repeatable)")
      ->type_name("PATH")
      ->allow_extra_args(false)
      ->group(kRules);
  app.add_flag("--no-default-rules", run.rules.no_default_rules, "Do not load the built-in rule packs")->group(kRules);
  app.add_option("--disable-rule", run.rules.disabled_rules, "Leave out rules by id, globs allowed: dapr.* (repeatable)")
      ->type_name("ID")
      ->allow_extra_args(false)
      ->group(kRules);
  app.add_option("--runbook-base", run.rules.runbook_base, "Make runbook links (docs/runbooks/...) absolute with this URL")
      ->type_name("URL")
      ->group(kRules);
  ExpiryFlags expiry;  // --expiry-warning, --expiry-critical (cli/expiry_flags.hpp)
  add_expiry_flags(app, expiry, kRules);
  // Hidden: the slow reference that tests and bench/ compare the prefiltered matcher against.
  app.add_flag("!--no-prefilter", run.rules.prefilter, "Try every rule on every line")->group(klaxon::cli::kHiddenGroup);
  app.add_option("--color", run.color, "Colour severities: auto (on a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}).description(""))
      ->type_name("WHEN")
      ->group(kOutput);
  app.add_option("--fail-on", fail_on, "Exit 3 if an incident this severe or worse was opened")
      ->check(CLI::IsMember({"warning", "critical"}).description(""))
      ->type_name("warning|critical")
      ->group(kOutput);

  // Status endpoints (any mode) and the Loki push receiver.
  app.add_option("--listen", run.listen, "Serve /metrics, /healthz, /readyz and a status page (TLS, auth: README)")
      ->type_name("HOST:PORT")
      ->group(kAlerts);
  // --listen facing a network: serve's flags, before the source word. Out of --help's one
  // screen; the --listen line points to README's "serve on a network".
  app.add_option("--tls-cert-file", run.listen_guard.tls_cert_file, "--listen over TLS: certificate (PEM)")->group(klaxon::cli::kHiddenGroup);
  app.add_option("--tls-key-file", run.listen_guard.tls_key_file, "--listen over TLS: its key (PEM)")->group(klaxon::cli::kHiddenGroup);
  app.add_option("--client-ca-file", run.listen_guard.client_ca_file, "--listen: mutual TLS with this CA")->group(klaxon::cli::kHiddenGroup);
  app.add_option("--bearer-token-file", run.listen_guard.bearer_token_file, "--listen asks for this token")->group(klaxon::cli::kHiddenGroup);
  app.add_option("--basic-auth-file", run.listen_guard.basic_auth_file, "--listen asks for basic auth")->group(klaxon::cli::kHiddenGroup);
  app.add_option("--report", run.report, "Write the run as one HTML page (timeline, certificates) when it ends")
      ->type_name("FILE.html")
      ->group(kOutput);
  app.add_flag("--hold", run.hold, "With --listen on files: keep serving after the end until Ctrl-C")->group(kAlerts);
  app.add_option("--state-dir", run.state_dir, "Keep open incidents and certificate expiries here across restarts")
      ->type_name("DIR")
      ->group(kAlerts);
  // Sources (cli/source_commands.hpp): kubectl, loki and serve add their word, --follow its flags.
  const std::vector<std::unique_ptr<SourceCommand>> sources = source_commands();
  for (const auto& source : sources) source->add_flags(app, kFollow);
  add_alert_flags(app, run.alerts, kAlerts);  // Alertmanager and webhooks (cli/alerting.hpp)
  std::vector<std::string> label_flags;
  app.add_option("--label", label_flags, "Add NAME=VALUE to every alert, incident and metric (repeatable)")
      ->type_name("NAME=VALUE")
      ->allow_extra_args(false)
      ->group(kAlerts);

  add_certificate_source_flags(app, run.certs, "Certificates beside the logs");

  app.add_option("--max-line-bytes", run.max_line_bytes, "Cut longer lines (counted; the head is matched) [1 MiB]")
      ->check(count_check(1, std::uint64_t{1} << 30))
      ->type_name("N")
      ->group(kTuning);
  run.threads = std::max(1u, std::thread::hardware_concurrency());
  app.add_option("--threads", run.threads, "Threads for replaying files [the cores available]")
      ->check(CLI::Range(1u, 256u).description(""))
      ->type_name("N")
      ->group(kTuning);
  std::string lateness = "30s";
  app.add_option("--allowed-lateness", lateness, "How late a line may arrive and still count in order [30s]")
      ->check(duration_check(/*positive=*/false))
      ->type_name("DUR")
      ->group(kTuning);
  std::string max_clock_skew = "5m";
  app.add_option("--max-clock-skew", max_clock_skew,
                 "Lines this far past now or their kubelet/Loki time move no clock [5m]")
      ->check(duration_check())
      ->type_name("DUR")
      ->group(kTuning);
  std::string expiry_retention = "7d";
  app.add_option("--expiry-retention", expiry_retention, "Keep an expired certificate's expiry on /metrics this long [7d]")
      ->check(duration_check(/*positive=*/false))
      ->type_name("DUR")
      ->group(kTuning);
  app.add_option("--max-incidents", run.tracker.max_incidents, "Incidents held at most; the oldest are dropped [10000]")
      ->check(count_check(1, 100'000'000))
      ->type_name("N")
      ->group(kTuning);

  CLI::App* rules = app.add_subcommand("rules", "Check, test and list rule packs");
  rules->require_subcommand(1);
  rules->footer("Packs: rules/README.md. Without PATH, each uses the built-in packs.");
  std::vector<std::string> check_paths, test_paths, list_paths;
  CLI::App* check = rules->add_subcommand("check", "Validate packs: every problem with file:line and why");
  check->add_option("paths", check_paths, "Pack files or directories (default: built-in packs)")->type_name("PATH");
  std::string check_sample;
  check->add_option("--sample", check_sample, "Also warn about rules tried on many lines of this log (plain, .gz, .zst) that they do not match")
      ->type_name("FILE");
  CLI::App* test = rules->add_subcommand("test", "Run every rule's embedded test lines");
  test->add_option("paths", test_paths, "Pack files or directories (default: built-in packs)")->type_name("PATH");
  CLI::App* list = rules->add_subcommand("list", "Print a table of rules: id, class, severity, title");
  list->add_option("paths", list_paths, "Pack files or directories (default: built-in packs)")->type_name("PATH");

  std::vector<std::string> export_paths;
  std::string export_what = "rg";
  CLI::App* exp = rules->add_subcommand("export", "Print every rule's regex (for rg -f, grep -E -f) or its literals");
  exp->add_option("paths", export_paths, "Pack files or directories (default: built-in packs)")->type_name("PATH");
  exp->add_option("--as", export_what,
                  "rg (RE2/Rust syntax), ere (grep -E), literals or anchors (what the prefilter searches), "
                  "loki-ruler (a Loki ruler rule group), "
                  "alertmanager-inhibit (inhibit_rules from the correlations, equal also on each --label)")
      ->check(CLI::IsMember({"rg", "ere", "literals", "anchors", "loki-ruler", "alertmanager-inhibit"}))
      ->default_str("rg");
  std::string loki_selector = "{namespace=~\".+\"}";
  exp->add_option("--selector", loki_selector, "loki-ruler: the stream selector of every alert")->default_str(loki_selector);

  CertsCommand certs;  // klaxon certs: the certificate inventory (cli/certs_command.hpp)
  add_certs_command(app, certs);

  if (const std::string hint = did_you_mean(app, std::vector<std::string>(argv + 1, argv + argc)); !hint.empty()) {
    std::fprintf(stderr, "%s\n", hint.c_str());
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  {
    std::string error;
    auto labels = parse_external_labels(label_flags, error);
    if (!labels) {
      std::fprintf(stderr, "klaxon: %s\n", error.c_str());
      return kExitUsage;
    }
    run.labels = std::move(*labels);
  }
  if (!fail_on.empty()) run.fail_on = klaxon::severity_from_string(fail_on);
  run.tracker.allowed_lateness = duration_ms(lateness).count() * (klaxon::kNanosPerSecond / 1000);
  run.tracker.expiry_retention = duration_ms(expiry_retention).count() * (klaxon::kNanosPerSecond / 1000);
  run.tracker.max_clock_skew = duration_ms(max_clock_skew).count() * (klaxon::kNanosPerSecond / 1000);
  while (run.alerts.status_url.ends_with('/')) run.alerts.status_url.pop_back();
  if (const std::string error = apply_expiry_flags(expiry, run, certs); !error.empty()) {
    std::fprintf(stderr, "klaxon: %s\n", error.c_str());
    return kExitUsage;
  }
  // A source word reads no FILEs; a word after it that is neither its flag nor ours lands here.
  for (const auto& s : sources)
    if (const CLI::App* source = s->word(); source && source->parsed() && !run.inputs.empty()) {
      std::fprintf(stderr, "klaxon %s: '%s' is not one of its flags or values; see klaxon %s --help\n",
                   source->get_name().c_str(), run.inputs.front().c_str(), source->get_name().c_str());
      return kExitUsage;
    }

  try {
    if (check->parsed()) return rules_check(check_paths, check_sample);
    if (test->parsed()) return rules_test(run.rules, test_paths);
    if (list->parsed()) return rules_list(run.rules, list_paths);
    if (exp->parsed() && export_what == "alertmanager-inhibit")
      return rules_export_alertmanager_inhibit(run.rules, export_paths, run.labels);
    if (exp->parsed() && export_what == "loki-ruler") return rules_export_loki_ruler(run.rules, export_paths, loki_selector);
    if (exp->parsed()) return rules_export(run.rules, export_paths, export_what);
    if (certs.app->parsed()) return run_certs(certs);
    for (const auto& source : sources)
      if (source->chosen()) return source->run(run);
    for (const auto& source : sources)
      if (const std::string misused = source->misused(); !misused.empty()) {
        std::fprintf(stderr, "klaxon: %s\n", misused.c_str());
        return kExitUsage;
      }
    return run_files(run);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "klaxon: internal error: %s\n", klaxon::printable(e.what()).c_str());
    return kExitFailure;
  }
}

}  // namespace
