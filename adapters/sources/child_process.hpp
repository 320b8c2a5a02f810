// adapters/sources/child_process.hpp — one child process whose standard output we read on the
// event loop (kubectl for now).
//
// Why our own and not Boost.Process: the child must die with klaxon even when klaxon is killed
// with SIGKILL (a guardian process with PR_SET_PDEATHSIG stands between them), its stderr must never block it (a
// memfd, read after it exits, instead of a pipe nobody drains), and ending it must be explicit
// and idempotent so that a pid is never signalled after it was reaped.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "engine/unique_fd.hpp"

namespace klaxon::sources {

class ChildProcess {
 public:
  /// Starts `argv[0]` (a path) with `argv`. Throws std::system_error when it cannot be started.
  ChildProcess(const boost::asio::any_io_executor& executor, const std::vector<std::string>& argv);
  /// Kills and reaps the child if it still runs.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  /// The child's standard output (a pipe).
  boost::asio::posix::stream_descriptor& out() { return out_; }

  /// Waits until the child exits, polling; after `grace` it is killed. Returns its exit status,
  /// or 128 + signal. Call after out() reached its end.
  boost::asio::awaitable<int> wait(std::chrono::milliseconds grace);
  /// Kills and reaps it now (idempotent). Its output then ends.
  void terminate();
  /// Kills it without reaping: the reader sees the end of out() and calls wait().
  void kill();
  bool running() const { return pid_ > 0; }

  /// What the child wrote on stderr (at most its first 16 KiB), trimmed.
  std::string error_text() const;

 private:
  pid_t pid_ = -1;
  UniqueFd err_fd_;  // a memfd: what the child wrote on stderr
  boost::asio::posix::stream_descriptor out_;
};

/// The path of `program` on PATH, or "" when it is not there.
std::string find_on_path(const std::string& program);

}  // namespace klaxon::sources
