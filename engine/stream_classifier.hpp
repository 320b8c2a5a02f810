// engine/stream_classifier.hpp — one input stream, bytes in, classified lines out.
//
// The spine of the data flow for one source: LineFramer cuts the bytes, CRI `P` pieces are
// joined, the Matcher's prefilter looks at each raw line, and only candidates are decoded
// (Decoder) and matched. The primary match of each classified line is pushed to the callback.
// Per-stream state (line numbers, a half-joined CRI line, the year klog needs) lives here; the
// Matcher is shared.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/decoder.hpp"
#include "engine/labels.hpp"
#include "engine/line_framer.hpp"
#include "engine/matcher.hpp"

namespace klaxon {

struct StreamStats {
  std::uint64_t lines = 0;           ///< records (a joined CRI line counts once)
  std::uint64_t bytes = 0;
  std::uint64_t candidates = 0;      ///< lines that passed the prefilter
  std::uint64_t matched = 0;         ///< lines with a primary class
  std::uint64_t truncated = 0;       ///< lines cut at the length limit
  std::uint64_t malformed_json = 0;  ///< candidate lines that looked like JSON and were not
  std::uint64_t invalid_utf8 = 0;    ///< matched lines whose bytes are not valid UTF-8

  StreamStats& operator+=(const StreamStats& o);
};

/// A classified line, pushed to the callback. Lifetime: valid during the call only.
struct ClassifiedLine {
  std::string_view source;
  std::uint64_t line_no = 0;  ///< 1-based physical line where the record starts
  const Record& record;
  const RuleMatch& primary;
  const RuleSpec& rule;
  bool truncated = false;
};

/// Something wrong with the input, reported the first time it happens in this stream.
struct StreamNotice {
  enum class Kind { line_truncated, malformed_json, invalid_utf8 };
  Kind kind;
  std::string_view source;
  std::uint64_t line_no;
};

struct StreamOptions {
  std::size_t max_line_bytes = LineFramer::kDefaultMaxLineBytes;
  /// Event time for lines that carry none (arrival time); tests give a fixed clock.
  std::function<Nanos()> now;
};

/// What a worker thread found in a block of whole lines (see StreamClassifier::scan_block).
struct BlockVerdict {
  struct Line {
    std::uint32_t index;   // 0-based line within the block
    std::uint32_t offset;  // byte offset of the line in the block
    std::uint32_t size;
    // The rule whose match is the line's primary one, or -1 (broken JSON that no rule matched),
    // and where its groups matched (spans[first_span...], Matcher::primary_spans). Which rule
    // wins and where its groups lie depend on the line's text and fields only, never on its
    // time, so the stream's thread decodes the line again (for the year a klog line lacks) and
    // rebuilds the match without the prefilter or RE2.
    int rule = -1;
    std::uint32_t first_span = 0;
  };
  std::uint64_t lines = 0;
  std::uint64_t candidates = 0;
  std::vector<Line> interesting;  // matched, or broken JSON: classified again in order
  std::vector<std::uint32_t> spans;  // of the interesting lines' matches
  bool sequential = false;        // a CRI piece or an over-long line: classify the block in order
};

/// Per-thread state for scan_block().
struct BlockScratch {
  Matcher::Scratch matcher;
  Decoder decoder;
  Record record;
  std::vector<RuleMatch> matches;
};

class StreamClassifier {
 public:
  using OnMatch = std::function<void(const ClassifiedLine&)>;
  using OnNotice = std::function<void(const StreamNotice&)>;

  /// `labels` are the source's own (e.g. namespace for kubectl), added to every record.
  StreamClassifier(const Matcher& matcher, std::string source, Labels labels,
                   StreamOptions options, OnMatch on_match, OnNotice on_notice = {});

  /// Feeds the next bytes of the stream, in any chunking.
  void feed(std::string_view bytes);
  /// Ends the stream: a last line without newline, or a CRI line whose `F` never came.
  void finish();

  /// Threaded replay, step 1 (any thread): scans `block`, whole lines each ending in '\n', for
  /// the few lines this stream must look at again. Thread safety: const Matcher, own scratch.
  static BlockVerdict scan_block(const Matcher& matcher, std::string_view block, std::size_t max_line_bytes,
                                 BlockScratch& scratch);
  /// Step 2 (this stream's thread, blocks in order): the same result as feed(block).
  void feed_scanned(std::string_view block, const BlockVerdict& verdict);

  /// One whole line whose time the source knows (a Loki entry): `time` stands in for the
  /// envelope's when the line carries none of its own. `line` holds no newline.
  void feed_line(std::string_view line, Nanos time);

  const StreamStats& stats() const { return stats_; }

 private:
  void on_physical_line(std::string_view line, bool truncated);
  /// `known`: what a worker found (scan_block), its rule's match rebuilt; null: every candidate.
  void classify(std::string_view line, std::uint64_t line_no, bool truncated,
                const BlockVerdict* verdict = nullptr, const BlockVerdict::Line* known = nullptr);
  void notice(StreamNotice::Kind kind, std::uint64_t line_no);

  const Matcher& matcher_;
  std::string source_;
  Labels labels_;
  StreamOptions options_;
  OnMatch on_match_;
  OnNotice on_notice_;

  LineFramer framer_;
  std::string_view block_;  // the chunk being fed, scanned once by the prefilter
  Decoder decoder_;
  Matcher::Scratch scratch_;
  Record record_;
  std::vector<RuleMatch> matches_;
  StreamStats stats_;
  std::uint64_t physical_line_ = 0;
  int context_year_ = 0;
  Nanos line_time_ = 0;  // set by feed_line() for the line being classified
  unsigned noticed_ = 0;  // bit per StreamNotice::Kind already reported

  // A line written in pieces: a CRI line in `P` pieces (the first piece's envelope, then the
  // pieces' payloads) or a Docker json-file line cut at 16 KiB (the first record up to its
  // text's end, then the pieces' texts). One per format and stream (stdout, stderr): both
  // streams' records are interleaved in one file, and a piece continues only in the next
  // record of its own stream.
  struct Pieces {
    std::string text;
    std::uint64_t line_no = 0;
    bool truncated = false;
  };
  Pieces pieces_[4];  // CRI stdout, CRI stderr, Docker stdout, Docker stderr
  bool joining() const {
    return !pieces_[0].text.empty() || !pieces_[1].text.empty() || !pieces_[2].text.empty() || !pieces_[3].text.empty();
  }
  void flush_pieces();
  bool on_docker_record(std::string_view line, bool truncated);
  void append_piece(Pieces& p, std::string_view bytes, bool truncated);
};

}  // namespace klaxon
