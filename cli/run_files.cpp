// cli/run_files.cpp — `klaxon [FILE...]`: replay files or a pipe through the matcher.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "adapters/sinks/console_sink.hpp"
#include "adapters/sinks/json_lines_sink.hpp"
#include "adapters/sources/file_source.hpp"
#include "adapters/sources/live_source.hpp"
#include "cli/alerting.hpp"
#include "cli/certificate_sources.hpp"
#include "cli/options.hpp"
#include "cli/state_dir.hpp"
#include "cli/status.hpp"
#include "engine/printable.hpp"
#include "rules/rule_selection.hpp"

namespace klaxon::cli {
namespace {

constexpr std::size_t kReadChunk = 256 * 1024;

volatile std::sig_atomic_t g_stop = 0;  // the signal that asked to stop; 0 = none
void on_signal(int signal) { g_stop = signal; }

// Ctrl-C or SIGTERM ends the read at once (no SA_RESTART), the summary is still printed.
void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// --hold: the replay is over, its pages stay up for a look until Ctrl-C or SIGTERM.
void hold_until_signal(StatusService& status) {
  std::fprintf(stderr, "klaxon: replay done; holding %s until Ctrl-C\n", status.url().c_str());
  while (!g_stop) {
    ::usleep(100'000);  // the handler sets g_stop (and interrupts the sleep)
    status.tick();      // what changes while held (clients the port refused) shows on /metrics
  }
}

}  // namespace

std::optional<Matcher> load_matcher(const RuleOptions& options, rules::RuleSet* loaded, unsigned threads) {
  rules::RuleSet set;
  std::vector<Diagnostic> problems;
  rules::load_rule_selection({!options.no_default_rules, rules::TestLines::skip, threads, options.rule_paths,
                              options.disabled_rules, options.runbook_base, options.expiry},
                             set, problems);
  rules::check_rule_set(set, problems);
  std::optional<Matcher> matcher;
  if (!rules::has_errors(problems)) matcher = Matcher::compile(set.rules, problems, threads);
  for (const Diagnostic& d : problems)
    if (!d.is_warning) std::fprintf(stderr, "klaxon: %s\n", format_diagnostic(d).c_str());
  if (!matcher) {
    std::fprintf(stderr, "klaxon: the rules above have errors; `klaxon rules check PATH` lists them all\n");
    return std::nullopt;
  }
  if (!options.prefilter) matcher->disable_prefilter();
  if (loaded) *loaded = std::move(set);
  return matcher;
}

PipelineOptions pipeline_options(const RunOptions& options) {
  PipelineOptions p;
  p.max_line_bytes = options.max_line_bytes;
  p.tracker = options.tracker;
  p.incident_labels = options.labels;
  return p;
}

std::unique_ptr<EventSink> make_output_sink(const RunOptions& options) {
  if (options.format == "jsonl") return std::make_unique<sinks::JsonLinesSink>(stdout, options.matches);
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  sinks::ConsoleOptions console;
  console.color = options.color == "always" || (options.color == "auto" && tty && std::getenv("NO_COLOR") == nullptr);
  console.width = sinks::terminal_width(STDOUT_FILENO);
  if (sinks::width_follows_window(STDOUT_FILENO)) {
    console.resize_fd = STDOUT_FILENO;  // a resized window: the next line fits the new width
    sinks::watch_window_changes();
  }
  console.incidents_only = options.incidents_only;
  return std::make_unique<sinks::ConsoleSink>(stdout, console);
}

namespace {

bool is_pipe_or_terminal(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && !S_ISREG(st.st_mode);
}

// Bytes that arrive over time: `-` from a pipe or terminal, a FIFO (`<(kubectl logs -f ...)` is
// /dev/fd/N, a pipe), a character device. Read with a timeout, line by line, whatever --threads says.
bool is_live_input(const std::string& path) {
  if (path == "-") return is_pipe_or_terminal(STDIN_FILENO);
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

}  // namespace

int run_files(const RunOptions& options) {
  rules::RuleSet set;
  std::optional<Matcher> matcher = load_matcher(options.rules, &set, options.threads);
  if (!matcher) return kExitUsage;

  if (options.hold && options.listen.empty()) {
    std::fprintf(stderr, "klaxon: --hold keeps the --listen pages up after a replay; add --listen HOST:PORT\n");
    return kExitUsage;
  }
  std::unique_ptr<EventSink> sink = make_output_sink(options);

  std::vector<std::string> inputs = options.inputs;
  if (inputs.empty()) inputs.push_back("-");
  if (inputs == std::vector<std::string>{"-"} && ::isatty(STDIN_FILENO) == 1)
    std::fprintf(stderr, "klaxon: reading log lines from standard input (Ctrl-D ends; klaxon --help for more)\n");
  install_signal_handlers();

  Pipeline pipeline(*matcher, set.correlations, pipeline_options(options), {sink.get()});
  std::unique_ptr<StateKeeper> state;  // --state-dir: before anything shows or sends the incidents
  if (!keep_state(options.state_dir, pipeline, state)) return kExitUsage;
  std::unique_ptr<StatusService> status;
  try {
    status = std::make_unique<StatusService>(options, pipeline, /*live=*/false);
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "klaxon: %s\n", printable(e.what()).c_str());
    return kExitUsage;
  }
  status->publish();
  const bool only_stdin = inputs == std::vector<std::string>{"-"} && is_pipe_or_terminal(STDIN_FILENO);
  // Replayed files (event time may be years ago) page nobody unless asked to.
  std::unique_ptr<Alerting> alerting;
  if (options.alerts.any() && !only_stdin && !options.alerts.send_replayed) {
    std::fprintf(stderr, "klaxon: replaying files: no alerts or webhooks are sent (add --send-replayed to send them)\n");
  } else if (!Alerting::start(options.alerts, matcher->rules(), pipeline, status.get(), alerting)) {
    return kExitUsage;
  }
  // --certs, --probe, --certs-kubernetes: read once, before the first line, judged on the
  // clock of the lines (a pipe: the wall clock).
  try {
    if (auto certificates = CertificateSources::create(options.certs, pipeline, status->metrics())) {
      pipeline.set_replay(!is_live_input(inputs.front()));
      certificates->read_once([] { return g_stop != 0; });  // Ctrl-C: not after a hanging probe's timeout
    }
  } catch (const sources::FatalSourceError& e) {
    std::fprintf(stderr, "klaxon: %s\n", e.what());
    return kExitUsage;
  }
  for (const std::string& path : inputs) {
    if (g_stop) break;
    pipeline.count_source();
    std::string error;
    auto source = sources::open_file_source(path, error);
    if (!source) {
      std::fprintf(stderr, "klaxon: error: %s\n", printable(error).c_str());
      pipeline.count_source_error();
      continue;
    }
    // A pipe (kubectl logs -f) may fall silent: wake up every second to move the clock on.
    const bool live = is_live_input(path);
    // A pipe is followed line by line; an archive's decompressor keeps a core of its own busy.
    const unsigned busy = source->busy_threads();
    if (!only_stdin) pipeline.use_threads(!live && options.threads > busy ? options.threads - busy : 1);
    pipeline.set_replay(!live);
    auto progress = [&] {
      pipeline.flush();
      status->tick();
      if (state) state->tick();
    };
    auto failed = [&](const std::string& why) {
      std::fprintf(stderr, "klaxon: error: %s: %s\n", printable(source->name()).c_str(), printable(why).c_str());
      pipeline.count_source_error();
    };
    if (auto file = source->regular_file(); file && pipeline.threaded()) {
      const std::string error = pipeline.feed_file(source->name(), file->fd, file->size, [&] {
        progress();
        return !g_stop;
      });
      if (!error.empty()) failed(error);
    } else {
      // Read into the pipeline's room, or classify a read-ahead's own buffer where it lies.
      const bool borrow = source->lends() && !pipeline.threaded();
      for (;;) {
        std::string_view lent;
        sources::ReadResult r =
            borrow ? source->lend(lent, live ? 1000 : -1) : source->read(pipeline.room(kReadChunk), live ? 1000 : -1);
        if (r.bytes > 0 && borrow) pipeline.feed(source->name(), lent);
        else if (r.bytes > 0) pipeline.commit(source->name(), r.bytes);
        else if (live) pipeline.tick_wall();
        progress();
        if (!r.error.empty()) failed(r.error);
        if (r.eof || g_stop) break;
      }
    }
    pipeline.end_stream(source->name());
  }
  // A replay stopped early says so and exits as shells expect of a signal (128 + its number), so a
  // script cannot take half a log for all of it. A pipe being followed ends this way normally.
  const bool cut_short = g_stop != 0 && !std::all_of(inputs.begin(), inputs.end(), is_live_input);
  if (cut_short) pipeline.cut_short(g_stop);
  const RunSummary& summary = pipeline.finish();
  if (state) state->finish();
  // Alerts that never reached their receiver are a failed run: a script must not take the replay
  // for delivered (what was lost is said above).
  const bool delivered = !alerting || alerting->finish();
  status->publish();  // after the drain: /metrics shows what was not delivered
  if (options.hold && !cut_short) hold_until_signal(*status);

  if (cut_short) return 128 + g_stop;
  if (!status->report_written()) return kExitFailure;
  if (options.fail_on && pipeline.worst() && *pipeline.worst() >= *options.fail_on) return kExitFailOn;
  return summary.source_errors > 0 || !delivered ? kExitFailure : kExitOk;
}

}  // namespace klaxon::cli
