// adapters/sinks/output_sink.hpp — where classified lines and the run's summary are printed.
//
// Classified lines, incident lifecycle events, and at the end of a finite input the summary.
// Two printers share this shape, as ripgrep's Standard and JSON printers share its Sink: the
// terminal (ConsoleSink) and the machine output of DESIGN.md (JsonLinesSink). They write to a
// FILE* they do not own, and flush when told, so that a line piped in from `kubectl logs -f`
// shows up at once.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "engine/incident_tracker.hpp"
#include "engine/stream_classifier.hpp"

namespace klaxon::sinks {

struct RunSummary {
  StreamStats stats;
  std::map<std::string, std::uint64_t> matches_by_class;
  std::map<std::string, std::uint64_t> matches_by_severity;
  std::map<std::pair<std::string, std::string>, std::uint64_t> matches_by_rule;  // (rule, class)
  std::size_t sources = 0;
  std::size_t source_errors = 0;
  std::map<std::string, std::uint64_t> source_counters;  // restarts, reconnects, dropped entries
  std::map<std::string, bool> connected;                // live sources: connected now?
  std::vector<IncidentSnapshot> incidents;  // every incident held at the end, oldest first
  std::vector<IncidentTracker::Certificate> certificates;
  TrackerStats tracker;
  int cut_short_by = 0;  // the signal (SIGINT, SIGTERM) that stopped a replay before its end; 0 = none
};

class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual void match(const ClassifiedLine& line) = 0;
  virtual void incident(const IncidentEvent& event) = 0;
  virtual void summary(const RunSummary& summary) = 0;
  virtual void flush() = 0;
};

}  // namespace klaxon::sinks
