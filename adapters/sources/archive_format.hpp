// adapters/sources/archive_format.hpp — which archive a file is, by its first bytes.
//
// Operators save logs as `.gz` and `.zst` under any name (`kubectl logs ... | gzip > x`), and
// the kubelet compresses rotated pod logs in place, so a name says nothing: the magic numbers
// do (gzip: 1f 8b, RFC 1952; zstd frame: 28 b5 2f fd, RFC 8878). The replay decompresses what
// this finds; --follow leaves such a file alone (its bytes are not lines).
#pragma once

#include <cstddef>
#include <string_view>

namespace klaxon::sources {

enum class ArchiveFormat { none, gzip, zstd };

/// The longest magic number: read this many bytes (fewer at a file's end) to sniff.
inline constexpr std::size_t kArchiveMagicBytes = 4;

/// What `head`, a file's first bytes, says it is; none for plain text or too few bytes.
inline ArchiveFormat sniff_archive(std::string_view head) noexcept {
  if (head.starts_with(std::string_view("\x1f\x8b", 2))) return ArchiveFormat::gzip;
  if (head.starts_with(std::string_view("\x28\xb5\x2f\xfd", 4))) return ArchiveFormat::zstd;
  return ArchiveFormat::none;
}

/// Whether more bytes after `head` could still make it an archive: a reader of a pipe waits
/// for them only then (a `kubectl logs -f` pipe must not stall on its first short write).
inline bool may_become_archive(std::string_view head) noexcept {
  for (std::string_view magic : {std::string_view("\x1f\x8b", 2), std::string_view("\x28\xb5\x2f\xfd", 4)})
    if (head.size() < magic.size() && magic.starts_with(head)) return true;
  return false;
}

inline const char* to_string(ArchiveFormat f) noexcept {
  switch (f) {
    case ArchiveFormat::gzip: return "gzip";
    case ArchiveFormat::zstd: return "zstd";
    case ArchiveFormat::none: break;
  }
  return "plain";
}

}  // namespace klaxon::sources
