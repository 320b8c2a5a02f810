// engine/unique_fd.hpp — a file descriptor that closes itself.
//
// Every early return between an open() and its close() used to be a close() written by hand
// (a child's pipes when fork fails, a temp file when a write fails, a lock held for the run);
// one forgotten is a descriptor leaked for the life of a run that lasts months. Owned like a
// unique_ptr: moved, never copied. Where close()'s own error matters (the last write of a
// file can fail there: NFS, a full disk), call close() and look at what it says.
#pragma once

#include <utility>

#include <unistd.h>

namespace klaxon {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  /// The descriptor, still owned; -1 when none.
  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  /// Gives the descriptor up (to Asio, to a child): no longer closed here.
  int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the one held (its error ignored) and holds `fd` instead.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  /// Closes now; false (errno set) when close() failed. None held is success.
  bool close() noexcept { return fd_ < 0 || ::close(std::exchange(fd_, -1)) == 0; }

 private:
  int fd_ = -1;
};

}  // namespace klaxon
