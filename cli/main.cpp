// cli/main.cpp — flags to pipeline. The only place that knows every adapter.
#include <cstdio>
#include <algorithm>
#include <exception>
#include <thread>

#include <CLI/CLI.hpp>

#include "cli/loki_command.hpp"
#include "cli/options.hpp"
#include "engine/duration.hpp"

namespace {

constexpr const char* kFooter = R"(Examples:
  kubectl logs -f -n dapr-system -l app=dapr-sentry --prefix --timestamps | klaxon
  klaxon incident-2023-06-19.log.gz sentry.log
  klaxon --format jsonl --matches app.log
  klaxon loki --url http://loki:3100 --query '{namespace="dapr-system"}'
  klaxon rules test                      run the built-in packs' own test lines

Exit status: 0 ok, 1 an input failed, 2 usage or rule errors, 3 --fail-on was met.)";

}  // namespace

int main(int argc, char** argv) {
  using namespace klaxon::cli;
  CLI::App app{"klaxon: finds certificate and mTLS failures in Kubernetes logs, and says which one to fix first.\n"
               "Reads log lines from FILEs (plain, .gz, .zst) or standard input and prints each line it recognises."};
  app.footer(kFooter);
  app.get_formatter()->column_width(28);

  RunOptions run;
  std::string fail_on;
  app.add_option("files", run.inputs, "Log files to read; - or none for standard input")->type_name("FILE");
  app.add_option("--format", run.format, "Output: text (for people) or jsonl (for scripts)")
      ->check(CLI::IsMember({"text", "jsonl"}))
      ->default_str("text");
  app.add_flag("--matches", run.matches, "With --format jsonl: one object per classified line");
  app.add_option("--rules", run.rules.rule_paths, "Add a rule pack file or directory (repeatable)")
      ->type_name("PATH")
      ->allow_extra_args(false);
  app.add_flag("--no-default-rules", run.rules.no_default_rules, "Do not load the built-in rule packs");
  app.add_option("--color", run.color, "Colour severities: auto (on a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->default_str("auto");
  app.add_option("--max-line-bytes", run.max_line_bytes, "Cut longer lines (counted, head still matched)")
      ->default_str("1048576");
  app.add_option("--fail-on", fail_on, "Exit 3 if an incident this severe or worse was opened")
      ->check(CLI::IsMember({"warning", "critical"}));
  run.threads = std::max(1u, std::thread::hardware_concurrency());
  app.add_option("--threads", run.threads, "Threads for replaying files (default: the cores available)")
      ->check(CLI::Range(1u, 256u));
  std::string lateness = "30s";
  app.add_option("--allowed-lateness", lateness, "How late a line may arrive and still count in order")
      ->default_str("30s");
  app.add_option("--max-incidents", run.tracker.max_incidents, "Incidents held at most; the oldest are dropped")
      ->default_str("10000");

  CLI::App* rules = app.add_subcommand("rules", "Check, test and list rule packs");
  rules->require_subcommand(1);
  rules->footer("Packs: rules/README.md. Without PATH, test and list use the built-in packs.");
  std::vector<std::string> check_paths, test_paths, list_paths;
  CLI::App* check = rules->add_subcommand("check", "Validate packs: every problem with file:line and why");
  check->add_option("paths", check_paths, "Pack files or directories")->required()->type_name("PATH");
  CLI::App* test = rules->add_subcommand("test", "Run every rule's embedded test lines");
  test->add_option("paths", test_paths, "Pack files or directories (default: built-in packs)")->type_name("PATH");
  CLI::App* list = rules->add_subcommand("list", "Print a table of rules: id, class, severity, title");
  list->add_option("paths", list_paths, "Pack files or directories (default: built-in packs)")->type_name("PATH");

  std::vector<std::string> export_paths;
  std::string export_what = "rg";
  CLI::App* exp = rules->add_subcommand("export", "Print every rule's regex (for rg -f, grep -E -f) or its literals");
  exp->add_option("paths", export_paths, "Pack files or directories (default: built-in packs)")->type_name("PATH");
  exp->add_option("--as", export_what, "rg (RE2/Rust syntax), ere (grep -E), literals or anchors (what the prefilter searches)")
      ->check(CLI::IsMember({"rg", "ere", "literals", "anchors"}))
      ->default_str("rg");

  // Source: Loki (tail with gap fill, or a replayed window).
  LokiCommand loki;
  add_loki_command(app, loki);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!fail_on.empty()) run.fail_on = klaxon::severity_from_string(fail_on);
  if (auto secs = klaxon::parse_duration_seconds(lateness)) {
    run.tracker.allowed_lateness = *secs * klaxon::kNanosPerSecond;
  } else {
    std::fprintf(stderr, "klaxon: --allowed-lateness %s is not a duration (write 30s, 2m)\n", lateness.c_str());
    return kExitUsage;
  }

  try {
    if (check->parsed()) return rules_check(check_paths);
    if (test->parsed()) return rules_test(run.rules, test_paths);
    if (list->parsed()) return rules_list(run.rules, list_paths);
    if (exp->parsed()) return rules_export(run.rules, export_paths, export_what);
    if (loki.app->parsed()) return run_loki(run, loki);
    return run_files(run);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "klaxon: internal error: %s\n", e.what());
    return kExitFailure;
  }
}
