// adapters/sinks/console_sink.hpp — the terminal: one short line per classified log line.
//
//   2023-06-19T13:19:53Z CRIT cert_expired  app1-123456-abc7  error starting server: … is after 2023-06-16T12:31:17Z  [expired_at=2023-06-16T12:31:17Z]
//
// Incident events stand out with a marker (symptoms under a root are not shown on their own:
// the root says how many there are), and the summary at the end lists the root causes first.
// Severity is coloured only when writing to a terminal (or with --color always), never when
// NO_COLOR is set. Long messages keep their head and their tail, where Go errors put the cause.
#pragma once

#include <cstdio>
#include <string>

#include "engine/event_sink.hpp"

namespace klaxon::sinks {

class ConsoleSink final : public EventSink {
 public:
  ConsoleSink(std::FILE* out, bool color) : out_(out), color_(color) {}
  void match(const ClassifiedLine& line) override;
  void incident(const IncidentEvent& event) override;
  void summary(const RunSummary& summary) override;
  void flush() override;

 private:
  std::FILE* out_;
  bool color_;
  std::string buf_;
};

/// Shortens `text` to at most `max` characters (bytes), keeping head and tail around ` … `.
std::string shorten_middle(std::string_view text, std::size_t max);

}  // namespace klaxon::sinks
