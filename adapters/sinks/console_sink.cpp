#include "adapters/sinks/console_sink.hpp"

#include <fmt/format.h>

#include "adapters/sinks/json_lines_sink.hpp"
#include "engine/duration.hpp"

namespace klaxon::sinks {
namespace {

constexpr std::size_t kMessageWidth = 160;

std::string_view severity_word(Severity s) {
  switch (s) {
    case Severity::critical: return "CRIT";
    case Severity::warning: return "WARN";
    case Severity::info: return "INFO";
  }
  return "WARN";
}

std::string_view severity_color(Severity s) {
  switch (s) {
    case Severity::critical: return "\x1b[1;31m";
    case Severity::warning: return "\x1b[33m";
    case Severity::info: return "\x1b[36m";
  }
  return "";
}

// Cuts at a UTF-8 character boundary at or before `n`.
std::size_t utf8_floor(std::string_view s, std::size_t n) {
  while (n > 0 && n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}

std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7F ? ' ' : c);
  return out;
}

}  // namespace

std::string shorten_middle(std::string_view text, std::size_t max) {
  if (text.size() <= max) return std::string(text);
  const std::size_t head = utf8_floor(text, max / 3);
  std::size_t tail_start = text.size() - (max - max / 3 - 3);
  while (tail_start < text.size() && (static_cast<unsigned char>(text[tail_start]) & 0xC0) == 0x80) ++tail_start;
  return std::string(text.substr(0, head)) + " … " + std::string(text.substr(tail_start));
}

void ConsoleSink::match(const ClassifiedLine& line) {
  std::string where;
  std::string_view pod = line.record.get("pod");
  if (!pod.empty()) {
    where = std::string(pod);
    if (auto c = line.record.get("container"); !c.empty()) where += "/" + std::string(c);
  } else if (auto instance = line.record.get("instance"); !instance.empty()) {
    where = std::string(instance);
  } else {
    where = fmt::format("{}:{}", line.source, line.line_no);
  }
  std::string facts;
  for (const Value& v : line.primary.values) {
    if (v.kind == Value::Kind::text) continue;
    facts += fmt::format("{}{}={}", facts.empty() ? "" : " ", v.name,
                         v.kind == Value::Kind::seconds ? format_duration(v.integer) : value_to_string(v));
  }
  const Severity sev = line.primary.severity;
  fmt::format_to(std::back_inserter(buf_), "{} {}{}{} {:<22} {}  {}{}\n", format_rfc3339(line.record.time),
                 color_ ? severity_color(sev) : "", severity_word(sev), color_ ? "\x1b[0m" : "", line.rule.klass,
                 where, printable(shorten_middle(line.record.message, kMessageWidth)),
                 facts.empty() ? "" : "  [" + facts + "]");
  if (buf_.size() > (1 << 16)) flush();
}

void ConsoleSink::summary(const RunSummary& s) {
  std::string classes;
  for (const auto& [klass, n] : s.matches_by_class) classes += fmt::format("{}{} {}", classes.empty() ? "" : ", ", n, klass);
  fmt::format_to(std::back_inserter(buf_), "── {} lines read from {} source{}, {} classified{}\n", s.stats.lines,
                 s.sources, s.sources == 1 ? "" : "s", s.stats.matched, classes.empty() ? "" : ": " + classes);
  std::string problems;
  auto add = [&](std::uint64_t n, std::string_view what) {
    if (n) problems += fmt::format("{}{} {}", problems.empty() ? "" : ", ", n, what);
  };
  add(s.stats.truncated, "lines cut at the length limit");
  add(s.stats.malformed_json, "broken JSON lines read as text");
  add(s.stats.invalid_utf8, "lines with invalid UTF-8");
  add(s.source_errors, "sources failed (see above)");
  if (!problems.empty()) fmt::format_to(std::back_inserter(buf_), "── input problems: {}\n", problems);
  flush();
}

void ConsoleSink::flush() {
  if (!buf_.empty()) std::fwrite(buf_.data(), 1, buf_.size(), out_);
  buf_.clear();
  std::fflush(out_);
}

}  // namespace klaxon::sinks
