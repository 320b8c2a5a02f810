// engine/run_summary.hpp — what one run read, matched and opened: the pipeline's accounting.
//
// The pipeline fills it as lines go by and hands it to every EventSink at the end of a finite
// input (the terminal's summary, the jsonl summary object); /metrics reads it while a live run
// goes on. Plain data: counters, per-source numbers, the incidents and certificates held at
// the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/incident_tracker.hpp"
#include "engine/stream_classifier.hpp"

namespace klaxon {

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

}  // namespace klaxon
