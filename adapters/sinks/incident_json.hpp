// adapters/sinks/incident_json.hpp — an incident as JSON, written in one place.
//
// DESIGN.md's incident object is what every machine reader of klaxon sees: an incident line of
// `--format jsonl` and the incidents of its summary, the body `--webhook` posts, and the status
// page's /api/incidents (which adds its own keys after these: history, symptom ids, runbook URL).
// One writer keeps them one shape: a key added here appears in all of them at once, and
// tests/golden pins it.
#pragma once

#include <cstdint>
#include <string>

#include "engine/incident_tracker.hpp"

namespace klaxon::sinks {

/// Appends the incident object's keys, `"id":...,"rule":...` (no braces, so that a caller can add
/// keys of its own before closing it).
void append_incident_json(std::string& out, const IncidentSnapshot& i);
/// Appends one whole incident event object, `{"type":"incident","event":...}` (no newline):
/// a line of `--format jsonl`, and the body `--webhook` posts.
void append_incident_event_json(std::string& out, const IncidentEvent& e);
/// Appends an instant as RFC 3339 to the second, or `null` for 0 (not known).
void append_instant_or_null(std::string& out, Nanos t);
/// Appends an integer, and a quoted RFC 3339 instant (`nano`: with nanoseconds), in place: the
/// JSON-lines writer's per-match fields use them too.
void append_integer(std::string& out, std::int64_t n);
void append_quoted_instant(std::string& out, Nanos t, bool nano);

}  // namespace klaxon::sinks
