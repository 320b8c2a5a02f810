// cli/state_dir.hpp — `--state-dir DIR`: what a restart of klaxon must not forget.
//
// klaxon runs for months and is restarted (a rollout, a rescheduled pod, an upgrade). Dapr 1.12+
// states its root's expiry only when the sentry starts, so a klaxon that forgot it would never
// warn again; one that forgot its open incidents would announce each of them a second time.
// The directory holds:
//
//   state.json     the open incidents (counts, first/last seen, samples, root cause), the
//                  certificate inventory (every stated expiry), and the clock: a versioned JSON
//                  document (`"klaxon_state": 1`), read with simdjson, written with our writer
//   follow.state   --follow's read positions (the --state file's format; --state FILE still wins)
//   lock           one klaxon per directory (flock)
//
// Alertmanager is told again what it was told: the open incidents are its alerts, re-sent from
// the restored state (cli/alerting.cpp). `klaxon kubectl` and `klaxon loki` resume from the
// newest line the state holds when no --since/--since-time/--tail/--from says otherwise.
//
// Writing is atomic: a temporary file opened O_CREAT|O_EXCL|O_NOFOLLOW (never someone's
// symlink), fsync, rename over state.json, fsync of the directory; so a crash leaves the old
// state or the new one, never half of one. It happens at most every few seconds, only when
// something changed, and at shutdown. A file that cannot be read as a state (damaged, cut, or
// written by a newer klaxon) is moved aside with a warning and klaxon starts fresh: a state
// file never stops a monitor from starting.
// Thread safety: none; used from the pipeline's thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "engine/pipeline.hpp"
#include "engine/unique_fd.hpp"

namespace klaxon::cli {

inline constexpr int kStateVersion = 1;

/// The document's text.
std::string render_state(const Pipeline::State& state);
/// Parses what render_state wrote. `error` says why not: damaged, or `newer` set when the file
/// is a later version's (so the caller can say that rather than "damaged").
std::optional<Pipeline::State> parse_state(const std::string& text, std::string& error, bool& newer);

class StateDir {
 public:
  /// Opens DIR (created, mode 0700, when missing) and locks it. Null with `error` set (for the
  /// operator) when it cannot be used: not a directory, not writable, locked by another klaxon.
  static std::unique_ptr<StateDir> open(const std::string& dir, std::string& error);
  ~StateDir();

  /// The saved state, or nullopt: none yet, or a file moved aside (said on stderr).
  std::optional<Pipeline::State> load();
  /// Writes `text` as state.json atomically. False with `error` set when it could not.
  bool save(const std::string& text, std::string& error);

  const std::string& path() const { return dir_; }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }

 private:
  StateDir() = default;
  std::string dir_;
  UniqueFd lock_fd_;  // flock'ed for the run: one klaxon per directory
};

/// The newest line time state.json in `dir` holds (for a source's resume point), without
/// locking or moving anything: nullopt when there is none or it cannot be read.
std::optional<Nanos> saved_resume_point(const std::string& dir);

/// Keeps a pipeline's state in a StateDir: restore() at start, tick() on the loop (saves at most
/// every `interval`, when changed), finish() at shutdown.
class StateKeeper {
 public:
  StateKeeper(std::unique_ptr<StateDir> dir, Pipeline& pipeline,
              std::chrono::milliseconds interval = std::chrono::seconds(5));
  /// Loads the saved state into the pipeline; says on stderr what was restored.
  void restore();
  void tick();
  void finish();

 private:
  void save();
  std::unique_ptr<StateDir> dir_;
  Pipeline& pipeline_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point last_save_{};
  std::string last_text_;
  bool said_error_ = false;
};

/// What every run does with --state-dir `dir`: opens it and restores `pipeline` from it, in
/// `out` (null without --state-dir). False, after saying why on stderr, when the directory
/// cannot be used (a usage error).
bool keep_state(const std::string& dir, Pipeline& pipeline, std::unique_ptr<StateKeeper>& out);

}  // namespace klaxon::cli
