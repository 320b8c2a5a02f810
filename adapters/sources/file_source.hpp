// adapters/sources/file_source.hpp — bytes from a file, an archive, or standard input.
//
// `klaxon FILE...` replays what operators saved: plain logs, `.gz` and `.zst` archives (known by
// their first bytes, not their names, so `kubectl logs ... | gzip > x` with any name works),
// and `-` for standard input. A read returns as soon as some bytes are there, so a pipe from
// `kubectl logs -f` is classified line by line as it arrives. A truncated or corrupt archive
// yields everything before the damage, then an error that says where.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace klaxon::sources {

struct ReadResult {
  std::size_t bytes = 0;  // bytes placed in the buffer
  bool eof = false;       // no more bytes will come (after these)
  bool timed_out = false; // nothing arrived within the timeout; call again
  std::string error;      // set when the stream broke; `bytes` before it are still good
};

/// A regular file, readable at any offset.
struct RegularFile {
  int fd = -1;
  std::uint64_t size = 0;  // when opened
};

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  /// Blocks until at least one byte, end of stream, an error, or `timeout_ms` (-1 = no limit;
  /// honoured by plain files and pipes, so a quiet `kubectl logs -f` pipe still lets the
  /// caller move its clock).
  virtual ReadResult read(std::span<char> buffer, int timeout_ms = -1) = 0;
  /// `-` reads as `stdin`; files keep the path they were given.
  virtual const std::string& name() const = 0;
  /// A plain regular file (not a pipe, not an archive), before any read(): its blocks may be
  /// read in parallel, at their offsets, instead (ParallelFeeder::feed_file).
  virtual std::optional<RegularFile> regular_file() const { return std::nullopt; }
  /// Sources that fill buffers of their own (an archive's read-ahead) lend them instead of
  /// copying into the caller's: `bytes` stays valid until the next read() or lend().
  virtual bool lends() const { return false; }
  virtual ReadResult lend(std::string_view& bytes, int timeout_ms = -1);
  /// Threads of its own the source keeps busy while it is read (an archive's decompressor):
  /// a replay leaves them their cores.
  virtual unsigned busy_threads() const { return 0; }
};

/// Opens `path` (`-` = standard input), unwrapping gzip or zstd when the content starts with
/// their magic bytes. Returns null and sets `error` when the file cannot be opened.
std::unique_ptr<ByteSource> open_file_source(const std::string& path, std::string& error);

}  // namespace klaxon::sources
