// adapters/sinks/console_sink.hpp — the terminal: one short line per classified log line.
//
//   2023-06-19T13:19:53Z CRIT cert_expired  app1-123456-abc7/daprd  error starting server: … is after 2023-06-16T12:31:17Z  [expired_at=2023-06-16T12:31:17Z]
//
// Written for an operator at 3 a.m. on whatever terminal they have:
// - Every line fits the width (`ConsoleOptions::width`: COLUMNS, else the terminal's; 0 = no
//   limit, as in a pipe), also after the window is resized: SIGWINCH only counts (an atomic,
//   all a signal handler may touch), and the sink reads the terminal's width again before its
//   next line when the count moved. Below 120 columns the time is the time of day, and a `── DATE` line
//   says when the day changes. A long message is cut around what the rule matched, so the
//   words that made the line a certificate failure stay on screen.
// - The who column is the pod/container (from the envelope, a `pod`/`k8s.pod` field or a
//   kubelet's `pod="ns/name"`), the file:line only when no pod is known.
// - Incident events stand out (a marker; colour and bold on a terminal or with --color
//   always, never in a pipe, never with NO_COLOR). Symptoms under a root are not shown on their
//   own: the root says how many there are. An incident's UPDATED line is printed only when its
//   count (or its symptoms) doubled or its severity changed: the JSON lines keep every event.
// - The summary at the end lists the root causes first with their fix, and every incident that
//   is still open (a root's open symptoms beneath it).
// Everything that comes from a log line is made printable: control characters, C1 controls
// and broken UTF-8 never reach the terminal.
#pragma once

#include <cstdio>
#include <map>
#include <string>
#include <string_view>

#include "engine/event_sink.hpp"

namespace klaxon::sinks {

struct ConsoleOptions {
  bool color = false;
  std::size_t width = 0;        ///< columns; 0 = no limit
  bool incidents_only = false;  ///< --incidents: incident events and the summary, no matched lines
  /// The terminal whose width `width` follows after a window change (watch_window_changes());
  /// -1: the width stays (a pipe, or COLUMNS set).
  int resize_fd = -1;
};

class ConsoleSink final : public EventSink {
 public:
  ConsoleSink(std::FILE* out, ConsoleOptions options) : out_(out), options_(options) {}
  ConsoleSink(std::FILE* out, bool color) : ConsoleSink(out, ConsoleOptions{color}) {}
  void match(const ClassifiedLine& line) override;
  void incident(const IncidentEvent& event) override;
  void summary(const RunSummary& summary) override;
  void flush() override;

 private:
  struct Printed {  // what the terminal last said of an incident
    std::uint64_t count = 0, symptoms = 0;
    Severity severity = Severity::warning;
  };
  bool narrow() const { return options_.width != 0 && options_.width < 120; }
  void follow_window();
  std::string time_column(Nanos t);
  void put(std::string line);

  std::FILE* out_;
  ConsoleOptions options_;
  std::string buf_;
  std::string day_;                        // narrow: the day of the last line with a time
  std::map<std::string, Printed> printed_;  // open incidents, by id
  unsigned window_changes_seen_ = 0;
};

/// The width to fit output to: COLUMNS when set to a number, else the terminal's (`fd` a tty),
/// else 0 (no limit).
std::size_t terminal_width(int fd);
/// Whether that width is the terminal's own, so that it changes with its window: `fd` is a tty
/// and COLUMNS does not say otherwise.
bool width_follows_window(int fd);
/// Counts SIGWINCH from now on (installs the handler once; SA_RESTART, so no read is cut short).
void watch_window_changes();
/// How many window changes were counted so far.
unsigned window_changes() noexcept;

/// `text` safe to print on a terminal, byte for byte as long: control characters become
/// spaces, C1 controls `·`, bytes that are no UTF-8 `?`.
std::string terminal_safe(std::string_view text);
/// Display columns of `text` (valid UTF-8): one per code point; `ESC [ ... m` takes none.
std::size_t display_columns(std::string_view text);
/// `text` (valid UTF-8, maybe with `ESC [ ... m`) cut to at most `columns`, ending in `…` when cut.
std::string cut_to_columns(std::string_view text, std::size_t columns);
/// Shortens `text` (valid UTF-8) to at most `columns`, keeping [key_begin, key_end) (bytes) and
/// as much around it as fits, `…` where text was left out. key_begin == key_end: keep the head.
std::string shorten_around(std::string_view text, std::size_t key_begin, std::size_t key_end, std::size_t columns);
/// Shortens `text` to at most `columns`, keeping its head and tail around `…`.
std::string shorten_middle(std::string_view text, std::size_t columns);

}  // namespace klaxon::sinks
