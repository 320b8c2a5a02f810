// adapters/sources/follow_source.hpp — `klaxon --follow PATH...`: files followed like `tail -F`.
//
// A node keeps its containers' logs in files (`/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log`,
// CRI format) that the kubelet rotates by rename, and other tools rotate by truncation
// (logrotate's copytruncate). FollowSource follows every file its PATHs name (a file, a glob, or a
// directory whose `*.log` files are followed at any depth) and keeps following as files appear,
// are rotated, truncated or deleted. One stream per file identity (device and inode), so a
// rotated file is read to its end before its successor at the same path, and nothing is lost.
//
// Why inotify and a poll: inotify (through an Asio descriptor) wakes us at once on Linux's local
// filesystems; a poll every second is the safety net where it says nothing (NFS, some overlays,
// a full watch table). Only whole lines are handed on; the position saved in the state file is
// always at a line end, so a restart neither repeats nor splits a line.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "adapters/sources/live_source.hpp"

namespace klaxon::sources {

struct FollowOptions {
  std::vector<std::string> paths;  // files, globs (glob(3)), or directories (their *.log, recursively)
  bool from_end = false;           // files present at start: skip what they hold (like tail -F)
  std::string state_path;          // --state: where read positions are kept ("" = nowhere)
  std::chrono::milliseconds poll_interval{1000};
  std::chrono::milliseconds rotate_wait{5000};  // a renamed/deleted file is still read this long
  std::chrono::milliseconds save_interval{1000};
};

/// Makes the source. Throws FatalSourceError when the state file is unusable (not ours, or not
/// writable), so that a monitor that cannot keep its place says so before it starts.
std::unique_ptr<LiveSource> make_follow_source(boost::asio::any_io_executor executor, FollowOptions options);

/// The labels of a followed file, from the kubelet's path shapes:
/// `.../<namespace>_<pod>_<uid>/<container>/<n>.log` (and its rotated `<n>.log.<time>`) and
/// `.../<pod>_<namespace>_<container>-<64 hex>.log` (/var/log/containers); else `file` = its name.
Labels labels_from_path(const std::string& path);

/// One saved read position: the file at `path` with this identity was read up to `offset`
/// (always a line end).
struct SavedPosition {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t offset = 0;
  std::string path;
  bool operator==(const SavedPosition&) const = default;
};

/// The state file's text: a header line, then `device inode offset path` per line.
std::string format_follow_state(const std::vector<SavedPosition>& positions);
/// Parses what format_follow_state wrote. Returns nullopt (with `error` set) when the text is not
/// a klaxon state file; a damaged line is skipped and counted in `skipped`. Empty text = no state.
std::optional<std::vector<SavedPosition>> parse_follow_state(const std::string& text, std::string& error,
                                                             std::size_t& skipped);

}  // namespace klaxon::sources
