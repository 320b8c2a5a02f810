// cli/run_files.cpp — `klaxon [FILE...]`: replay files or a pipe through the matcher.
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
#include "cli/options.hpp"

namespace klaxon::cli {
namespace {

constexpr std::size_t kReadChunk = 256 * 1024;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

// Ctrl-C or SIGTERM ends the read at once (no SA_RESTART), the summary is still printed.
void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

std::string notice_text(const StreamNotice& n, std::size_t max_line_bytes) {
  switch (n.kind) {
    case StreamNotice::Kind::line_truncated:
      return fmt::format("{}:{}: a line longer than {} bytes was cut; its head is still matched "
                         "(further cuts are counted in the summary)",
                         n.source, n.line_no, max_line_bytes);
    case StreamNotice::Kind::malformed_json:
      return fmt::format("{}:{}: broken JSON, read as plain text (further ones are counted in the summary)",
                         n.source, n.line_no);
    case StreamNotice::Kind::invalid_utf8:
      return fmt::format("{}:{}: invalid UTF-8, shown with U+FFFD (further ones are counted in the summary)",
                         n.source, n.line_no);
  }
  return {};
}

}  // namespace

std::optional<Matcher> load_matcher(const RuleOptions& options, rules::RuleSet* loaded) {
  rules::RuleSet set;
  std::vector<Diagnostic> problems;
  if (!options.no_default_rules) rules::load_builtin_packs(set, problems);
  for (const std::string& path : options.rule_paths) rules::load_pack_path(path, set, problems);
  rules::check_rule_set(set, problems);
  std::optional<Matcher> matcher;
  if (!rules::has_errors(problems)) matcher = Matcher::compile(set.rules, problems);
  for (const Diagnostic& d : problems)
    if (!d.is_warning) std::fprintf(stderr, "klaxon: %s\n", format_diagnostic(d).c_str());
  if (!matcher) {
    std::fprintf(stderr, "klaxon: the rules above have errors; `klaxon rules check PATH` lists them all\n");
    return std::nullopt;
  }
  if (loaded) *loaded = std::move(set);
  return matcher;
}

namespace {

Nanos wall_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool is_pipe_or_terminal(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && !S_ISREG(st.st_mode);
}

}  // namespace

int run_files(const RunOptions& options) {
  rules::RuleSet set;
  std::optional<Matcher> matcher = load_matcher(options.rules, &set);
  if (!matcher) return kExitUsage;

  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  const bool color = options.color == "always" || (options.color == "auto" && tty && std::getenv("NO_COLOR") == nullptr);
  std::unique_ptr<sinks::OutputSink> sink;
  if (options.format == "jsonl") sink = std::make_unique<sinks::JsonLinesSink>(stdout, options.matches);
  else sink = std::make_unique<sinks::ConsoleSink>(stdout, color);

  std::vector<std::string> inputs = options.inputs;
  if (inputs.empty()) inputs.push_back("-");
  if (inputs == std::vector<std::string>{"-"} && ::isatty(STDIN_FILENO) == 1)
    std::fprintf(stderr, "klaxon: reading log lines from standard input (Ctrl-D ends; klaxon --help for more)\n");
  install_signal_handlers();

  IncidentTracker tracker(matcher->rules(), set.correlations, options.tracker);
  std::vector<IncidentEvent> events;
  std::optional<Severity> worst;
  auto deliver = [&] {
    for (const IncidentEvent& e : events) {
      sink->incident(e);
      if ((e.kind == IncidentEvent::Kind::opened || e.kind == IncidentEvent::Kind::escalated) &&
          (!worst || e.incident.severity > *worst))
        worst = e.incident.severity;
    }
    events.clear();
  };

  sinks::RunSummary summary;
  std::set<StreamNotice::Kind> said;
  std::vector<char> buffer(kReadChunk);
  StreamOptions stream_options;
  stream_options.max_line_bytes = options.max_line_bytes;
  // When the newest event time was first seen, on the wall clock: a live stream that falls
  // silent moves the event clock on by the wall time that passed since.
  Nanos latest_seen = 0, latest_seen_wall = 0;

  for (const std::string& path : inputs) {
    if (g_stop) break;
    ++summary.sources;
    std::string error;
    auto source = sources::open_file_source(path, error);
    if (!source) {
      std::fprintf(stderr, "klaxon: error: %s\n", error.c_str());
      ++summary.source_errors;
      continue;
    }
    const bool live = path == "-" && is_pipe_or_terminal(STDIN_FILENO);
    StreamClassifier stream(
        *matcher, source->name(), {}, stream_options,
        [&](const ClassifiedLine& line) {
          sink->match(line);
          ++summary.matches_by_class[line.rule.klass];
          ++summary.matches_by_severity[std::string(to_string(line.primary.severity))];
          tracker.observe(line, events);
          deliver();
        },
        [&](const StreamNotice& n) {
          if (said.insert(n.kind).second)
            std::fprintf(stderr, "klaxon: warning: %s\n", notice_text(n, options.max_line_bytes).c_str());
        });
    for (;;) {
      sources::ReadResult r = source->read(buffer, live ? 1000 : -1);
      if (r.bytes > 0) stream.feed(std::string_view(buffer.data(), r.bytes));
      if (tracker.latest_event_time() != latest_seen) {
        latest_seen = tracker.latest_event_time();
        latest_seen_wall = wall_now();
      } else if (live && latest_seen != 0) {
        tracker.advance(latest_seen + (wall_now() - latest_seen_wall), events);
        deliver();
      }
      sink->flush();
      if (!r.error.empty()) {
        std::fprintf(stderr, "klaxon: error: %s: %s\n", source->name().c_str(), r.error.c_str());
        ++summary.source_errors;
      }
      if (r.eof || g_stop) break;
    }
    stream.finish();
    deliver();
    summary.stats += stream.stats();
  }
  summary.incidents = tracker.incidents();
  summary.certificates = tracker.certificates();
  summary.tracker = tracker.stats();
  if (summary.tracker.evicted > 0)
    std::fprintf(stderr, "klaxon: warning: %llu incidents were dropped to stay within --max-incidents %zu\n",
                 static_cast<unsigned long long>(summary.tracker.evicted), options.tracker.max_incidents);
  sink->summary(summary);

  if (options.fail_on && worst && *worst >= *options.fail_on) return kExitFailOn;
  return summary.source_errors > 0 ? kExitFailure : kExitOk;
}

}  // namespace klaxon::cli
