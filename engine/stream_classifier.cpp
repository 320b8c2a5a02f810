#include "engine/stream_classifier.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>

#include "engine/envelope.hpp"
#include "engine/json_text.hpp"

namespace klaxon {
namespace {

Nanos wall_clock_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int year_of(Nanos t) {
  std::time_t secs = t / kNanosPerSecond;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return tm.tm_year + 1900;
}

// CRI `P` pieces are only seen in kubelet files; checking the cheap shape first keeps the
// per-line cost of this test near zero for every other stream.
bool may_be_cri_piece(std::string_view line) {
  // `2023-06-19T13:19:53.535259601Z stdout P ...`: the tag follows the first blank.
  if (line.size() < 30 || line[4] != '-' || line[10] != 'T') return false;
  const void* blank = std::memchr(line.data() + 19, ' ', std::min<std::size_t>(line.size() - 19, 24));
  if (blank == nullptr) return false;
  const std::string_view tag = line.substr(std::size_t(static_cast<const char*>(blank) - line.data()) + 1, 9);
  return tag == "stdout P " || tag == "stderr P ";
}

}  // namespace

StreamStats& StreamStats::operator+=(const StreamStats& o) {
  lines += o.lines;
  bytes += o.bytes;
  candidates += o.candidates;
  matched += o.matched;
  truncated += o.truncated;
  malformed_json += o.malformed_json;
  invalid_utf8 += o.invalid_utf8;
  return *this;
}

StreamClassifier::StreamClassifier(const Matcher& matcher, std::string source,
                                   std::vector<std::pair<std::string, std::string>> labels,
                                   StreamOptions options, OnMatch on_match, OnNotice on_notice)
    : matcher_(matcher),
      source_(std::move(source)),
      labels_(std::move(labels)),
      options_(std::move(options)),
      on_match_(std::move(on_match)),
      on_notice_(std::move(on_notice)),
      framer_(options_.max_line_bytes) {
  if (!options_.now) options_.now = wall_clock_now;
}

void StreamClassifier::feed(std::string_view bytes) {
  stats_.bytes += bytes.size();
  // One prefilter scan for every line of the chunk; lines that straddle chunks (copied by the
  // framer) and joined CRI lines are scanned on their own.
  matcher_.scan_block(bytes, scratch_);
  if (matcher_.block_is_quiet(scratch_) && !matcher_.block_has_cri_piece(scratch_) && partial_.empty()) {
    // Nothing that starts and ends in this chunk can match, and nothing needs joining (the
    // common case): count those lines only. A line begun in an earlier chunk was not scanned
    // whole, so it takes the full path.
    framer_.feed(bytes, [this, bytes](std::string_view line, bool truncated) {
      if (line.data() < bytes.data() || line.data() >= bytes.data() + bytes.size()) {
        on_physical_line(line, truncated);
        return;
      }
      ++physical_line_;
      ++stats_.lines;
      if (truncated) ++stats_.truncated, notice(StreamNotice::Kind::line_truncated, physical_line_);
    });
    return;
  }
  block_ = bytes;
  framer_.feed(bytes, [this](std::string_view line, bool truncated) { on_physical_line(line, truncated); });
  block_ = {};
}

void StreamClassifier::finish() {
  framer_.finish([this](std::string_view line, bool truncated) { on_physical_line(line, truncated); });
  if (!partial_.empty()) {
    std::string joined = std::move(partial_);
    partial_.clear();
    classify(joined, partial_line_no_, partial_truncated_);
  }
}

BlockVerdict StreamClassifier::scan_block(const Matcher& matcher, std::string_view block, std::size_t max_line_bytes,
                                          BlockScratch& s) {
  BlockVerdict v;
  matcher.scan_block(block, s.matcher);
  if (matcher.block_has_cri_piece(s.matcher)) {
    v.sequential = true;
    return v;
  }
  const bool quiet = matcher.block_is_quiet(s.matcher);
  std::size_t pos = 0;
  while (pos < block.size()) {
    const void* nl = std::memchr(block.data() + pos, '\n', block.size() - pos);
    const std::size_t end = nl ? std::size_t(static_cast<const char*>(nl) - block.data()) : block.size();
    std::string_view line = block.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_line_bytes) {
      v.sequential = true;
      return v;
    }
    const BlockVerdict::Line at{std::uint32_t(v.lines), std::uint32_t(pos), std::uint32_t(line.size())};
    ++v.lines;
    pos = end + 1;
    if (quiet || !matcher.may_match_in_block(line, s.matcher)) continue;
    ++v.candidates;
    s.record.labels.clear();
    const std::uint64_t malformed_before = s.decoder.malformed_json();
    s.decoder.decode(line, s.record, 2000);
    if (s.decoder.malformed_json() != malformed_before) {
      v.interesting.push_back(at);
      continue;
    }
    matcher.match_primary(s.record, s.matcher, s.matches);
    if (!s.matches.empty()) v.interesting.push_back(at);
  }
  return v;
}

void StreamClassifier::feed_scanned(std::string_view block, const BlockVerdict& v) {
  if (v.sequential || !partial_.empty() || framer_.has_partial()) {
    feed(block);  // a CRI line in pieces or a line cut at the limit is joined in order here
    return;
  }
  stats_.bytes += block.size();
  // Lines the worker passed over count here; the interesting ones count again in classify().
  stats_.lines += v.lines - v.interesting.size();
  stats_.candidates += v.candidates - v.interesting.size();
  const std::uint64_t first = physical_line_ + 1;
  for (const BlockVerdict::Line& l : v.interesting) classify(block.substr(l.offset, l.size), first + l.index, false);
  physical_line_ += v.lines;
}

void StreamClassifier::feed_line(std::string_view line, Nanos time) {
  stats_.bytes += line.size() + 1;
  line_time_ = time;
  ++physical_line_;
  if (line.size() > options_.max_line_bytes) {
    line = line.substr(0, options_.max_line_bytes);
    ++stats_.truncated;
    notice(StreamNotice::Kind::line_truncated, physical_line_);
    classify(line, physical_line_, true);
  } else {
    classify(line, physical_line_, false);
  }
  line_time_ = 0;
}

void StreamClassifier::notice(StreamNotice::Kind kind, std::uint64_t line_no) {
  const unsigned bit = 1u << static_cast<unsigned>(kind);
  if ((noticed_ & bit) != 0) return;
  noticed_ |= bit;
  if (on_notice_) on_notice_({kind, source_, line_no});
}

void StreamClassifier::on_physical_line(std::string_view line, bool truncated) {
  ++physical_line_;
  if (truncated) {
    ++stats_.truncated;
    notice(StreamNotice::Kind::line_truncated, physical_line_);
  }
  if (partial_.empty() && !may_be_cri_piece(line)) {
    classify(line, physical_line_, truncated);
    return;
  }
  Envelope e = peel_envelope(line);
  if (e.partial) {
    if (partial_.empty()) {
      // Keep the first piece's envelope, marked full, so the joined line decodes as one.
      const std::size_t envelope_bytes = std::size_t(e.payload.data() - line.data());
      partial_.assign(line.substr(0, envelope_bytes));
      if (const std::size_t tag = partial_.rfind(" P "); tag != std::string::npos) partial_[tag + 1] = 'F';
      partial_line_no_ = physical_line_;
      partial_truncated_ = false;
    }
    partial_truncated_ |= truncated;
    if (partial_.size() + e.payload.size() > options_.max_line_bytes) {
      if (!partial_truncated_) ++stats_.truncated, notice(StreamNotice::Kind::line_truncated, physical_line_);
      partial_truncated_ = true;
      partial_.append(e.payload.substr(0, options_.max_line_bytes > partial_.size() ? options_.max_line_bytes - partial_.size() : 0));
    } else {
      partial_.append(e.payload);
    }
    return;
  }
  if (partial_.empty()) {
    classify(line, physical_line_, truncated);
    return;
  }
  // The `F` piece that ends a line begun in `P` pieces.
  if (partial_.size() + e.payload.size() <= options_.max_line_bytes) partial_.append(e.payload);
  std::string joined = std::move(partial_);
  partial_.clear();
  classify(joined, partial_line_no_, partial_truncated_ || truncated);
}

void StreamClassifier::classify(std::string_view line, std::uint64_t line_no, bool truncated) {
  ++stats_.lines;
  const bool in_block = line.data() >= block_.data() && line.data() + line.size() <= block_.data() + block_.size() &&
                        !block_.empty();
  if (!(in_block ? matcher_.may_match_in_block(line, scratch_) : matcher_.may_match(line, scratch_))) return;
  ++stats_.candidates;

  record_.labels.clear();
  for (const auto& [name, value] : labels_) record_.labels.push_back({name, value});
  const std::uint64_t malformed_before = decoder_.malformed_json();
  if (context_year_ == 0) context_year_ = year_of(options_.now());
  decoder_.decode(line, record_, context_year_);
  if (decoder_.malformed_json() != malformed_before) {
    ++stats_.malformed_json;
    notice(StreamNotice::Kind::malformed_json, line_no);
  }
  if (record_.time == 0) record_.time = line_time_ != 0 ? line_time_ : options_.now();
  else context_year_ = year_of(record_.time);

  matcher_.match_primary(record_, scratch_, matches_);
  if (matches_.empty()) return;
  ++stats_.matched;
  if (!is_valid_utf8(line)) {
    ++stats_.invalid_utf8;
    notice(StreamNotice::Kind::invalid_utf8, line_no);
  }
  const RuleMatch& primary = matches_.front();
  on_match_(ClassifiedLine{source_, line_no, record_, primary, matcher_.rules()[std::size_t(primary.rule)], truncated});
}

}  // namespace klaxon
