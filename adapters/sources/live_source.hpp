// adapters/sources/live_source.hpp — sources that run for months: kubectl, followed files, Loki.
//
// A live source is a coroutine on the run's event loop (Boost.Asio). It owns its connection or
// child process, reconnects and resumes on its own, and hands bytes or whole lines to the
// pipeline's Intake under a stream key (one per pod/container, file, or Loki stream). It knows nothing
// of rules. It returns only when its input is finite and done; a fatal configuration error
// (kubectl missing, forbidden, no such namespace, bad query) is thrown as FatalSourceError with
// a message for the operator. Shutdown is two-phase (cli/run_live.cpp): run() is cancelled
// first (Asio's terminal cancellation, through the slot its coroutine was spawned with), so the
// source stops reading and returns or throws operation_aborted; what it threw then is not an
// error. The pipeline then finishes and the sinks flush; a source that has not returned within
// a short grace is left behind, and its destructor releases what it holds (children killed,
// connections closed).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "engine/civil_time.hpp"
#include "engine/labels.hpp"

namespace klaxon::sources {

/// Where a live source delivers: the pipeline's input side (its outputs are EventSinks,
/// engine/event_sink.hpp). Implemented over the pipeline in cli/run_live.cpp; called on the
/// event loop only.
class Intake {
 public:
  virtual ~Intake() = default;
  /// The next bytes of `stream` (framed into lines by the pipeline, per stream).
  virtual void bytes(const std::string& stream, std::string_view data, const Labels& labels) = 0;
  /// One whole line of `stream` whose time the source knows (unix ns; the line's own wins).
  virtual void line(const std::string& stream, std::string_view line, Nanos time, const Labels& labels) = 0;
  /// `stream` ended (a pod went away, a file was rotated away).
  virtual void end(const std::string& stream) = 0;
  /// Something the operator should know: said on stderr, counted under `counter`
  /// (e.g. "kubectl_restarts", "loki_reconnects", "loki_dropped_entries").
  virtual void notice(std::string_view counter, std::string_view message, std::uint64_t count = 1) = 0;
  /// Connected or not, for /readyz.
  virtual void connected(std::string_view source, bool up) = 0;
  /// Writes out what was handed on so far; a source calls it before it records its position
  /// (a state file), so that a crash never skips what was read but not yet written.
  virtual void flush() {}
};

class FatalSourceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class LiveSource {
 public:
  virtual ~LiveSource() = default;
  virtual boost::asio::awaitable<void> run(Intake& out) = 0;
};

}  // namespace klaxon::sources
