// engine/event_sink.hpp — where a run's results go: the one output interface.
//
// The pipeline pushes what it finds to a list of EventSinks, as ripgrep's searcher pushes to
// its Sink: every classified line (match), every incident lifecycle event (incident), and at
// the end of the run its summary (summary). The terminal (ConsoleSink) and `--format jsonl`
// (JsonLinesSink) print all three; the network sinks (Alertmanager, webhooks) and the status
// service care about incidents only, and override just that. Every method has an empty
// default, so a sink says only what it does.
//
// Arguments are borrowed for the call. Calls come on the pipeline's thread, in order; a sink
// that sends elsewhere queues and returns (a dead receiver never slows reading). flush() asks
// for what was handed on so far to be written out (a line piped in from `kubectl logs -f`
// shows at once; a source flushes before it records its read position).
#pragma once

#include "engine/incident_tracker.hpp"
#include "engine/run_summary.hpp"
#include "engine/stream_classifier.hpp"

namespace klaxon {

class EventSink {
 public:
  virtual ~EventSink() = default;
  /// A classified line (lines that match no rule are not passed on).
  virtual void match(const ClassifiedLine& line) { (void)line; }
  /// An incident opened, escalated, was updated, resolved, or was adopted by a root cause.
  virtual void incident(const IncidentEvent& event) { (void)event; }
  /// The run ended (a finite input, or a live run stopped): what it saw, once.
  virtual void summary(const RunSummary& summary) { (void)summary; }
  /// Write out what was handed on so far.
  virtual void flush() {}
};

}  // namespace klaxon
