// cli/options.hpp — what the command line asked for, as plain data.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/event_sink.hpp"
#include "engine/incident_tracker.hpp"
#include "engine/line_framer.hpp"
#include "engine/matcher.hpp"
#include "engine/pipeline.hpp"
#include "rules/rule_pack_loader.hpp"

namespace klaxon::sinks {
class StatusBoard;
}

namespace klaxon::cli {

struct RuleOptions {
  std::vector<std::string> rule_paths;  // --rules
  bool no_default_rules = false;        // --no-default-rules
  bool prefilter = true;                // --no-prefilter: try every rule on every line (the reference)
  std::vector<std::string> disabled_rules;  // --disable-rule ID (globs)
  std::string runbook_base;                 // --runbook-base URL (docs/runbooks/ links)
  rules::ExpiryThresholds expiry;           // --expiry-warning, --expiry-critical
};

/// Network sinks (Alertmanager, webhooks): see cli/alerting.hpp.
struct AlertOptions {
  std::vector<std::string> alertmanagers;    // --alertmanager URL (repeatable)
  std::string alertmanager_resend = "1m";    // --alertmanager-resend
  std::vector<std::string> webhooks;         // --webhook URL (repeatable)
  std::string webhook_format = "json";       // --webhook-format json|slack
  std::vector<std::string> webhook_headers;  // --webhook-header 'Name: value'
  std::string ca_file;                       // --ca-file
  bool insecure_skip_verify = false;         // --insecure-skip-verify
  bool send_replayed = false;                // --send-replayed
  /// --external-url: where people reach klaxon's status page (behind an ingress), no trailing
  /// slash; the base of alerts' generatorURL, of links in webhook and Slack messages and of the
  /// page's own links. Empty: the --listen address, and no links in messages.
  std::string status_url;
  bool any() const { return !alertmanagers.empty() || !webhooks.empty(); }
};

/// Certificate sources beside the log source (cli/certificate_sources.hpp).
struct CertificateSourceOptions {
  std::vector<std::string> paths;      // --certs PATH (repeatable)
  bool kubernetes = false;             // --certs-kubernetes
  std::vector<std::string> probes;     // --probe HOST:PORT[@SNI] (repeatable)
  std::string probe_interval = "5m";   // --probe-interval
  std::string namespace_, context, kubeconfig;  // klaxon kubectl's -n, --context, --kubeconfig
  bool all_namespaces = false;                   // klaxon kubectl's -A
  bool any() const { return !paths.empty() || kubernetes || !probes.empty(); }
};

struct RunOptions {
  RuleOptions rules;
  std::vector<std::string> inputs;  // files; empty or "-" = stdin
  std::string format = "text";      // text | jsonl
  bool matches = false;             // --matches (jsonl)
  bool incidents_only = false;      // --incidents (text): incident events and the summary only
  std::string color = "auto";       // auto | always | never
  std::size_t max_line_bytes = LineFramer::kDefaultMaxLineBytes;
  std::optional<Severity> fail_on;
  TrackerOptions tracker;
  unsigned threads = 1;  // --threads (replay of files)
  std::string listen;    // --listen HOST:PORT: /metrics, /healthz, /readyz, / (cli/status.hpp)
  struct ListenGuardFiles {  // --listen's TLS and credentials, the flags serve's push port takes
    std::string tls_cert_file, tls_key_file, client_ca_file, bearer_token_file, basic_auth_file;
    bool any() const {
      return !tls_cert_file.empty() || !tls_key_file.empty() || !client_ca_file.empty() || !bearer_token_file.empty() ||
             !basic_auth_file.empty();
    }
  } listen_guard;
  std::shared_ptr<sinks::StatusBoard> status_board;  // shown elsewhere too (serve's push port)
  std::string report;    // --report FILE.html: the run as one page, written when it ends (cli/status.hpp)
  bool hold = false;     // --hold: a replay with --listen keeps serving after its end until SIGINT/SIGTERM
  std::string source_name = "live";  // live mode: the `source` label of /metrics line counts
  std::string state_dir;  // --state-dir: incidents and expiries kept across restarts (cli/state_dir.hpp)
  AlertOptions alerts;
  CertificateSourceOptions certs;
  Labels labels;  // --label NAME=VALUE (cli/external_labels.hpp)
};

/// Exit statuses (DESIGN.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitFailOn = 3;

/// Loads the rule set the options name and compiles it (on up to `threads` threads), printing
/// every problem to stderr. Returns nullopt (after printing) when the rules cannot be used.
std::optional<Matcher> load_matcher(const RuleOptions& options, rules::RuleSet* loaded = nullptr, unsigned threads = 1);

/// Standard output as --format and --color ask: the terminal printer or JSON lines.
std::unique_ptr<EventSink> make_output_sink(const RunOptions& options);
/// The pipeline's part of the options (--max-line-bytes, the tracker's).
PipelineOptions pipeline_options(const RunOptions& options);

int run_files(const RunOptions& options);

/// `sample`: a log file to measure each rule's candidate rate on ("" = none).
int rules_check(const std::vector<std::string>& paths, const std::string& sample);
int rules_test(const RuleOptions& options, const std::vector<std::string>& paths);
int rules_list(const RuleOptions& options, const std::vector<std::string>& paths);
/// The packs a `klaxon rules` command names (PATHs, else the built-in ones, plus --rules).
/// `named_files`: the pack files the PATHs name (for `rules test PACK`).
rules::RuleSet load_rules_for_command(const RuleOptions& options, const std::vector<std::string>& paths,
                                      std::vector<Diagnostic>& problems, std::vector<std::string>* named_files = nullptr);
/// `rules export --as loki-ruler`: a Loki ruler rule group, one alert per rule (cli/rules_export_loki.cpp).
int rules_export_loki_ruler(const RuleOptions& options, const std::vector<std::string>& paths, const std::string& selector);
/// `what`: rg | ere (one regex per line, for rg -f / grep -E -f) or literals (per rule).
int rules_export(const RuleOptions& options, const std::vector<std::string>& paths, const std::string& what);
/// `rules export --as alertmanager-inhibit` (cli/export_alertmanager.cpp): the packs'
/// correlations as Alertmanager inhibit rules, `equal` also on every `--label` name.
std::string alertmanager_inhibit_rules(const rules::RuleSet& set, const std::vector<std::string>& label_names);
int rules_export_alertmanager_inhibit(const RuleOptions& options, const std::vector<std::string>& paths,
                                      const Labels& labels);

}  // namespace klaxon::cli
