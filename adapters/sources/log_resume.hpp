// adapters/sources/log_resume.hpp — exactly once across a restarted log stream.
//
// When a `kubectl logs -f` child ends (the API server dropped the stream, the child stalled),
// the next one starts from `--since-time=<newest timestamp seen>`. The API server truncates that
// to whole seconds, so the new child repeats lines we already have: everything older than the
// newest timestamp, and the lines stamped with exactly it. ResumeFilter remembers those last
// lines (several lines may share one timestamp) and drops the repeats, so nothing is lost and
// nothing is doubled. Outside of a replay, a line older than the newest one is kept: stdout and
// stderr of one container may interleave slightly out of order.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "engine/civil_time.hpp"

namespace klaxon::sources {

class ResumeFilter {
 public:
  /// Whether `line`, stamped `time` (0: it has none), is new. Remembers it if so.
  bool admit(std::string_view line, Nanos time) {
    if (time == 0) return true;  // no timestamp: nothing to compare, never drop
    if (time < newest_) return !replaying_;
    if (time == newest_) {
      auto again = replay_.find(line);
      if (replaying_ && again != replay_.end() && again->second > 0) {
        --again->second;
        return false;
      }
      ++at_newest_[std::string(line)];
      return true;
    }
    newest_ = time;
    replaying_ = false;
    replay_.clear();
    at_newest_.clear();
    at_newest_[std::string(line)] = 1;
    return true;
  }

  /// A new child starts from newest(): what it repeats up to there is dropped.
  void restart() {
    replaying_ = newest_ != 0;
    replay_ = at_newest_;
  }

  /// The newest timestamp seen (0: none yet).
  Nanos newest() const { return newest_; }

 private:
  Nanos newest_ = 0;
  bool replaying_ = false;
  std::map<std::string, unsigned, std::less<>> at_newest_;  // lines stamped newest_, with their count
  std::map<std::string, unsigned, std::less<>> replay_;     // of those, not yet seen again since restart()
};

}  // namespace klaxon::sources
