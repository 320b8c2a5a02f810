#include "adapters/sinks/console_sink.hpp"

#include <algorithm>
#include <cctype>
#include <csignal>

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

namespace {

std::string labels_text(const IncidentSnapshot& i) {
  std::string out;
  for (const auto& [k, v] : i.labels) out += fmt::format("{}{}={}", out.empty() ? "" : " ", k, v);
  return out;
}

std::string incident_facts(const IncidentSnapshot& i) {
  std::string out = fmt::format("×{}", i.count);
  if (i.pods.size() > 1) out += fmt::format(" from {} pods", i.pods.size());
  if (i.symptoms > 0)
    out += fmt::format(", {} symptom{} in {} pod{}", i.symptoms, i.symptoms == 1 ? "" : "s", i.symptom_pods.size(),
                       i.symptom_pods.size() == 1 ? "" : "s");
  if (i.expires_at != 0)
    out += fmt::format(", {} {}", i.klass == "cert_expired" ? "expired" : "expires", format_rfc3339(i.expires_at));
  return out;
}

}  // namespace

void ConsoleSink::incident(const IncidentEvent& e) {
  const IncidentSnapshot& i = e.incident;
  if (!i.caused_by.empty()) return;  // shown through its root
  const char* marker = e.kind == IncidentEvent::Kind::resolved ? "✔" : "▲";
  std::string word(to_string(e.kind));
  for (char& c : word) c = char(std::toupper(static_cast<unsigned char>(c)));
  const std::string labels = labels_text(i);
  fmt::format_to(std::back_inserter(buf_), "{} {} INCIDENT {:<9} {}{}{} {:<22} {}  {}{}{}\n", format_rfc3339(e.time), marker,
                 word, color_ ? severity_color(i.severity) : "", severity_word(i.severity), color_ ? "\x1b[0m" : "",
                 i.klass, i.summary.empty() ? i.title : i.summary, labels.empty() ? "" : "[" + labels + "] ",
                 incident_facts(i), e.kind == IncidentEvent::Kind::resolved ? " (" + i.resolved_because + ")" : "");
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
  if (s.cut_short_by != 0)
    problems += fmt::format("{}cut short after {} lines ({}): the rest was not read", problems.empty() ? "" : ", ",
                            s.stats.lines, s.cut_short_by == SIGINT ? "Ctrl-C" : "SIGTERM");
  if (!problems.empty()) fmt::format_to(std::back_inserter(buf_), "── input problems: {}\n", problems);
  // What live sources went through: restarts, reconnects, rotations, dropped entries.
  std::string events;
  for (const auto& [counter, n] : s.source_counters)
    if (n) events += fmt::format("{}{} {}", events.empty() ? "" : ", ", n, counter);
  if (!events.empty()) fmt::format_to(std::back_inserter(buf_), "── sources: {}\n", events);

  std::size_t open = 0, critical = 0, warning = 0, shown = 0;
  for (const IncidentSnapshot& i : s.incidents) {
    open += i.open;
    critical += i.severity == Severity::critical;
    warning += i.severity == Severity::warning;
  }
  if (!s.incidents.empty())
    fmt::format_to(std::back_inserter(buf_), "── {} incident{} ({} critical, {} warning), {} still open{}\n", s.incidents.size(),
                   s.incidents.size() == 1 ? "" : "s", critical, warning, open,
                   s.tracker.evicted ? fmt::format("; {} evicted to stay within the memory bound", s.tracker.evicted) : "");
  // Root causes and lone incidents, most severe first; symptoms are counted under their root.
  std::vector<const IncidentSnapshot*> heads;
  for (const IncidentSnapshot& i : s.incidents)
    if (i.caused_by.empty()) heads.push_back(&i);
  std::stable_sort(heads.begin(), heads.end(), [](auto* a, auto* b) {
    if (a->severity != b->severity) return a->severity > b->severity;
    return a->symptoms > b->symptoms;
  });
  for (const IncidentSnapshot* i : heads) {
    if (++shown > 20) {
      fmt::format_to(std::back_inserter(buf_), "   … and {} more (--format jsonl lists them all)\n", heads.size() - 20);
      break;
    }
    const std::string labels = labels_text(*i);
    fmt::format_to(std::back_inserter(buf_), "   {}{}{} {:<4} {:<22} {}{}\n", color_ ? severity_color(i->severity) : "",
                   severity_word(i->severity), color_ ? "\x1b[0m" : "", i->symptoms ? "ROOT" : "", i->klass,
                   i->summary.empty() ? i->title : i->summary, labels.empty() ? "" : "  [" + labels + "]");
    fmt::format_to(std::back_inserter(buf_), "        first {}  last {}  {}{}\n", format_rfc3339(i->first_seen),
                   format_rfc3339(i->last_seen), incident_facts(*i), i->open ? "" : "  (resolved: " + i->resolved_because + ")");
    if (!i->runbook.empty()) fmt::format_to(std::back_inserter(buf_), "        fix: {}\n", i->runbook);
  }
  if (!s.certificates.empty()) {
    fmt::format_to(std::back_inserter(buf_), "── certificates whose expiry the logs stated:\n");
    for (const auto& c : s.certificates) {
      std::string labels;
      for (const auto& [k, v] : c.labels) labels += fmt::format("{}{}={}", labels.empty() ? "" : " ", k, v);
      fmt::format_to(std::back_inserter(buf_), "   expires {}  {} [{}]  (said at {})\n", format_rfc3339(c.expires_at), c.rule,
                     labels, c.source);
    }
  }
  flush();
}

void ConsoleSink::flush() {
  if (!buf_.empty()) std::fwrite(buf_.data(), 1, buf_.size(), out_);
  buf_.clear();
  std::fflush(out_);
}

}  // namespace klaxon::sinks
