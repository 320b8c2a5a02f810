// engine/line_framer.hpp — cuts a byte stream into lines without copying them.
//
// A source hands over chunks of whatever size its reads return; lines end at '\n' (a '\r'
// before it is dropped). Complete lines are views into the chunk being fed; only a line that
// straddles two chunks is copied, once, into a carry buffer. A line longer than the limit is
// cut: its first `max_line_bytes` are delivered (marked truncated) and the rest is skipped, so
// one runaway line neither exhausts memory nor hides the lines after it. NUL bytes and invalid
// UTF-8 are ordinary bytes here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace klaxon {

class LineFramer {
 public:
  static constexpr std::size_t kDefaultMaxLineBytes = std::size_t{1} << 20;

  explicit LineFramer(std::size_t max_line_bytes = kDefaultMaxLineBytes)
      : max_line_bytes_(max_line_bytes) {}

  /// Calls `on_line(std::string_view line, bool truncated)` for every line that ends in `bytes`.
  /// Lifetime: `line` is valid only during the call.
  template <class OnLine>
  void feed(std::string_view bytes, OnLine&& on_line);

  /// Delivers a final line that had no newline, if any. Call once at end of stream.
  template <class OnLine>
  void finish(OnLine&& on_line);

  std::uint64_t truncated_lines() const { return truncated_lines_; }
  /// True while a line begun in an earlier chunk waits for its end.
  bool has_partial() const { return !carry_.empty() || overflow_; }

 private:
  static std::string_view chomp(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  }
  // Appends to the carry buffer up to the limit; remembers that bytes were lost beyond it.
  void carry(std::string_view bytes) {
    const std::size_t room = max_line_bytes_ > carry_.size() ? max_line_bytes_ - carry_.size() : 0;
    if (bytes.size() > room) overflow_ = true;
    carry_.append(bytes.substr(0, room));
  }

  std::size_t max_line_bytes_;
  std::string carry_;      // head of a line that began in an earlier chunk
  bool overflow_ = false;  // the carried line has passed the limit
  std::uint64_t truncated_lines_ = 0;
};

template <class OnLine>
void LineFramer::feed(std::string_view bytes, OnLine&& on_line) {
  while (!bytes.empty()) {
    const void* nl = std::memchr(bytes.data(), '\n', bytes.size());
    if (nl == nullptr) {
      carry(bytes);
      return;
    }
    const std::size_t len = static_cast<const char*>(nl) - bytes.data();
    std::string_view piece = bytes.substr(0, len);
    bytes.remove_prefix(len + 1);
    if (carry_.empty() && !overflow_) {
      bool cut = piece.size() > max_line_bytes_;
      if (cut) piece = piece.substr(0, max_line_bytes_), ++truncated_lines_;
      on_line(chomp(piece), cut);
      continue;
    }
    carry(piece);
    const bool cut = overflow_;
    if (cut) ++truncated_lines_;
    on_line(chomp(carry_), cut);
    carry_.clear();
    overflow_ = false;
  }
}

template <class OnLine>
void LineFramer::finish(OnLine&& on_line) {
  if (carry_.empty() && !overflow_) return;
  const bool cut = overflow_;
  if (cut) ++truncated_lines_;
  on_line(chomp(carry_), cut);
  carry_.clear();
  overflow_ = false;
}

}  // namespace klaxon
