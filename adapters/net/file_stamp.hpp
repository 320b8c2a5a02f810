// adapters/net/file_stamp.hpp — what identifies a version of a file, to see that it changed.
//
// A Kubernetes Secret mounted as a volume is rotated by swapping a symlink (`..data`): the path
// stays, the inode changes. A file rewritten in place changes its time or size. Comparing these
// stamps at each use costs one stat(2) per file, so the receivers re-read their certificates,
// tokens and user files the moment they change, with no watcher thread and no restart.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>

namespace klaxon::net {

struct FileStamp {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = -1;  // -1: no file (or none named)
  std::int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

/// The stamp of `path` now (following symlinks); the empty stamp when it is "" or missing.
inline FileStamp stamp_of(const std::string& path) {
  FileStamp s;
  if (path.empty()) return s;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return s;
  s.device = st.st_dev;
  s.inode = st.st_ino;
  s.size = st.st_size;
  s.mtime_ns = std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return s;
}

}  // namespace klaxon::net
