// adapters/sinks/json_lines_sink.hpp — `--format jsonl`: the machine output of DESIGN.md.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "engine/event_sink.hpp"

namespace klaxon::sinks {

class JsonLinesSink final : public EventSink {
 public:
  /// `with_matches`: print one object per classified line (`--matches`).
  JsonLinesSink(std::FILE* out, bool with_matches) : out_(out), with_matches_(with_matches) {}
  void match(const ClassifiedLine& line) override;
  void incident(const IncidentEvent& event) override;
  void summary(const RunSummary& summary) override;
  void flush() override;

 private:
  std::FILE* out_;
  bool with_matches_;
  std::string buf_;
  std::vector<Field> labels_;  // match_labels() of the line being written, reused
};

/// The labels a match is reported with: the record's own (pod, container, ...) and the rule's
/// group_by names found in the payload's fields (instance, app_id, ...).
std::vector<Field> match_labels(const ClassifiedLine& line);
void match_labels(const ClassifiedLine& line, std::vector<Field>& out);

}  // namespace klaxon::sinks
