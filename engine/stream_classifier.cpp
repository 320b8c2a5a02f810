#include "engine/stream_classifier.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>

#include "engine/envelope.hpp"
#include "engine/json_text.hpp"

namespace klaxon {
namespace {

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

// Newlines in `text`, 16 bytes per step: bytes are compared as vectors (GCC's portable vector
// extension: SSE2 or NEON) and hits summed per byte lane, at most 255 steps before the lanes
// are added up, so a lane never overflows. std::count widens every compare to 64 bits instead.
std::uint64_t count_newlines(std::string_view text) {
  using Bytes = unsigned char __attribute__((vector_size(16)));
  const char* p = text.data();
  std::size_t left = text.size();
  std::uint64_t n = 0;
  const Bytes newline = Bytes{} + '\n';
  while (left >= sizeof(Bytes)) {
    Bytes lanes{};
    const std::size_t steps = std::min<std::size_t>(left / sizeof(Bytes), 255);
    for (std::size_t k = 0; k < steps; ++k, p += sizeof(Bytes)) {
      Bytes v;
      std::memcpy(&v, p, sizeof v);
      lanes -= reinterpret_cast<Bytes>(v == newline);  // a hit is all ones: -1
    }
    for (std::size_t k = 0; k < sizeof(Bytes); ++k) n += lanes[k];
    left -= steps * sizeof(Bytes);
  }
  for (; left > 0; --left) n += *p++ == '\n';
  return n;
}

// Does every line of `text` fit in `max_line_bytes`? One look per `max_line_bytes` of text.
bool lines_fit(std::string_view text, std::size_t max_line_bytes) {
  std::size_t pos = 0;
  while (text.size() - pos > max_line_bytes) {
    const void* nl = memrchr(text.data() + pos, '\n', max_line_bytes + 1);
    if (nl == nullptr) return false;
    pos = std::size_t(static_cast<const char*>(nl) - text.data()) + 1;
  }
  return true;
}

// Walks the lines of `text` (a scanned block, or its start) that hold a rule anchor, in order:
// on_line(line, index) with the line's 0-based index in `text`. The lines in between are only
// counted, a few bytes per cycle, instead of being cut one by one: in most blocks no line or
// one line in thousands has an anchor. Returns the number of lines in `text` (a last line
// without '\n' counts). Only when !matcher.every_line_is_a_candidate().
template <class OnLine>
std::uint64_t for_each_anchored_line(const Matcher& matcher, Matcher::Scratch& scratch, std::string_view text,
                                     OnLine&& on_line) {
  std::uint64_t index = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t at = matcher.next_anchor(pos, scratch);
    if (at >= text.size()) break;
    const void* before = memrchr(text.data() + pos, '\n', at - pos);
    const std::size_t start = before ? std::size_t(static_cast<const char*>(before) - text.data()) + 1 : pos;
    index += count_newlines(text.substr(pos, start - pos));
    const void* after = std::memchr(text.data() + at, '\n', text.size() - at);
    const std::size_t end = after ? std::size_t(static_cast<const char*>(after) - text.data()) : text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    on_line(line, index);
    ++index;
    pos = end + 1;
  }
  if (pos < text.size()) index += count_newlines(text.substr(pos)) + (text.back() != '\n');
  return index;
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
                                   Labels labels,
                                   StreamOptions options, OnMatch on_match, OnNotice on_notice)
    : matcher_(matcher),
      source_(std::move(source)),
      labels_(std::move(labels)),
      options_(std::move(options)),
      on_match_(std::move(on_match)),
      on_notice_(std::move(on_notice)),
      framer_(options_.max_line_bytes) {
  if (!options_.now) options_.now = wall_now;
}

void StreamClassifier::feed(std::string_view bytes) {
  stats_.bytes += bytes.size();
  if (framer_.has_partial()) {
    // Reads end mid-line: first the end of the line the framer carries, on its own.
    const void* nl = std::memchr(bytes.data(), '\n', bytes.size());
    const std::size_t head = nl ? std::size_t(static_cast<const char*>(nl) - bytes.data()) + 1 : bytes.size();
    framer_.feed(bytes.substr(0, head), [this](std::string_view line, bool truncated) { on_physical_line(line, truncated); });
    bytes.remove_prefix(head);
    if (bytes.empty()) return;
  }
  // One prefilter scan for every line of the chunk; lines that straddle chunks (copied by the
  // framer) and joined CRI lines are scanned on their own.
  matcher_.scan_block(bytes, scratch_);
  const std::size_t newline = bytes.rfind('\n');
  const std::size_t last = newline == std::string_view::npos ? 0 : newline + 1;
  if (!matcher_.every_line_is_a_candidate() && !matcher_.block_has_cri_piece(scratch_) && !joining() &&
      !may_hold_docker_piece(bytes.substr(0, last)) &&
      !framer_.has_partial() && lines_fit(bytes.substr(0, last), options_.max_line_bytes)) {
    // The common case: nothing to join, no line over the limit. Only lines with an anchor are
    // looked at; the rest are counted. The bytes after the last newline wait in the framer.
    block_ = bytes;
    const std::uint64_t first = physical_line_ + 1;
    const std::uint64_t lines = for_each_anchored_line(
        matcher_, scratch_, bytes.substr(0, last),
        [&](std::string_view line, std::uint64_t index) {
          stats_.lines += first + index - physical_line_ - 1;  // the lines passed over
          physical_line_ = first + index;
          classify(line, physical_line_, false);
        });
    stats_.lines += first + lines - physical_line_ - 1;
    physical_line_ = first + lines - 1;
    block_ = {};
    framer_.feed(bytes.substr(last), [](std::string_view, bool) {});  // holds no newline: carried
    return;
  }
  block_ = bytes;
  framer_.feed(bytes, [this](std::string_view line, bool truncated) { on_physical_line(line, truncated); });
  block_ = {};
}

void StreamClassifier::finish() {
  framer_.finish([this](std::string_view line, bool truncated) { on_physical_line(line, truncated); });
  flush_pieces();
}

// Lines whose end never came, classified as far as they got, the earlier first.
void StreamClassifier::flush_pieces() {
  while (joining()) {
    Pieces* first = nullptr;
    for (Pieces& p : pieces_)
      if (!p.text.empty() && (first == nullptr || p.line_no < first->line_no)) first = &p;
    const std::string joined = std::move(first->text);
    first->text.clear();
    classify(joined, first->line_no, first->truncated);
  }
}

// Appends a piece, up to the line limit (counted once when it cuts).
void StreamClassifier::append_piece(Pieces& p, std::string_view bytes, bool truncated) {
  p.truncated |= truncated;
  if (p.text.size() + bytes.size() > options_.max_line_bytes) {
    if (!p.truncated) ++stats_.truncated, notice(StreamNotice::Kind::line_truncated, physical_line_);
    p.truncated = true;
    p.text.append(bytes.substr(0, options_.max_line_bytes > p.text.size() ? options_.max_line_bytes - p.text.size() : 0));
  } else {
    p.text.append(bytes);
  }
}

// A Docker json-file record, when it is a piece or ends a line begun in pieces: joined as one
// record, the first's head, every piece's text, then the last record from its text on. False
// when the line is nothing to join (classified as it is by the caller).
bool StreamClassifier::on_docker_record(std::string_view line, bool truncated) {
  const auto r = peel_docker_record(line);
  if (!r || r->stream.empty()) return false;
  Pieces& p = pieces_[r->stream == "stderr" ? 3 : 2];
  if (r->piece) {
    if (p.text.empty()) {
      p.text.assign(line.substr(0, std::size_t(r->text.data() - line.data())));  // `{"log":"`
      p.line_no = physical_line_;
      p.truncated = false;
    }
    append_piece(p, r->text, truncated);
    return true;
  }
  if (p.text.empty()) return false;
  append_piece(p, line.substr(std::size_t(r->text.data() - line.data())), truncated);
  const std::string joined = std::move(p.text);
  p.text.clear();
  classify(joined, p.line_no, p.truncated);
  return true;
}

BlockVerdict StreamClassifier::scan_block(const Matcher& matcher, std::string_view block, std::size_t max_line_bytes,
                                          BlockScratch& s) {
  BlockVerdict v;
  matcher.scan_block(block, s.matcher);
  if (matcher.block_has_cri_piece(s.matcher) || may_hold_docker_piece(block)) {
    v.sequential = true;
    return v;
  }
  auto look = [&](std::string_view line, std::uint64_t index) {
    ++v.candidates;
    s.record.labels.clear();
    const std::uint64_t malformed_before = s.decoder.malformed_json();
    s.decoder.decode(line, s.record, 2000);
    const BlockVerdict::Line at{std::uint32_t(index), std::uint32_t(line.data() - block.data()),
                                std::uint32_t(line.size())};
    matcher.match_primary(s.record, s.matcher, s.matches);
    if (s.decoder.malformed_json() != malformed_before && s.matches.empty()) {
      v.interesting.push_back(at);  // counted (and said) in order
      return;
    }
    if (s.matches.empty()) return;
    v.interesting.push_back(at);
    v.interesting.back().rule = s.matches.front().rule;
    v.interesting.back().first_span = std::uint32_t(v.spans.size());
    matcher.primary_spans(s.record, s.matcher, s.matches.front(), v.spans);
  };
  if (!matcher.every_line_is_a_candidate() && lines_fit(block, max_line_bytes)) {
    v.lines = for_each_anchored_line(matcher, s.matcher, block, [&](std::string_view line, std::uint64_t index) {
      if (matcher.may_match_in_block(line, s.matcher)) look(line, index);
    });
    return v;
  }
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
    const std::uint64_t index = v.lines++;
    pos = end + 1;
    if (matcher.may_match_in_block(line, s.matcher)) look(line, index);
  }
  return v;
}

void StreamClassifier::feed_scanned(std::string_view block, const BlockVerdict& v) {
  if (v.sequential || joining() || framer_.has_partial()) {
    feed(block);  // a CRI line in pieces or a line cut at the limit is joined in order here
    return;
  }
  stats_.bytes += block.size();
  // Lines the worker passed over count here; the interesting ones count again in classify().
  stats_.lines += v.lines - v.interesting.size();
  stats_.candidates += v.candidates - v.interesting.size();
  const std::uint64_t first = physical_line_ + 1;
  for (const BlockVerdict::Line& l : v.interesting) classify(block.substr(l.offset, l.size), first + l.index, false, &v, &l);
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
  if (!joining() && !may_be_cri_piece(line) && !line.starts_with("{\"log\":\"")) {
    classify(line, physical_line_, truncated);
    return;
  }
  if (line.starts_with("{\"log\":\"")) {
    if (!on_docker_record(line, truncated)) classify(line, physical_line_, truncated);
    return;
  }
  Envelope e = peel_envelope(line);
  if (e.stream.empty()) {
    // Not a CRI record, so not the end of any piece: what waits for its end goes as it is.
    flush_pieces();
    classify(line, physical_line_, truncated);
    return;
  }
  Pieces& p = pieces_[e.stream == "stderr" ? 1 : 0];
  if (e.partial) {
    if (p.text.empty()) {
      // Keep the first piece's envelope, marked full, so the joined line decodes as one.
      const std::size_t envelope_bytes = std::size_t(e.payload.data() - line.data());
      p.text.assign(line.substr(0, envelope_bytes));
      if (const std::size_t tag = p.text.rfind(" P "); tag != std::string::npos) p.text[tag + 1] = 'F';
      p.line_no = physical_line_;
      p.truncated = false;
    }
    append_piece(p, e.payload, truncated);
    return;
  }
  if (p.text.empty()) {
    classify(line, physical_line_, truncated);
    return;
  }
  // The `F` piece that ends a line begun in `P` pieces.
  if (p.text.size() + e.payload.size() <= options_.max_line_bytes) p.text.append(e.payload);
  const std::string joined = std::move(p.text);
  p.text.clear();
  classify(joined, p.line_no, p.truncated || truncated);
}

void StreamClassifier::classify(std::string_view line, std::uint64_t line_no, bool truncated,
                                const BlockVerdict* verdict, const BlockVerdict::Line* known) {
  const int known_rule = known ? known->rule : -1;
  ++stats_.lines;
  const bool in_block = line.data() >= block_.data() && line.data() + line.size() <= block_.data() + block_.size() &&
                        !block_.empty();
  // A line a worker matched needs no prefilter: it was a candidate, and its rule is known.
  if (known_rule < 0 &&
      !(in_block ? matcher_.may_match_in_block(line, scratch_) : matcher_.may_match(line, scratch_)))
    return;
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
  if (record_.envelope_time == 0) record_.envelope_time = line_time_;  // a Loki entry's time
  if (record_.time == 0) record_.time = line_time_ != 0 ? line_time_ : options_.now();
  else context_year_ = year_of(record_.time);

  bool known_match = false;
  if (known_rule >= 0) {
    known_match = matcher_.match_from_spans(record_, known_rule, verdict->spans.data() + known->first_span, scratch_, matches_);
    // Not the text the worker saw (it cannot be: decoding depends on the line alone but for
    // its time): ask every candidate, as feed() does.
    if (!known_match && !matcher_.may_match(line, scratch_)) return;
  }
  if (!known_match) matcher_.match_primary(record_, scratch_, matches_);
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
