// adapters/sinks/report_html.cpp — the report, status and incident pages, charts as inline SVG.
#include "adapters/sinks/report_html.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <set>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "engine/civil_time.hpp"
#include "engine/unique_fd.hpp"

namespace klaxon::sinks {
namespace {

// ---- small pieces -------------------------------------------------------------------------------

const char* kStyle = R"(<style>
:root{--crit:#c62828;--warn:#e08600;--info:#1565c0;--ok:#2e7d32;--mute:#777;--line:#ddd}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;padding:12px 16px;max-width:1200px;color:#222;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.4em 0 .4em;border-bottom:1px solid var(--line)}
a{color:#0b57d0}small,.mute{color:var(--mute)}
.banner{background:var(--crit);color:#fff;padding:10px 14px;font-size:1.2em;font-weight:bold;border-radius:4px}
.banner.ok{background:var(--ok)}
.sev{display:inline-block;white-space:nowrap;padding:0 6px;border-radius:3px;color:#fff;font-size:.8em;font-weight:bold;text-transform:uppercase}
.sev.critical{background:var(--crit)}.sev.warning{background:var(--warn)}.sev.info{background:var(--info)}
.sev.resolved{background:var(--mute)}.sev.expired{background:#000}.sev.valid{background:var(--ok)}
.root{border:1px solid var(--line);border-left:6px solid var(--mute);border-radius:4px;padding:8px 12px;margin:8px 0}
.root.critical{border-left-color:var(--crit)}.root.warning{border-left-color:var(--warn)}.root.info{border-left-color:var(--info)}
.root h3{margin:.1em 0;font-size:1.1em}
.fix{background:#f4f7fb;border-left:3px solid #0b57d0;padding:4px 8px;margin:6px 0;white-space:pre-wrap;word-break:break-word}
.fix b{display:block}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eee;vertical-align:top;word-break:break-word}
th{font-weight:600;background:#fafafa;white-space:nowrap;word-break:normal}
td.n{text-align:right;white-space:nowrap}
details>summary{cursor:pointer}
svg{width:100%;height:auto;display:block;margin:6px 0}
svg text{font:11px system-ui,sans-serif;fill:#333}
.scroll{overflow-x:auto}
.countdown{font-weight:bold;white-space:nowrap}
.countdown.expired,.countdown.critical{color:var(--crit)}.countdown.warning{color:var(--warn)}
@media (max-width:640px){body{padding:8px}th,td{padding:2px 3px;font-size:.9em}.wide{display:none}}
@media print{body{max-width:none;font-size:11px;padding:0}a{color:#000;text-decoration:none}
 .banner{border:2px solid #000}.noprint{display:none}h2{break-after:avoid}svg,.root,tr{break-inside:avoid}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
</style>)";

// Before printing, open every folded list: a PDF has no clicks.
const char* kPrintScript =
    "<script>addEventListener('beforeprint',function(){document.querySelectorAll('details').forEach("
    "function(d){d.open=true})})</script>";

std::string colour_of(Severity s) {
  switch (s) {
    case Severity::critical: return "#c62828";
    case Severity::warning: return "#e08600";
    case Severity::info: return "#1565c0";
  }
  return "#777";
}

// "2d 15h", "3h 12m", "42s": the two largest units.
std::string span_text(Nanos d) {
  std::int64_t s = std::llabs(d / kNanosPerSecond);
  const std::int64_t days = s / 86400, hours = s % 86400 / 3600, minutes = s % 3600 / 60, secs = s % 60;
  if (days > 0) return hours ? fmt::format("{}d {}h", days, hours) : fmt::format("{}d", days);
  if (hours > 0) return minutes ? fmt::format("{}h {}m", hours, minutes) : fmt::format("{}h", hours);
  if (minutes > 0) return secs ? fmt::format("{}m {}s", minutes, secs) : fmt::format("{}m", minutes);
  return fmt::format("{}s", secs);
}

std::string when(Nanos t) { return t == 0 ? std::string("—") : format_rfc3339(t); }

bool is_web_url(std::string_view s) { return s.starts_with("https://") || s.starts_with("http://"); }

std::string labels_text(const Labels& labels) { return klaxon::labels_text(labels, ", "); }

std::string pods_text(const std::vector<std::string>& pods, std::size_t at_most) {
  std::string out;
  for (std::size_t k = 0; k < pods.size() && k < at_most; ++k) out += (k ? ", " : "") + pods[k];
  if (pods.size() > at_most) out += fmt::format(" and {} more", pods.size() - at_most);
  return out;
}

std::string state_of(const IncidentSnapshot& i) {
  if (i.open) return std::string(to_string(i.severity));
  return "resolved";
}

// The fix: the rule's runbook text, and its runbook_url as a link (http(s) only).
std::string fix_block(const RunPicture& p, const IncidentSnapshot& i) {
  std::string out;
  const std::string url = p.runbook_url(i);
  if (i.runbook.empty() && url.empty()) return out;
  out += "<div class=\"fix\"><b>Fix</b>";
  if (!i.runbook.empty()) {
    if (is_web_url(i.runbook)) out += fmt::format("<a class=\"runbook\" href=\"{0}\">{0}</a>", html_escaped(i.runbook));
    else out += html_escaped(i.runbook);
  }
  if (is_web_url(url))
    out += fmt::format("{}<a class=\"runbook\" href=\"{}\">runbook</a>", i.runbook.empty() ? "" : "\n",
                       html_escaped(url));
  out += "</div>";
  return out;
}

std::vector<const IncidentSnapshot*> lanes(const RunPicture& p) {
  std::vector<const IncidentSnapshot*> out;
  for (const IncidentSnapshot& i : p.incidents)
    if (i.caused_by.empty()) out.push_back(&i);
  return out;
}

// The root causes a verdict names: incidents that explain others, else the critical ones.
std::vector<const IncidentSnapshot*> verdict_roots(const RunPicture& p) {
  std::vector<const IncidentSnapshot*> out;
  for (const IncidentSnapshot* i : lanes(p))
    if (i->symptoms > 0) out.push_back(i);
  if (out.empty())
    for (const IncidentSnapshot* i : lanes(p))
      if (i->severity == Severity::critical) out.push_back(i);
  return out;
}

// ---- SVG ------------------------------------------------------------------------------------------

// A horizontal time scale: [t0, t1] onto [x0, x1].
struct Scale {
  Nanos t0, t1;
  double x0, x1;
  double x(Nanos t) const {
    if (t1 <= t0) return x0;
    const double f = double(std::clamp(t, t0, t1) - t0) / double(t1 - t0);
    return x0 + f * (x1 - x0);
  }
};

std::string tick_label(Nanos t, Nanos span) {
  const std::string s = format_rfc3339(t);  // 2023-06-19T13:26:37Z
  if (span > 4 * 86400 * kNanosPerSecond) return s.substr(0, 10);
  if (span > 3600 * kNanosPerSecond) return s.substr(5, 5) + " " + s.substr(11, 5);
  return s.substr(11, 8);
}

void axis(std::string& svg, const Scale& sc, double y, double height) {
  constexpr int kTicks = 6;
  for (int k = 0; k <= kTicks; ++k) {
    const Nanos t = sc.t0 + (sc.t1 - sc.t0) / kTicks * k;
    const double x = sc.x(t);
    fmt::format_to(std::back_inserter(svg),
                   R"(<line x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}" stroke="#eee"/>)"
                   R"(<text x="{0:.1f}" y="{3:.1f}" text-anchor="{4}">{5}</text>)",
                   x, y, y + height, y + height + 13, k == 0 ? "start" : k == kTicks ? "end" : "middle",
                   html_escaped(tick_label(t, sc.t1 - sc.t0)));
  }
}

// Severity segments of an incident from its marks: [from, to) in the colour of that time.
struct Segment {
  Nanos from, to;
  Severity severity;
};
std::vector<Segment> segments(const RunPicture& p, const IncidentSnapshot& i, Nanos end) {
  std::vector<Segment> out;
  const auto h = p.history.find(i.id);
  const Nanos stop = i.open ? end : std::max(i.last_seen, i.first_seen);
  if (h == p.history.end() || h->second.empty()) {
    out.push_back({i.first_seen, stop, i.severity});
    return out;
  }
  Nanos from = i.first_seen;
  Severity sev = h->second.front().severity;
  for (const IncidentMark& m : h->second) {
    if (m.kind == IncidentEvent::Kind::resolved) break;
    if (m.severity != sev) {
      out.push_back({from, m.time, sev});
      from = m.time;
      sev = m.severity;
    }
  }
  out.push_back({from, std::max(stop, from), sev});
  return out;
}

void marks(std::string& svg, const RunPicture& p, const IncidentSnapshot& i, const Scale& sc, double y) {
  const auto h = p.history.find(i.id);
  if (h == p.history.end()) return;
  for (const IncidentMark& m : h->second) {
    if (m.time < sc.t0 || m.time > sc.t1) continue;  // outside a zoomed window
    const double x = sc.x(m.time);
    const std::string tip = html_escaped(fmt::format("{} {} at {} ({} lines)", to_string(m.kind),
                                                     to_string(m.severity), format_rfc3339(m.time), m.count));
    switch (m.kind) {
      case IncidentEvent::Kind::opened:
        fmt::format_to(std::back_inserter(svg),
                       R"(<circle cx="{:.1f}" cy="{:.1f}" r="5" fill="#fff" stroke="#000" stroke-width="1.5"><title>{}</title></circle>)",
                       x, y, tip);
        break;
      case IncidentEvent::Kind::escalated:
        fmt::format_to(std::back_inserter(svg),
                       R"(<path d="M{0:.1f} {1:.1f}l5 9h-10z" fill="#000"><title>{2}</title></path>)", x, y - 5, tip);
        break;
      case IncidentEvent::Kind::resolved:
        fmt::format_to(std::back_inserter(svg),
                       R"(<rect x="{:.1f}" y="{:.1f}" width="9" height="9" fill="#fff" stroke="#000" stroke-width="1.5"><title>{}</title></rect>)",
                       x - 4.5, y - 4.5, tip);
        break;
      case IncidentEvent::Kind::updated: break;
    }
  }
}

std::string clipped(std::string s, std::size_t at_most) {
  if (s.size() <= at_most) return s;
  std::size_t cut = at_most;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
  return s.substr(0, cut) + "…";
}

constexpr double kWidth = 1000, kLabel = 250, kRight = 990;
constexpr std::size_t kMaxLanes = 25, kMaxSymptomRows = 40;

// The span a timeline covers: the first event time to the end (the clock, or the last line).
std::pair<Nanos, Nanos> run_span(const RunPicture& p) {
  Nanos t0 = p.first_time, t1 = p.clock;
  for (const IncidentSnapshot& i : p.incidents) t1 = std::max(t1, i.last_seen);
  if (t0 == 0 || t1 <= t0) t1 = t0 + 60 * kNanosPerSecond;
  return {t0, t1};
}

// When the symptoms came: the earliest symptom's first line, or 0 if there is none.
Nanos first_symptom(const RunPicture& p) {
  Nanos first = 0;
  for (const IncidentSnapshot& i : p.incidents)
    if (!i.caused_by.empty() && i.first_seen > 0) first = first == 0 ? i.first_seen : std::min(first, i.first_seen);
  return first;
}

// The first and last classified lines on the time axis, when they fall in [t0, t1]: dashed
// lines across the lanes, labelled below the axis (on two rows when they are close).
double line_marks(std::string& svg, const RunPicture& p, const Scale& sc, double bottom) {
  struct Mark {
    Nanos t;
    const char* what;
  };
  std::vector<Mark> shown;
  for (const Mark& m : {Mark{p.first_line, "first line"}, Mark{p.last_line, "last line"}})
    if (m.t != 0 && m.t >= sc.t0 && m.t <= sc.t1) shown.push_back(m);
  if (p.first_line == p.last_line && shown.size() == 2) shown.pop_back();
  constexpr double kLabelWidth = 190;  // "first line 2023-06-19T13:19:53Z" at 11px
  double y = bottom + 28;
  for (std::size_t k = 0; k < shown.size(); ++k) {
    const double x = sc.x(shown[k].t);
    if (k == 1 && sc.x(shown[1].t) - sc.x(shown[0].t) < 2 * kLabelWidth) y += 14;
    const bool right = x > kRight - kLabelWidth;
    fmt::format_to(std::back_inserter(svg),
                   R"(<line class="line-mark" x1="{0:.1f}" y1="0" x2="{0:.1f}" y2="{1:.1f}" stroke="#555" stroke-dasharray="2 3"/>)"
                   R"(<text x="{0:.1f}" y="{2:.1f}" text-anchor="{3}" fill="#555">{4} {5}</text>)",
                   x, bottom, y, right ? "end" : "start", shown[k].what, format_rfc3339(shown[k].t));
  }
  return shown.empty() ? bottom + 24 : y + 4;
}

// `symptom_rows`: draw each symptom as a row beneath its root (else they are folded: their
// number and the pods affected). `link`: lane titles go to /incident/ID (else to the table row).
std::string timeline_svg(const RunPicture& p, Nanos t0, Nanos t1, bool symptom_rows, bool link) {
  auto roots = lanes(p);
  // A lane that ended before the window opens is not in it.
  std::erase_if(roots, [&](const IncidentSnapshot* i) { return !i->open && i->last_seen < t0; });
  if (roots.empty()) return "<p class=\"mute\">No incidents.</p>";
  const Scale sc{t0, t1, kLabel, kRight};
  std::string body;
  double y = 8;
  std::size_t shown = 0;
  for (const IncidentSnapshot* root : roots) {
    if (shown++ == kMaxLanes) {
      fmt::format_to(std::back_inserter(body), R"(<text x="4" y="{:.1f}">… and {} more (table below)</text>)", y + 12,
                     roots.size() - kMaxLanes);
      y += 20;
      break;
    }
    const double top = y;
    fmt::format_to(std::back_inserter(body), R"(<a href="{}{}"><text x="4" y="{:.1f}" font-weight="bold">{}</text></a>)",
                   link ? "/incident/" : "#i-", html_escaped(root->id), y + 14, html_escaped(clipped(root->title, 40)));
    for (const Segment& s : segments(p, *root, t1))
      fmt::format_to(std::back_inserter(body),
                     R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="12" fill="{}" rx="2"><title>{} {} – {}</title></rect>)",
                     sc.x(s.from), y + 4, std::max(2.0, sc.x(s.to) - sc.x(s.from)), colour_of(s.severity),
                     to_string(s.severity), format_rfc3339(s.from), format_rfc3339(s.to));
    marks(body, p, *root, sc, y + 10);
    y += 22;
    // Symptoms beneath their root: thin bars, then how many pods were affected over time.
    const auto symptoms = p.symptoms_of(root->id);
    std::size_t rows = 0;
    for (const IncidentSnapshot* s : symptoms) {
      if (!symptom_rows) break;
      if (rows++ == kMaxSymptomRows) {
        fmt::format_to(std::back_inserter(body), R"(<text x="16" y="{:.1f}">… and {} more symptoms</text>)", y + 9,
                       symptoms.size() - kMaxSymptomRows);
        y += 12;
        break;
      }
      const std::string who = s->pods.empty() ? labels_text(s->labels) : s->pods.front();
      fmt::format_to(std::back_inserter(body),
                     R"(<text x="16" y="{:.1f}" font-size="9">{}</text>)"
                     R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="6" fill="{}" opacity=".7"><title>{}: {}</title></rect>)",
                     y + 9, html_escaped(clipped(who, 44)), sc.x(s->first_seen), y + 3,
                     std::max(1.5, sc.x(s->open ? t1 : s->last_seen) - sc.x(s->first_seen)),
                     s->open ? colour_of(s->severity) : "#999", html_escaped(s->title), html_escaped(who));
      marks(body, p, *s, sc, y + 6);  // its own opened, escalated, resolved
      y += 11;
    }
    if (!symptoms.empty()) {
      // Pods affected: the distinct pods of the root and its symptoms, as each opened.
      std::vector<std::pair<Nanos, const IncidentSnapshot*>> opened{{root->first_seen, root}};
      for (const IncidentSnapshot* s : symptoms) opened.emplace_back(s->first_seen, s);
      std::sort(opened.begin(), opened.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      std::set<std::string> pods;
      std::vector<std::pair<Nanos, std::size_t>> steps;
      for (const auto& [t, i] : opened) {
        for (const std::string& pod : i->pods) pods.insert(pod);
        steps.emplace_back(t, pods.size());
      }
      const double h = 28, base = y + h + 2;
      const double most = double(std::max<std::size_t>(pods.size(), 1));
      std::string path = fmt::format("M{:.1f} {:.1f}", sc.x(steps.front().first), base);
      for (const auto& [t, n] : steps)
        path += fmt::format("H{:.1f}V{:.1f}", sc.x(t), base - h * double(n) / most);
      path += fmt::format("H{:.1f}V{:.1f}Z", sc.x(t1), base);
      fmt::format_to(std::back_inserter(body),
                     R"(<text x="16" y="{:.1f}" font-size="9">{}{} symptom{}: pods affected (up to {})</text>)"
                     R"(<path d="{}" fill="{}" opacity=".35" stroke="{}"><title>{} pods affected by the end</title></path>)",
                     base - 4, symptom_rows ? "" : "▸ ", symptoms.size(), symptoms.size() == 1 ? "" : "s", pods.size(), path,
                     colour_of(root->severity), colour_of(root->severity), pods.size());
      y = base + 6;
    }
    fmt::format_to(std::back_inserter(body), R"(<line x1="0" y1="{0:.1f}" x2="{1}" y2="{0:.1f}" stroke="#ddd"/>)",
                   y + 2, kWidth);
    (void)top;
    y += 6;
  }
  std::string marks_svg;
  const double height = line_marks(marks_svg, p, sc, y);
  std::string svg = fmt::format(
      R"(<svg class="timeline" viewBox="0 0 {} {:.0f}" role="img" aria-label="incident timeline">)", kWidth, height);
  axis(svg, sc, 0, y);
  svg += marks_svg;
  svg += body;
  svg += "</svg>";
  return svg;
}

// Where a run's last stretch begins when it deserves a zoomed drawing of its own (an outage
// after weeks of warnings is a sliver at the right), else 0.
Nanos zoom_from(const RunPicture& p, Nanos t0, Nanos t1) {
  const Nanos s0 = first_symptom(p);
  if (s0 <= t0 || (t1 - s0) * 10 >= t1 - t0) return 0;
  return std::max(t0, s0 - std::max<Nanos>((t1 - s0) / 5, 60 * kNanosPerSecond));
}

std::string timeline_caption(const RunPicture& p) {
  std::string out = "<p class=\"mute\">One lane per root cause (or incident of its own), its symptoms beneath. "
                    "○ opened, ▲ escalated, □ resolved; colour is severity at that time.";
  if (p.first_line != 0)
    out += fmt::format(" First classified line {}, last {}.", format_rfc3339(p.first_line), format_rfc3339(p.last_line));
  return out + "</p>\n";
}

// The status page's timeline: the whole run with symptoms folded under their root (and the
// last stretch again when the run is long), every symptom's own row one click away.
std::string status_timeline(const RunPicture& p) {
  if (lanes(p).empty()) return {};
  const auto [t0, t1] = run_span(p);
  const Nanos from = zoom_from(p, t0, t1);
  std::string out = "<h2>Timeline</h2>\n" + timeline_caption(p) + timeline_svg(p, t0, t1, false, true);
  if (from != 0) out += fmt::format("<h3>The last {}</h3>\n", span_text(t1 - from)) + timeline_svg(p, from, t1, false, true);
  if (first_symptom(p) != 0)
    out += "<details class=\"symptoms\"><summary>Each symptom on its own row</summary>" +
           timeline_svg(p, from != 0 ? from : t0, t1, true, true) + "</details>\n";
  return out;
}

std::string certificate_svg(const RunPicture& p) {
  if (p.certificates.empty()) return "<p class=\"mute\">No line stated a certificate's expiry.</p>";
  constexpr std::size_t kMax = 30;
  Nanos t0 = p.first_time ? p.first_time : p.clock, t1 = p.clock;
  for (std::size_t k = 0; k < p.certificates.size() && k < kMax; ++k) {
    const CertificateView& c = p.certificates[k];
    t0 = std::min(t0, c.certificate.expires_at - c.warning_threshold);
    t1 = std::max(t1, c.certificate.expires_at);
  }
  t1 += std::max<Nanos>((t1 - t0) / 20, kNanosPerSecond);
  const Scale sc{t0, t1, kLabel, kRight};
  std::string body;
  double y = 8;
  for (std::size_t k = 0; k < p.certificates.size() && k < kMax; ++k) {
    const CertificateView& v = p.certificates[k];
    const Nanos exp = v.certificate.expires_at;
    const Nanos warn_at = exp - v.warning_threshold, crit_at = exp - v.critical_threshold;
    const std::string name = v.certificate.identity.empty() ? v.certificate.rule : v.certificate.identity;
    fmt::format_to(std::back_inserter(body), R"(<text x="4" y="{:.1f}" font-weight="bold">{}</text>)", y + 12,
                   html_escaped(clipped(name + (v.certificate.labels.empty() ? "" : " " + labels_text(v.certificate.labels)), 40)));
    auto zone = [&](Nanos from, Nanos to, const char* colour, const std::string& tip) {
      if (to <= from) return;
      fmt::format_to(std::back_inserter(body),
                     R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="14" fill="{}"><title>{}</title></rect>)",
                     sc.x(from), y + 2, std::max(1.0, sc.x(to) - sc.x(from)), colour, html_escaped(tip));
    };
    zone(t0, warn_at, "#81c784", "valid");
    zone(warn_at, crit_at, "#ffb74d", fmt::format("warning from {} ({} before expiry)", format_rfc3339(warn_at), span_text(v.warning_threshold)));
    zone(crit_at, exp, "#e57373", fmt::format("critical from {} ({} before expiry)", format_rfc3339(crit_at), span_text(v.critical_threshold)));
    zone(exp, t1, "#424242", fmt::format("expired at {}", format_rfc3339(exp)));
    const std::string said = v.state == CertificateView::State::expired
                                 ? fmt::format("expired at {}", format_rfc3339(exp))
                                 : fmt::format("expires at {} (in {})", format_rfc3339(exp), span_text(exp - p.clock));
    const double ex = sc.x(exp);
    const bool left = ex > (kLabel + kRight) / 2;
    fmt::format_to(std::back_inserter(body),
                   R"(<line x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}" stroke="#000" stroke-width="2"/>)"
                   R"(<text x="{3:.1f}" y="{4:.1f}" text-anchor="{5}">{6}</text>)",
                   ex, y, y + 18, left ? ex - 4 : ex + 4, y + 30, left ? "end" : "start", html_escaped(said));
    y += 38;
  }
  // Now: the picture's clock.
  std::string svg = fmt::format(
      R"(<svg class="certificates" viewBox="0 0 {} {:.0f}" role="img" aria-label="certificate expiry chart">)", kWidth,
      y + 24);
  axis(svg, sc, 0, y);
  svg += body;
  fmt::format_to(std::back_inserter(svg),
                 R"(<line x1="{0:.1f}" y1="0" x2="{0:.1f}" y2="{1:.1f}" stroke="#0b57d0" stroke-dasharray="4 3"/>)"
                 R"(<text x="{2:.1f}" y="{3:.1f}" fill="#0b57d0" text-anchor="end">{4}</text></svg>)",
                 sc.x(p.clock), y, sc.x(p.clock) - 3, y - 2, p.live ? "now" : "end of the log");
  if (p.certificates.size() > kMax)
    svg += fmt::format("<p class=\"mute\">… and {} more in the table.</p>", p.certificates.size() - kMax);
  return svg;
}

std::string heat_svg(const RunPicture& p) {
  const ActivityMap& a = p.activity;
  if (a.rows.empty()) return "<p class=\"mute\">No classified lines with a time.</p>";
  constexpr std::size_t kMaxRows = 30;
  const std::size_t rows = std::min(a.rows.size(), kMaxRows), cols = a.columns();
  std::uint64_t most = 1;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::uint64_t n : a.rows[r].counts) most = std::max(most, n);
  const double cell_w = (kRight - kLabel) / double(cols), cell_h = 14;
  const Scale sc{a.start, a.start + a.bucket * Nanos(cols), kLabel, kRight};
  std::string body;
  for (std::size_t r = 0; r < rows; ++r) {
    const ActivityMap::Row& row = a.rows[r];
    const double y = 4 + double(r) * cell_h;
    const std::string name = row.namespace_name.empty() ? row.pod : row.namespace_name + "/" + row.pod;
    fmt::format_to(std::back_inserter(body), R"(<text x="4" y="{:.1f}">{}</text>)", y + 11,
                   html_escaped(clipped(name, 42)));
    for (std::size_t c = 0; c < cols; ++c) {
      const std::uint64_t n = row.counts[c];
      if (n == 0) continue;
      // Log scale: one line is already visible, the busiest cell is the darkest.
      const double f = 0.15 + 0.85 * std::log1p(double(n)) / std::log1p(double(most));
      fmt::format_to(std::back_inserter(body),
                     R"(<rect x="{:.2f}" y="{:.1f}" width="{:.2f}" height="{:.1f}" fill="#b71c1c" fill-opacity="{:.2f}"><title>{}: {} line{} from {}</title></rect>)",
                     kLabel + double(c) * cell_w, y, cell_w + 0.2, cell_h - 1, f, html_escaped(name), n, n == 1 ? "" : "s",
                     format_rfc3339(a.start + a.bucket * Nanos(c)));
    }
  }
  const double height = 4 + double(rows) * cell_h;
  std::string svg = fmt::format(
      R"(<svg class="heat" viewBox="0 0 {} {:.0f}" role="img" aria-label="classified lines per pod over time">)", kWidth,
      height + 24);
  axis(svg, sc, 0, height);
  svg += body;
  svg += "</svg>";
  svg += fmt::format("<p class=\"mute\">Each cell: {} of classified lines; darker is more (the busiest cell: {}).{}</p>",
                     span_text(a.bucket), most,
                     a.rows.size() > kMaxRows ? fmt::format(" {} quieter pods are not drawn.", a.rows.size() - kMaxRows) : "");
  return svg;
}

// ---- tables and cards ---------------------------------------------------------------------------

std::string incident_row(const RunPicture& p, const IncidentSnapshot& i, bool link) {
  const std::string title = link ? fmt::format("<a href=\"/incident/{}\">{}</a>", html_escaped(i.id), html_escaped(i.title))
                                 : html_escaped(i.title);
  return fmt::format(
      "<tr id=\"i-{}\"><td><span class=\"sev {}\">{}</span></td><td>{}<br><small>{}</small></td><td>{}</td>"
      "<td class=\"n\">{}</td><td class=\"wide\">{}</td><td class=\"wide\">{}</td><td class=\"wide\">{}</td></tr>\n",
      html_escaped(i.id), state_of(i), state_of(i), title, html_escaped(i.summary.empty() ? i.rule : i.summary),
      html_escaped(labels_text(i.labels)) + (i.pods.empty() ? "" : "<br><small>" + html_escaped(pods_text(i.pods, 5)) + "</small>"),
      i.count, when(i.first_seen), when(i.last_seen),
      i.runbook.empty() && p.runbook_url(i).empty() ? std::string() : "<details><summary>fix</summary>" + fix_block(p, i) + "</details>");
}

std::string incident_table(const RunPicture& p, bool link) {
  std::string out =
      "<div class=\"scroll\"><table class=\"incidents\"><tr><th>state</th><th>incident</th><th>where</th><th>lines</th>"
      "<th class=\"wide\">first seen</th><th class=\"wide\">last seen</th><th class=\"wide\">runbook</th></tr>\n";
  for (const IncidentSnapshot* root : lanes(p)) {
    out += incident_row(p, *root, link);
    const auto symptoms = p.symptoms_of(root->id);
    if (symptoms.empty()) continue;
    std::set<std::string> pods;
    for (const IncidentSnapshot* s : symptoms) pods.insert(s->pods.begin(), s->pods.end());
    out += fmt::format("<tr><td></td><td colspan=\"6\"><details class=\"symptoms\"><summary>{} symptom{} in {} pod{}, caused by the "
                       "incident above</summary><table>\n",
                       symptoms.size(), symptoms.size() == 1 ? "" : "s", pods.size(), pods.size() == 1 ? "" : "s");
    for (const IncidentSnapshot* s : symptoms) out += incident_row(p, *s, link);
    out += "</table></details></td></tr>\n";
  }
  out += "</table></div>";
  return out;
}

std::string certificate_table(const RunPicture& p) {
  if (p.certificates.empty()) return "<p class=\"mute\">No line stated a certificate's expiry yet.</p>";
  std::string out =
      "<div class=\"scroll\"><table class=\"certificates\"><tr><th>expires</th><th>certificate</th><th>not after</th>"
      "<th class=\"wide\">warning / critical</th><th class=\"wide\">stated by</th></tr>\n";
  for (const CertificateView& v : p.certificates) {
    const auto& c = v.certificate;
    const Nanos left = c.expires_at - p.clock;
    const std::string countdown = left <= 0 ? "expired " + span_text(left) + " ago" : "in " + span_text(left);
    out += fmt::format(
        "<tr><td><span class=\"countdown {}\">{}</span></td><td>{}<br><small>{}</small></td><td>{}</td>"
        "<td class=\"wide\">{} / {} before</td><td class=\"wide\">{}<br><small>{}</small></td></tr>\n",
        to_string(v.state), html_escaped(countdown), html_escaped(c.identity.empty() ? c.rule : c.identity),
        html_escaped(labels_text(c.labels)), when(c.expires_at), span_text(v.warning_threshold),
        span_text(v.critical_threshold), html_escaped(c.source), when(c.stated_at));
  }
  out += "</table></div>";
  return out;
}

std::string sources_table(const RunPicture& p) {
  std::string out =
      "<div class=\"scroll\"><table class=\"sources\"><tr><th>source</th><th>lines</th><th>last line</th>"
      "<th class=\"wide\">last classified line (its time)</th></tr>\n";
  // "Ago" from when the page is looked at: a held replay's page is not published again.
  const Nanos now = std::max(p.taken_at, wall_now());
  for (const SourceView& s : p.sources) {
    std::string last = "—";
    if (s.last_line_arrived != 0) last = span_text(now - s.last_line_arrived) + " ago";
    out += fmt::format("<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"wide\">{}</td></tr>\n",
                       html_escaped(s.name), s.lines, html_escaped(last), when(s.last_match_time));
  }
  if (p.sources.empty()) out += "<tr><td colspan=\"4\" class=\"mute\">no input yet</td></tr>";
  out += "</table></div>";
  return out;
}

// A root (or an incident of its own) as a card: what, the fix, its symptoms folded.
std::string root_card(const RunPicture& p, const IncidentSnapshot& i, bool link) {
  std::string out = fmt::format("<div class=\"root {}\" id=\"root-{}\"><h3><span class=\"sev {}\">{}</span> {}</h3>",
                                state_of(i), html_escaped(i.id), state_of(i), state_of(i),
                                link ? fmt::format("<a href=\"/incident/{}\">{}</a>", html_escaped(i.id), html_escaped(i.title))
                                     : html_escaped(i.title));
  out += fmt::format("<div>{}</div><small>{} line{} · since {} · last {}{}{}</small>",
                     html_escaped(i.summary.empty() ? i.rule : i.summary), i.count, i.count == 1 ? "" : "s",
                     when(i.first_seen), when(i.last_seen),
                     i.expires_at ? " · certificate expiry " + when(i.expires_at) : "",
                     i.labels.empty() ? "" : " · " + html_escaped(labels_text(i.labels)));
  out += fix_block(p, i);
  const auto symptoms = p.symptoms_of(i.id);
  if (!symptoms.empty()) {
    std::set<std::string> pods;
    for (const IncidentSnapshot* s : symptoms) pods.insert(s->pods.begin(), s->pods.end());
    out += fmt::format("<details class=\"symptoms\"><summary><b>{} symptom{}</b> in {} pod{} (caused by this)</summary><ul>",
                       symptoms.size(), symptoms.size() == 1 ? "" : "s", pods.size(), pods.size() == 1 ? "" : "s");
    for (const IncidentSnapshot* s : symptoms)
      out += fmt::format("<li><span class=\"sev {}\">{}</span> {} <small>{} · {} lines · {}</small></li>", state_of(*s),
                         state_of(*s),
                         link ? fmt::format("<a href=\"/incident/{}\">{}</a>", html_escaped(s->id), html_escaped(s->title))
                              : html_escaped(s->title),
                         html_escaped(s->pods.empty() ? labels_text(s->labels) : pods_text(s->pods, 3)), s->count,
                         when(s->last_seen));
    out += "</ul></details>";
  }
  out += "</div>\n";
  return out;
}

std::string page_head(const std::string& title, bool refresh) {
  return fmt::format(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{}<title>{}</title>{}</head><body>\n",
      refresh ? "<meta http-equiv=\"refresh\" content=\"10\">" : "", html_escaped(title), kStyle);
}

std::string verdict(const RunPicture& p, bool link) {
  const auto roots = verdict_roots(p);
  std::size_t open = 0;
  for (const IncidentSnapshot& i : p.incidents) open += i.open ? 1 : 0;
  std::string out;
  if (roots.empty()) {
    out += fmt::format("<p>{} incident{}, {} open; none critical and none explains another.</p>", p.incidents.size(),
                       p.incidents.size() == 1 ? "" : "s", open);
    return out;
  }
  out += fmt::format("<p><b>{} root cause{}</b> · {} incident{} in all, {} open</p>\n", roots.size(),
                     roots.size() == 1 ? "" : "s", p.incidents.size(), p.incidents.size() == 1 ? "" : "s", open);
  for (const IncidentSnapshot* r : roots) out += root_card(p, *r, link);
  return out;
}

}  // namespace

std::string html_escaped(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_report(const RunPicture& p) {
  const auto roots = verdict_roots(p);
  const std::string title = roots.empty() ? "klaxon report" : "klaxon report: " + roots.front()->title;
  std::string out = page_head(title, false);
  out += fmt::format("<h1>{}</h1>\n<p class=\"mute\">{} · {} lines read, {} classified · from {} to {} · written {}</p>\n",
                     html_escaped(title), p.live ? "live run" : "replay", p.lines, p.classified, when(p.first_time),
                     when(p.clock), when(p.taken_at));
  out += "<h2>Verdict</h2>\n" + verdict(p, false);
  out += "<h2>Incident timeline</h2>\n" + timeline_caption(p);
  // An outage after weeks of warnings is a sliver at the right: its last stretch is drawn
  // again, with the symptoms' rows there only.
  const auto [t0, t1] = run_span(p);
  const Nanos from = zoom_from(p, t0, t1);
  out += timeline_svg(p, t0, t1, from == 0, false);
  if (from != 0) {
    out += fmt::format("<h3>The last {}, when the symptoms came</h3>\n", span_text(t1 - from));
    out += timeline_svg(p, from, t1, true, false);
  }
  out += "<h2>Certificates</h2>\n" + certificate_svg(p) + certificate_table(p);
  out += "<h2>Classified lines per pod over time</h2>\n" + heat_svg(p);
  out += "<h2>Incidents</h2>\n" + incident_table(p, false);
  out += "<h2>Sources</h2>\n" + sources_table(p);
  out += "<script type=\"application/json\" id=\"klaxon-picture\">" + picture_json(p) + "</script>\n";
  out += kPrintScript;
  out += "\n</body></html>\n";
  return out;
}

std::string render_status_page(const RunPicture& p) {
  std::size_t open = 0;
  for (const IncidentSnapshot& i : p.incidents) open += i.open ? 1 : 0;
  std::string out = page_head(fmt::format("klaxon: {} open", open), true);
  if (!p.not_ready.empty())
    out += "<div class=\"banner\">Not ready: " + html_escaped(p.not_ready) +
           "<br><small style=\"color:#fff\">what is below may be incomplete</small></div>\n";
  out += fmt::format("<h1>klaxon</h1><p class=\"mute\">{} · {} open incident{} · {} lines read · "
                     "<a href=\"/api/incidents\">/api/incidents</a> <a href=\"/api/certificates\">/api/certificates</a> "
                     "<a href=\"/metrics\">/metrics</a></p>\n",
                     p.live ? "live" : "replay", open, open == 1 ? "" : "s", p.lines);
  out += "<h2>Root causes first</h2>\n";
  const auto roots = lanes(p);
  if (roots.empty()) out += "<p>No incidents.</p>";
  for (const IncidentSnapshot* r : roots) out += root_card(p, *r, true);
  out += status_timeline(p);
  out += "<h2>Certificates, soonest expiry first</h2>\n" + certificate_table(p);
  out += "<h2>Sources</h2>\n" + sources_table(p);
  out += "</body></html>\n";
  return out;
}

std::string render_incident_page(const RunPicture& p, std::string_view id) {
  const IncidentSnapshot* i = p.find(id);
  if (!i) return {};
  std::string out = page_head("klaxon: " + i->title, true);
  out += "<p><a href=\"/\">← all incidents</a></p>\n";
  if (!i->caused_by.empty()) {
    const IncidentSnapshot* root = p.find(i->caused_by);
    out += fmt::format("<p>A symptom of <a href=\"/incident/{}\">{}</a>: fix that first.</p>", html_escaped(i->caused_by),
                       html_escaped(root ? root->title : i->caused_by));
  }
  out += root_card(p, *i, true);
  out += "<table><tr><th>id</th><td>" + html_escaped(i->id) + "</td></tr><tr><th>rule</th><td>" + html_escaped(i->rule) +
         " (" + html_escaped(i->klass) + ")</td></tr><tr><th>labels</th><td>" + html_escaped(labels_text(i->labels)) +
         "</td></tr><tr><th>pods</th><td>" + html_escaped(pods_text(i->pods, 50)) + "</td></tr>";
  if (!i->open)
    out += "<tr><th>resolved</th><td>" + html_escaped(i->resolved_because) +
           (i->resolved_by.empty() ? "" : " by " + html_escaped(i->resolved_by)) + "</td></tr>";
  out += "</table>\n<h2>History</h2><table><tr><th>event</th><th>time</th><th>severity</th><th>lines</th></tr>";
  if (auto h = p.history.find(i->id); h != p.history.end())
    for (const IncidentMark& m : h->second)
      out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>", to_string(m.kind),
                         when(m.time), to_string(m.severity), m.count);
  out += "</table>\n<h2>Sample lines</h2><div class=\"scroll\"><pre>";
  for (const std::string& s : i->samples) out += html_escaped(s) + "\n";
  out += "</pre></div></body></html>\n";
  return out;
}

std::string write_file_atomically(const std::string& path, std::string_view content) {
  // The temp file's name is guessable and its directory may be shared (/tmp): it is made new
  // (O_EXCL, O_NOFOLLOW), so a symlink planted there is unlinked, never written through (a root
  // klaxon would overwrite its target), and one planted again in between makes the open fail.
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) return fmt::format("cannot write {}: {}", tmp, std::strerror(errno));
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      fd.reset();
      ::unlink(tmp.c_str());
      return fmt::format("cannot write {}: {}", tmp, why);
    }
    done += std::size_t(n);
  }
  const bool synced = ::fsync(fd.get()) == 0;
  if (!synced || !fd.close()) {
    const std::string why = std::strerror(errno);
    fd.reset();
    ::unlink(tmp.c_str());
    return fmt::format("cannot write {}: {}", tmp, why);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return fmt::format("cannot write {}: {}", path, why);
  }
  return {};
}

}  // namespace klaxon::sinks
