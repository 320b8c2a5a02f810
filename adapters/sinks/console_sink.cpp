#include "adapters/sinks/console_sink.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <set>

#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "adapters/sinks/json_lines_sink.hpp"
#include "engine/duration.hpp"

namespace klaxon::sinks {
namespace {

// Without a width (a pipe), a message is still cut here: a 1 MiB line helps nobody.
constexpr std::size_t kMessageWidth = 160;
// With a width, the message keeps at least this much before the facts after it are dropped.
constexpr std::size_t kMinMessage = 24;
constexpr std::size_t kClassWidth = 22;

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

constexpr std::string_view kBold = "\x1b[1m", kReset = "\x1b[0m";

bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Byte offsets of the first `n` code points of `s` (valid UTF-8).
std::size_t first_code_points(std::string_view s, std::size_t n) {
  std::size_t at = 0;
  for (std::size_t seen = 0; at < s.size(); ++at) {
    if (!continuation(s[at]) && seen++ == n) break;
  }
  return at;
}

// Byte offset where the last `n` code points of `s` begin.
std::size_t last_code_points(std::string_view s, std::size_t n) {
  std::size_t at = s.size();
  for (std::size_t seen = 0; at > 0 && seen < n;) {
    --at;
    if (!continuation(s[at])) ++seen;
  }
  return at;
}

// The head of `s` in at most `n` columns: whole, or cut with "…".
std::string keep_head(std::string_view s, std::size_t n) {
  if (display_columns(s) <= n) return std::string(s);
  if (n < 2) return n == 0 ? "" : "…";
  return std::string(s.substr(0, first_code_points(s, n - 1))) + "…";
}

// The tail of `s` in at most `n` columns: whole, or "…" and its end.
std::string keep_tail(std::string_view s, std::size_t n) {
  if (display_columns(s) <= n) return std::string(s);
  if (n < 2) return n == 0 ? "" : "…";
  return "…" + std::string(s.substr(last_code_points(s, n - 1)));
}

std::string padded(std::string_view s, std::size_t width) {
  std::string out(s);
  for (std::size_t c = display_columns(s); c < width; ++c) out += ' ';
  return out;
}

// Who said it: the pod (and container) from the envelope, a pod field, or the pod a kubelet
// line is about (`pod="default/app9-5d8c9b7f6-w9kgv"`); the instance; else the file and line.
std::string who_of(const ClassifiedLine& line) {
  const Record& r = line.record;
  std::string_view pod = r.get("pod");
  if (pod.empty()) pod = r.get("k8s.pod");
  if (pod.empty()) pod = r.get("kubernetes.pod_name");
  // A kubelet line names the pod it is about: `pod="default/app9-5d8c9b7f6-w9kgv"` (structured
  // klog) first, else `pod=app9-5d8c9b7f6-w9kgv_default(uid)`.
  auto is_pod_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '/' || c == '_'; };
  const std::string_view m = r.message;
  for (const bool quoted : {true, false}) {
    const std::string_view key = quoted ? "pod=\"" : "pod=";
    for (std::size_t at = m.find(key); pod.empty() && at != std::string_view::npos; at = m.find(key, at + 1)) {
      if (at > 0 && std::isalnum(static_cast<unsigned char>(m[at - 1]))) continue;  // podUID=, hostpod=
      const std::string_view v = m.substr(at + key.size());
      std::size_t n = 0;
      while (n < v.size() && n < 253 && is_pod_char(v[n])) ++n;
      if (n > 0 && (!quoted || (n < v.size() && v[n] == '"'))) pod = v.substr(0, n);
    }
  }
  if (!pod.empty()) {
    std::string who(pod);
    std::string_view container = r.get("container");
    if (container.empty()) container = r.get("k8s.container");
    if (!container.empty()) who += "/" + std::string(container);
    return who;
  }
  if (auto instance = r.get("instance"); !instance.empty()) return std::string(instance);
  return fmt::format("{}:{}", line.source, line.line_no);
}

// Where the rule's match lies in the message, in bytes; {0, 0} when it is not in it (a rule on
// the raw line whose text the message does not hold).
std::pair<std::size_t, std::size_t> key_span(std::string_view message, std::string_view matched) {
  if (matched.empty()) return {0, 0};
  const std::less<const char*> before;
  if (!before(matched.data(), message.data()) && !before(message.data() + message.size(), matched.data() + matched.size())) {
    const auto at = std::size_t(matched.data() - message.data());
    return {at, at + matched.size()};
  }
  if (const std::size_t at = message.find(matched); at != std::string_view::npos) return {at, at + matched.size()};
  return {0, 0};
}

std::string labels_text(const IncidentSnapshot& i) {
  return terminal_safe(klaxon::labels_text(i.labels));
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

// `prefix` then `text` as lines of at most `width` columns, broken at spaces; later lines
// start with `indent`. A word longer than a line stays whole (the final cut shortens it).
std::vector<std::string> wrapped(std::string_view prefix, std::string_view text, std::size_t width, std::string_view indent) {
  std::vector<std::string> lines;
  std::string line(prefix);
  bool has_word = false;
  while (!text.empty()) {
    const std::size_t space = text.find(' ');
    const std::string_view word = text.substr(0, space);
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
    if (word.empty()) continue;
    if (has_word && display_columns(line) + 1 + display_columns(word) > width) {
      lines.push_back(std::move(line));
      line = std::string(indent);
      has_word = false;
    }
    if (has_word) line += ' ';
    line += word;
    has_word = true;
  }
  lines.push_back(std::move(line));
  return lines;
}

}  // namespace

namespace {

// COLUMNS when it is set to a number, else 0.
std::size_t columns_from_environment() {
  if (const char* columns = std::getenv("COLUMNS"); columns != nullptr && *columns != '\0') {
    std::size_t n = 0;
    const char* end = columns + std::char_traits<char>::length(columns);
    if (auto [at, ec] = std::from_chars(columns, end, n); ec == std::errc() && at == end && n > 0) return n;
  }
  return 0;
}

std::size_t window_width(int fd) {
  struct winsize ws {};
  if (::isatty(fd) == 1 && ::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 0;
}

std::atomic<unsigned> g_window_changes{0};
static_assert(std::atomic<unsigned>::is_always_lock_free, "a signal handler may only touch lock-free atomics");

void on_window_change(int) { g_window_changes.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

std::size_t terminal_width(int fd) {
  if (const std::size_t n = columns_from_environment(); n != 0) return n;
  return window_width(fd);
}

bool width_follows_window(int fd) { return columns_from_environment() == 0 && ::isatty(fd) == 1; }

void watch_window_changes() {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_handler = on_window_change;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    return ::sigaction(SIGWINCH, &sa, nullptr) == 0;
  }();
  (void)installed;
}

unsigned window_changes() noexcept { return g_window_changes.load(std::memory_order_relaxed); }

void ConsoleSink::follow_window() {
  if (options_.resize_fd < 0) return;
  const unsigned changes = window_changes();
  if (changes == window_changes_seen_) return;
  window_changes_seen_ = changes;
  if (const std::size_t width = window_width(options_.resize_fd); width != 0) options_.width = width;
}

std::string terminal_safe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out.push_back(b < 0x20 || b == 0x7F ? ' ' : char(b));
      ++i;
      continue;
    }
    // A whole, shortest-form UTF-8 sequence, or one `?` per byte that is not part of one.
    std::size_t n = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
    if (n != 0 && i + n <= s.size()) {
      const auto b1 = static_cast<unsigned char>(s[i + 1]);
      const unsigned char lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
      const unsigned char hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
      bool ok = b1 >= lo && b1 <= hi;
      for (std::size_t k = 2; k < n && ok; ++k) ok = continuation(s[i + k]);
      if (!ok) n = 0;
    } else {
      n = 0;
    }
    if (n == 0) {
      out.push_back('?');
      ++i;
      continue;
    }
    const std::string_view seq = s.substr(i, n);
    const unsigned b1 = static_cast<unsigned char>(s[i + 1]), b2 = n > 2 ? static_cast<unsigned char>(s[i + 2]) : 0u;
    if (b == 0xC2 && b1 < 0xA0) {
      out += "\xC2\xB7";  // a C1 control (0x9B is CSI to some terminals): a middle dot
    } else if (b == 0xE2 && ((b1 == 0x80 && (b2 >= 0xA8 && b2 <= 0xAE)) || (b1 == 0x81 && b2 >= 0xA6 && b2 <= 0xA9))) {
      out += "\xEF\xBF\xBD";  // line/paragraph separators, bidi overrides: they would reorder the line
    } else {
      out += seq;
    }
    i += n;
  }
  return out;
}

std::size_t display_columns(std::string_view s) {
  std::size_t columns = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
      i += 2;
      while (i < s.size() && !(s[i] >= '@' && s[i] <= '~')) ++i;
      continue;
    }
    columns += !continuation(s[i]);
  }
  return columns;
}

std::string cut_to_columns(std::string_view s, std::size_t columns) {
  if (display_columns(s) <= columns) return std::string(s);
  std::string out;
  std::size_t used = 0;
  bool styled = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
      const std::size_t start = i;
      i += 2;
      while (i < s.size() && !(s[i] >= '@' && s[i] <= '~')) ++i;
      out += s.substr(start, i - start + 1);
      styled = true;
      continue;
    }
    if (!continuation(s[i]) && ++used > columns - 1) break;
    out += s[i];
  }
  if (columns > 0) out += "…";
  if (styled) out += kReset;
  return out;
}

std::string shorten_middle(std::string_view text, std::size_t columns) {
  if (display_columns(text) <= columns) return std::string(text);
  if (columns < 3) return keep_head(text, columns);
  const std::size_t head = (columns - 1) / 2;
  return std::string(text.substr(0, first_code_points(text, head))) + "…" +
         std::string(text.substr(last_code_points(text, columns - 1 - head)));
}

std::string shorten_around(std::string_view text, std::size_t key_begin, std::size_t key_end, std::size_t columns) {
  if (display_columns(text) <= columns) return std::string(text);
  key_end = std::min(key_end, text.size());
  key_begin = std::min(key_begin, key_end);
  while (key_begin > 0 && continuation(text[key_begin])) --key_begin;
  while (key_end < text.size() && continuation(text[key_end])) ++key_end;
  const std::string_view before = text.substr(0, key_begin), key = text.substr(key_begin, key_end - key_begin),
                         after = text.substr(key_end);
  const std::size_t key_columns = display_columns(key);
  // No match known: the head. A match too long to keep whole: its head and its tail, where a
  // rule's regex has its fixed phrases (`error from authenticator ... certificate has expired`).
  if (key.empty()) return keep_head(text, columns);
  if (key_columns + 2 > columns) {
    const bool cut_before = !before.empty(), cut_after = !after.empty();
    const std::size_t markers = std::size_t(cut_before) + std::size_t(cut_after);
    if (columns <= markers + 3) return keep_head(text, columns);
    return (cut_before ? "…" : "") + shorten_middle(key, columns - markers) + (cut_after ? "…" : "");
  }
  // Some context before the key words (a third of what is left), the rest after them, where
  // Go and Java errors put the cause.
  const std::size_t room = columns - key_columns, need_before = display_columns(before),
                    need_after = display_columns(after);
  std::size_t for_before = std::min(need_before, room / 3);
  const std::size_t for_after = std::min(need_after, room - for_before);
  for_before = std::min(need_before, room - for_after);
  return keep_tail(before, for_before) + std::string(key) + keep_head(after, for_after);
}

std::string ConsoleSink::time_column(Nanos t) {
  std::string stamp = format_rfc3339(t);
  if (!narrow() || stamp.size() < 19) return stamp;
  // Narrow: the time of day, and a line of its own when the day changes.
  if (std::string day = stamp.substr(0, 10); day != day_) {
    put("── " + day);
    day_ = std::move(day);
  }
  return stamp.substr(11, 8);
}

void ConsoleSink::put(std::string line) {
  buf_ += options_.width == 0 ? line : cut_to_columns(line, options_.width);
  buf_ += '\n';
}

void ConsoleSink::match(const ClassifiedLine& line) {
  if (options_.incidents_only) return;
  follow_window();
  std::string who = terminal_safe(who_of(line));
  if (options_.width != 0) {
    // Narrow: the pod rather than its container, then the pod's head and tail.
    const std::size_t most = std::max<std::size_t>(12, options_.width / 5);
    if (display_columns(who) > most && who.find('/') != std::string::npos && line.record.get("container").size() > 0)
      who.erase(who.rfind('/'));
    who = shorten_middle(who, most);
  }
  std::string facts;
  for (const Value& v : line.primary.values) {
    if (v.kind == Value::Kind::text) continue;
    facts += fmt::format("{}{}={}", facts.empty() ? "" : " ", v.name,
                         v.kind == Value::Kind::seconds ? format_duration(v.integer) : value_to_string(v));
  }
  const Severity sev = line.primary.severity;
  const bool color = options_.color;
  const std::string head = fmt::format("{} {}{}{} {} {}{}", time_column(line.record.time), color ? severity_color(sev) : "",
                                       severity_word(sev), color ? kReset : "",
                                       narrow() ? line.rule.klass : padded(line.rule.klass, kClassWidth), who,
                                       narrow() ? " " : "  ");
  std::string tail = facts.empty() ? "" : "  [" + terminal_safe(facts) + "]";
  const std::string message = terminal_safe(line.record.message);
  const auto [key_begin, key_end] = key_span(line.record.message, line.primary.matched);
  std::size_t budget = kMessageWidth;
  if (options_.width != 0) {
    const std::size_t used = display_columns(head);
    const std::size_t room = options_.width > used ? options_.width - used : 0;
    if (room >= display_columns(tail) + kMinMessage) {
      budget = room - display_columns(tail);
    } else {
      budget = room;
      tail.clear();
    }
  }
  put(head + shorten_around(message, key_begin, key_end, budget) + tail);
  if (buf_.size() > (1 << 16)) flush();
}

void ConsoleSink::incident(const IncidentEvent& e) {
  const IncidentSnapshot& i = e.incident;
  if (!i.caused_by.empty()) return;  // shown through its root
  follow_window();
  // An update is worth a line when the incident doubled or changed severity; the JSON lines
  // (and alerts) have every one.
  if (e.kind == IncidentEvent::Kind::resolved) {
    printed_.erase(i.id);
  } else {
    auto [at, fresh] = printed_.try_emplace(i.id);
    Printed& p = at->second;
    if (e.kind == IncidentEvent::Kind::updated && !fresh && i.severity == p.severity && i.count < 2 * p.count &&
        (i.symptoms == 0 || i.symptoms < 2 * p.symptoms))
      return;
    p = {i.count, i.symptoms, i.severity};
  }
  const bool resolved = e.kind == IncidentEvent::Kind::resolved;
  std::string word(to_string(e.kind));
  for (char& c : word) c = char(std::toupper(static_cast<unsigned char>(c)));
  const bool color = options_.color;
  const std::string marker = fmt::format("{} INCIDENT {:<9}", resolved ? "✔" : "▲", word);
  const std::string head =
      fmt::format("{} {}{}{} {}{}{} {} ", time_column(e.time), color ? (resolved ? kBold : severity_color(i.severity)) : "",
                  marker, color ? kReset : "", color ? severity_color(i.severity) : "", severity_word(i.severity),
                  color ? kReset : "", narrow() ? i.klass : padded(i.klass, kClassWidth));
  const std::string what = terminal_safe(i.summary.empty() ? i.title : i.summary);
  const std::string labels = labels_text(i);
  const std::string facts =
      incident_facts(i) + (resolved ? " (" + terminal_safe(i.resolved_because) + ")" : "");
  if (options_.width == 0) {
    put(fmt::format("{}{}  {}{}", head, what, labels.empty() ? "" : "[" + labels + "] ", facts));
    return;
  }
  // Fitted: what happened, then the facts (count, symptoms, expiry), then the labels if room is left.
  const std::size_t used = display_columns(head), facts_columns = display_columns(facts) + 2;
  const std::size_t room = options_.width > used ? options_.width - used : 0;
  if (room < facts_columns + kMinMessage) {
    put(head + keep_head(what, room));
    return;
  }
  std::string line = head + keep_head(what, room - facts_columns) + "  " + facts;
  if (!labels.empty() && display_columns(line) + 3 + display_columns(labels) <= options_.width) line += "  [" + labels + "]";
  put(std::move(line));
}

void ConsoleSink::summary(const RunSummary& s) {
  follow_window();
  std::string classes;
  for (const auto& [klass, n] : s.matches_by_class) classes += fmt::format("{}{} {}", classes.empty() ? "" : ", ", n, klass);
  put(fmt::format("── {} lines read from {} source{}, {} classified{}", s.stats.lines, s.sources, s.sources == 1 ? "" : "s",
                  s.stats.matched, classes.empty() ? "" : ": " + classes));
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
  if (!problems.empty()) put("── input problems: " + problems);
  // What live sources went through: restarts, reconnects, rotations, dropped entries.
  std::string events;
  for (const auto& [counter, n] : s.source_counters)
    if (n) events += fmt::format("{}{} {}", events.empty() ? "" : ", ", n, counter);
  if (!events.empty()) put("── sources: " + terminal_safe(events));

  std::size_t open = 0, critical = 0, warning = 0;
  std::set<std::string_view> ids;
  for (const IncidentSnapshot& i : s.incidents) {
    open += i.open;
    critical += i.severity == Severity::critical;
    warning += i.severity == Severity::warning;
    ids.insert(i.id);
  }
  if (!s.incidents.empty())
    put(fmt::format("── {} incident{} ({} critical, {} warning), {} still open{}", s.incidents.size(),
                    s.incidents.size() == 1 ? "" : "s", critical, warning, open,
                    s.tracker.evicted ? fmt::format("; {} evicted to stay within the memory bound", s.tracker.evicted) : ""));
  // Root causes and lone incidents, most severe first; a root's open symptoms under it. Every
  // open incident is listed; resolved ones while fewer than 20 lines of incidents are shown.
  std::vector<const IncidentSnapshot*> heads;
  std::map<std::string_view, std::vector<const IncidentSnapshot*>> symptoms_of;
  for (const IncidentSnapshot& i : s.incidents) {
    if (i.caused_by.empty() || !ids.contains(i.caused_by)) heads.push_back(&i);
    else if (i.open) symptoms_of[i.caused_by].push_back(&i);
  }
  std::stable_sort(heads.begin(), heads.end(), [](auto* a, auto* b) {
    if (a->open != b->open) return a->open;
    if (a->severity != b->severity) return a->severity > b->severity;
    return a->symptoms > b->symptoms;
  });
  const bool color = options_.color;
  std::size_t shown = 0;
  for (std::size_t h = 0; h < heads.size(); ++h) {
    const IncidentSnapshot* i = heads[h];
    if (!i->open && shown >= 20) {
      put(fmt::format("   … and {} more resolved (--format jsonl lists them all)", heads.size() - h));
      break;
    }
    ++shown;
    const std::string labels = labels_text(*i);
    const std::string root = i->symptoms ? (color ? std::string(kBold) + "ROOT" + std::string(kReset) : "ROOT") : "    ";
    put(fmt::format("   {}{}{} {} {} {}{}", color ? severity_color(i->severity) : "", severity_word(i->severity),
                    color ? kReset : "", root, narrow() ? i->klass : padded(i->klass, kClassWidth),
                    terminal_safe(i->summary.empty() ? i->title : i->summary), labels.empty() ? "" : "  [" + labels + "]"));
    put(fmt::format("        first {}  last {}  {}{}", format_rfc3339(i->first_seen), format_rfc3339(i->last_seen),
                    incident_facts(*i), i->open ? "" : "  (resolved: " + terminal_safe(i->resolved_because) + ")"));
    if (!i->runbook.empty()) {
      // A command cut off is worse than none: the fix wraps instead.
      const std::string fix = terminal_safe(i->runbook);
      if (options_.width == 0) put("        fix: " + fix);
      else
        for (std::string& part : wrapped("        fix: ", fix, options_.width, "             ")) put(std::move(part));
    }
    if (auto it = symptoms_of.find(i->id); it != symptoms_of.end())
      for (const IncidentSnapshot* c : it->second) {
        const std::string where = labels_text(*c);
        put(fmt::format("        ↳ {} {} {}{}", severity_word(c->severity), c->klass, where.empty() ? "" : "[" + where + "] ",
                        incident_facts(*c)));
      }
  }
  if (!s.certificates.empty()) {
    put("── certificates whose expiry the logs stated:");
    for (const auto& c : s.certificates) {
      put(fmt::format("   expires {}  {} [{}]  (said at {})", format_rfc3339(c.expires_at), c.rule,
                      terminal_safe(klaxon::labels_text(c.labels)),
                      terminal_safe(c.source)));
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
