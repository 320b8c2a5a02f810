// The run's picture (adapters/sinks/run_picture.hpp) and its HTML (report_html.hpp): what the
// status page, /api/* and --report show, from lines fed through a real pipeline.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <simdjson.h>

#include "adapters/sinks/incident_json.hpp"
#include "adapters/sinks/report_html.hpp"
#include "adapters/sinks/run_picture.hpp"
#include "engine/json_text.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon::sinks {
namespace {

// A root (the CA expired) and a symptom (a sidecar's handshake failed), correlated; both per pod.
const char* kPack = R"(
pack: t
rules:
  - id: t.ca_expired
    class: cert_expired
    title: Test CA has expired
    match: { message: 'root CA has expired' }
    severity: critical
    resolve_after: 24h
    annotations:
      runbook: 'renew the test CA, then restart the sidecars'
      runbook_url: 'https://runbooks.example/ca'
  - id: t.handshake
    class: tls_handshake_failed
    title: Sidecar handshake failed
    match: { message: 'handshake failed after (?P<n>\d+) tries' }
    extract: { tries: number(n) }
    group_by: [pod]
    severity: [ { critical: 'tries > 3' }, { warning: true } ]
    resolve_after: 1m
correlations:
  - id: t.outage
    root: t.ca_expired
    symptoms: [t.handshake]
    within: 1h
)";

std::string json_line(const std::string& time, const std::string& level, const std::string& msg, const std::string& pod) {
  std::string out = R"({"time":")" + time + R"(","level":")" + level + R"(","msg":)";
  append_json_string(out, msg);
  out += R"(,"pod":)";
  append_json_string(out, pod);
  return out + "}\n";
}

struct PackRun {
  Matcher matcher;
  RunRecorder recorder;
  Pipeline pipeline;
  explicit PackRun(const std::string& pack)
      : matcher(test::matcher_from_yaml(pack)),
        pipeline(matcher, load_correlations(pack), PipelineOptions{}, {&recorder}) {
    pipeline.set_replay(true);
  }
  static std::vector<CorrelationSpec> load_correlations(const std::string& pack) {
    rules::RuleSet set;
    std::vector<Diagnostic> problems;
    rules::load_pack_text(pack, "test.yaml", set, problems);
    return set.correlations;
  }
  RunPicture picture() {
    pipeline.finish();
    return recorder.take_picture(pipeline, 1'800'000'000 * kNanosPerSecond, false, "");
  }
};

TEST(RunPicture, HostileTextFromALineStaysTextInTheJsonAndThePages) {
  const std::string hostile = "a</script><script>document.title='PWNED'</script>\xE2\x80\xA8<!--";
  PackRun run(kPack);
  run.pipeline.feed("app.log", json_line("2024-04-01T10:00:00Z", "error", "handshake failed after 5 tries", hostile));
  const RunPicture p = run.picture();
  ASSERT_EQ(p.incidents.size(), 1u);

  for (const std::string& json : {picture_json(p), incidents_json(p)}) {
    EXPECT_EQ(json.find('<'), std::string::npos) << json;
    EXPECT_EQ(json.find('>'), std::string::npos) << json;
    EXPECT_EQ(json.find("\xE2\x80\xA8"), std::string::npos);
    // Still JSON, and it still says what the line said.
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
    std::string_view pod;
    ASSERT_EQ(doc["incidents"].at(0)["labels"]["pod"].get(pod), simdjson::SUCCESS) << json;
    EXPECT_EQ(pod, hostile);
  }
  for (const std::string& html : {render_report(p), render_status_page(p), render_incident_page(p, p.incidents[0].id)}) {
    EXPECT_EQ(html.find("<script>document.title"), std::string::npos) << html;
    EXPECT_EQ(html.find("</script><script>"), std::string::npos);
    EXPECT_NE(html.find("a&lt;/script&gt;&lt;script&gt;document.title=&#39;PWNED&#39;"), std::string::npos);
  }
  // The report's only script elements are its own: the embedded picture and the print helper.
  const std::string report = render_report(p);
  std::size_t closes = 0;
  for (std::size_t at = 0; (at = report.find("</script>", at)) != std::string::npos; ++at) ++closes;
  EXPECT_EQ(closes, 2u);
}

TEST(RunPicture, RootsComeFirstWithTheirSymptomsTheFixAndTheHistory) {
  PackRun run(kPack);
  std::string lines;
  lines += json_line("2024-04-01T10:00:00Z", "warning", "handshake failed after 1 tries", "app1-abc");
  lines += json_line("2024-04-01T10:01:00Z", "info", "root CA has expired", "sentry-0");
  lines += json_line("2024-04-01T10:02:00Z", "warning", "handshake failed after 1 tries", "app2-def");
  lines += json_line("2024-04-01T10:03:00Z", "error", "handshake failed after 4 tries", "app2-def");  // escalates app2's
  lines += json_line("2024-04-01T10:30:00Z", "info", "root CA has expired", "sentry-0");  // app1, app2 quiet 27 min+
  lines += json_line("2024-04-01T11:10:00Z", "info", "root CA has expired", "sentry-0");  // ... and now resolved
  run.pipeline.feed("app.log", lines);
  const RunPicture p = run.picture();
  ASSERT_EQ(p.incidents.size(), 3u);
  const IncidentSnapshot& root = p.incidents[0];
  EXPECT_EQ(root.rule, "t.ca_expired");
  ASSERT_EQ(p.symptoms_of(root.id).size(), 2u);
  EXPECT_EQ(p.runbook_url(root), "https://runbooks.example/ca");

  // app2's incident: opened warning, escalated to critical, resolved.
  const IncidentSnapshot* app2 = nullptr;
  for (const IncidentSnapshot* s : p.symptoms_of(root.id))
    if (s->pods == std::vector<std::string>{"app2-def"}) app2 = s;
  ASSERT_NE(app2, nullptr);
  std::vector<std::string> kinds;
  for (const IncidentMark& m : p.history.at(app2->id)) kinds.push_back(std::string(to_string(m.kind)));
  EXPECT_EQ(kinds, (std::vector<std::string>{"opened", "escalated", "resolved"}));
  EXPECT_EQ(p.history.at(app2->id)[1].severity, Severity::critical);

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const std::string json = incidents_json(p);
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  std::string_view first_rule, url;
  ASSERT_EQ(doc["incidents"].at(0)["rule"].get(first_rule), simdjson::SUCCESS);
  EXPECT_EQ(first_rule, "t.ca_expired");
  ASSERT_EQ(doc["incidents"].at(0)["runbook_url"].get(url), simdjson::SUCCESS);
  EXPECT_EQ(url, "https://runbooks.example/ca");
  EXPECT_EQ(doc["incidents"].at(0)["symptom_ids"].get_array().size(), 2u);

  // The status page: the root's card (title, fix, folded symptoms) before any symptom.
  const std::string page = render_status_page(p);
  const std::size_t root_at = page.find("Test CA has expired"), symptom_at = page.find("Sidecar handshake failed");
  ASSERT_NE(root_at, std::string::npos);
  EXPECT_LT(root_at, symptom_at);
  EXPECT_NE(page.find("renew the test CA, then restart the sidecars"), std::string::npos);
  EXPECT_NE(page.find("2 symptoms</b> in 2 pods"), std::string::npos) << page;
  EXPECT_NE(page.find("name=\"viewport\""), std::string::npos);
  EXPECT_EQ(page.find("Not ready"), std::string::npos);
  // The report names the root in its title and verdict, and draws the timeline and heat map.
  const std::string report = render_report(p);
  EXPECT_NE(report.find("<title>klaxon report: Test CA has expired</title>"), std::string::npos);
  EXPECT_NE(report.find("<svg class=\"timeline\""), std::string::npos);
  EXPECT_NE(report.find("<svg class=\"heat\""), std::string::npos);
  EXPECT_NE(report.find("href=\"https://runbooks.example/ca\""), std::string::npos);
}

TEST(RunPicture, TheStatusPageDrawsTheTimelineWithTheRootAboveItsFoldedSymptoms) {
  PackRun run(kPack);
  std::string lines;
  lines += json_line("2024-04-01T10:00:00Z", "warning", "handshake failed after 1 tries", "app1-abc");
  lines += json_line("2024-04-01T10:01:00Z", "info", "root CA has expired", "sentry-0");
  lines += json_line("2024-04-01T10:02:00Z", "warning", "handshake failed after 1 tries", "app2-def");
  lines += json_line("2024-04-01T10:03:00Z", "error", "handshake failed after 4 tries", "app2-def");  // escalates app2's
  lines += json_line("2024-04-01T11:10:00Z", "info", "root CA has expired", "sentry-0");  // both symptoms resolved by now
  run.pipeline.feed("app.log", lines);
  const RunPicture p = run.picture();
  EXPECT_EQ(format_rfc3339(p.first_line), "2024-04-01T10:00:00Z");
  EXPECT_EQ(format_rfc3339(p.last_line), "2024-04-01T11:10:00Z");
  const std::string& root_id = p.incidents.at(0).id;
  const std::string page = render_status_page(p);
  constexpr auto npos = std::string::npos;

  // One time axis, after the root cards: the root's lane (linked to its page), its symptoms
  // folded beneath it (how many, the pods affected), the first and last line.
  const std::size_t h2 = page.find("<h2>Timeline</h2>");
  ASSERT_NE(h2, npos) << page;
  EXPECT_NE(page.find("First classified line 2024-04-01T10:00:00Z, last 2024-04-01T11:10:00Z.", h2), npos);
  const std::size_t svg = page.find("<svg class=\"timeline\"", h2);
  ASSERT_NE(svg, npos);
  const std::string folded = page.substr(svg, page.find("</svg>", svg) - svg);
  const std::size_t lane = folded.find(">Test CA has expired</text>");
  const std::size_t fold = folded.find("▸ 2 symptoms: pods affected (up to 3)");
  ASSERT_NE(lane, npos) << folded;
  ASSERT_NE(fold, npos) << folded;
  EXPECT_LT(lane, fold) << "the root above its symptoms";
  EXPECT_NE(folded.find("<a href=\"/incident/" + root_id + "\">"), npos);
  EXPECT_NE(folded.find("<title>opened critical at 2024-04-01T10:01:00Z"), npos) << folded;
  EXPECT_EQ(folded.find("app2-def"), npos) << "folded: no row per symptom";
  EXPECT_NE(folded.find(">first line 2024-04-01T10:00:00Z</text>"), npos) << folded;
  EXPECT_NE(folded.find(">last line 2024-04-01T11:10:00Z</text>"), npos) << folded;

  // Every symptom's own row (opened, escalated, resolved) one click away, without any script.
  const std::size_t details = page.find("<summary>Each symptom on its own row</summary>", h2);
  ASSERT_NE(details, npos);
  const std::string rows = page.substr(details, page.find("</details>", details) - details);
  const std::size_t app2 = rows.find(">app2-def</text>");
  ASSERT_NE(app2, npos) << rows;
  EXPECT_LT(rows.find(">Test CA has expired</text>"), app2);
  for (const char* mark : {"<title>opened warning at 2024-04-01T10:02:00Z", "<title>escalated critical at 2024-04-01T10:03:00Z",
                           "<title>resolved critical at"})
    EXPECT_NE(rows.find(mark, app2), npos) << mark << "\n" << rows;
  EXPECT_EQ(page.find("<script"), npos) << "the status page is readable without JavaScript: it has none";

  // The report draws the same axis with the same marks.
  const std::string report = render_report(p);
  EXPECT_NE(report.find(">first line 2024-04-01T10:00:00Z</text>"), npos);
  EXPECT_NE(report.find("<title>escalated critical at 2024-04-01T10:03:00Z"), npos);
}

TEST(RunPicture, NotReadyIsABannerNotAFootnote) {
  PackRun run(kPack);
  run.pipeline.finish();
  const RunPicture p = run.recorder.take_picture(run.pipeline, 1'800'000'000 * kNanosPerSecond, true, "loki is not connected");
  const std::string page = render_status_page(p);
  EXPECT_NE(page.find("<div class=\"banner\">Not ready: loki is not connected"), std::string::npos) << page;
}

TEST(RunPicture, ActivityCountsClassifiedLinesPerPodOverTime) {
  PackRun run(kPack);
  std::string lines;
  for (int minute = 0; minute < 5; ++minute)
    for (const char* pod : {"app1-abc", "app2-def"})
      for (int k = 0; k <= minute; ++k)
        if (std::string(pod) == "app1-abc" || minute == 4)
          lines += json_line(fmt::format("2024-04-01T10:0{}:{:02}Z", minute, k), "warning", "handshake failed after 1 tries", pod);
  run.pipeline.feed("app.log", lines);
  const RunPicture p = run.picture();
  ASSERT_EQ(p.activity.rows.size(), 2u);
  EXPECT_EQ(p.activity.rows[0].pod, "app1-abc");
  EXPECT_EQ(p.activity.rows[0].total, 15u);  // 1 + 2 + 3 + 4 + 5
  EXPECT_EQ(p.activity.rows[1].total, 5u);
  EXPECT_EQ(p.activity.bucket, 60 * kNanosPerSecond);
  EXPECT_EQ(p.activity.rows[0].counts, (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(p.activity.rows[1].counts, (std::vector<std::uint64_t>{0, 0, 0, 0, 5}));
}

// /api/incidents and `--format jsonl` (and --webhook's body) write an incident with the one
// writer of incident_json.hpp: every key of the jsonl incident is in the page's, with the same
// value; the page only adds keys of its own.
TEST(RunPicture, AnApiIncidentIsTheJsonLinesIncidentPlusThePagesOwnKeys) {
  PackRun run(kPack);
  std::string lines;
  lines += json_line("2024-04-01T10:00:00Z", "warning", "handshake failed after 1 tries", "app1-abc");
  lines += json_line("2024-04-01T10:01:00Z", "info", "root CA has expired", "sentry-0");
  run.pipeline.feed("app.log", lines);
  const RunPicture p = run.picture();
  ASSERT_EQ(p.incidents.size(), 2u);

  simdjson::dom::parser api_parser;
  simdjson::dom::array api;
  const std::string api_json = incidents_json(p);
  ASSERT_EQ(api_parser.parse(api_json)["incidents"].get(api), simdjson::SUCCESS) << api_json;
  ASSERT_EQ(api.size(), 2u);
  std::size_t compared = 0;
  for (simdjson::dom::object page : api) {
    std::string_view id;
    ASSERT_EQ(page["id"].get(id), simdjson::SUCCESS);
    const IncidentSnapshot* snapshot = p.find(id);
    ASSERT_NE(snapshot, nullptr) << id;
    std::string line;
    append_incident_event_json(line, IncidentEvent{IncidentEvent::Kind::opened, snapshot->first_seen, *snapshot});
    simdjson::dom::parser line_parser;
    simdjson::dom::object event;
    ASSERT_EQ(line_parser.parse(line).get(event), simdjson::SUCCESS) << line;
    for (auto [key, value] : event) {
      if (key == "type" || key == "event" || key == "time") continue;  // the event's, not the incident's
      simdjson::dom::element mine;
      ASSERT_EQ(page[key].get(mine), simdjson::SUCCESS) << key << " is missing from /api/incidents: " << api_json;
      EXPECT_EQ(simdjson::minify(mine), simdjson::minify(value)) << key;
      ++compared;
    }
    for (const char* own : {"history", "symptom_ids", "resolved_because"}) {
      simdjson::dom::element e;
      EXPECT_EQ(page[own].get(e), simdjson::SUCCESS) << own;
    }
  }
  EXPECT_GE(compared, 2u * 15u) << "id, rule, class, severity, title, labels, first_seen, ... of both";
}

TEST(RunPicture, ActivityStaysBoundedOverALongRun) {
  PackRun run(kPack);
  std::string lines;
  // One line an hour for a year: the buckets widen instead of growing without end.
  for (Nanos t = 1'700'000'000LL * kNanosPerSecond, k = 0; k < 24 * 365; ++k, t += 3600 * kNanosPerSecond)
    lines += json_line(format_rfc3339(t), "warning", "handshake failed after 1 tries", "app1-abc");
  run.pipeline.feed("app.log", lines);
  const RunPicture p = run.picture();
  ASSERT_EQ(p.activity.rows.size(), 1u);
  EXPECT_LE(p.activity.columns(), 96u);
  EXPECT_EQ(p.activity.rows[0].total, 24u * 365);
}

TEST(RunPicture, CertificatesAreSetAgainstTheirThresholds) {
  // The seed's line: 2024-04-01T23:43:35Z + 2 days 15 hours = 2024-04-04T14:43:35Z, within the
  // rule's 7 days: critical at the end of the log.
  const std::string line =
      R"({"instance":"dapr-sentry-68cbf79bb9-gdqdv","level":"warning","msg":"Dapr root certificate expiration warning: )"
      R"(certificate expires in 2 days and 15 hours","scope":"dapr.sentry","time":"2024-04-01T23:43:35.931825236Z","type":"log","ver":"1.6.0"})";
  const Matcher matcher = test::builtin_matcher();
  RunRecorder recorder;
  Pipeline pipeline(matcher, {}, PipelineOptions{}, {&recorder});
  pipeline.set_replay(true);
  pipeline.feed("sentry.log", line + "\n");
  pipeline.finish();
  const RunPicture p = recorder.take_picture(pipeline, 1'800'000'000 * kNanosPerSecond, false, "");
  ASSERT_EQ(p.certificates.size(), 1u);
  EXPECT_EQ(p.certificates[0].state, CertificateView::State::critical);
  EXPECT_EQ(p.certificates[0].critical_threshold, 7 * 86400 * kNanosPerSecond);
  EXPECT_GE(p.certificates[0].warning_threshold, p.certificates[0].critical_threshold);

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const std::string json = certificates_json(p);
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  std::string_view not_after, state;
  ASSERT_EQ(doc["certificates"].at(0)["not_after"].get(not_after), simdjson::SUCCESS);
  EXPECT_EQ(not_after.substr(0, 19), "2024-04-04T14:43:35");
  ASSERT_EQ(doc["certificates"].at(0)["state"].get(state), simdjson::SUCCESS);
  EXPECT_EQ(state, "critical");
  std::int64_t critical_seconds = 0;
  ASSERT_EQ(doc["certificates"].at(0)["critical_threshold_seconds"].get(critical_seconds), simdjson::SUCCESS);
  EXPECT_EQ(critical_seconds, 7 * 86400);

  const std::string report = render_report(p);
  EXPECT_NE(report.find("expires at 2024-04-04T14:43:35Z (in 2d 14h)"), std::string::npos) << report;
  // The status page counts down, soonest first.
  EXPECT_NE(render_status_page(p).find("<span class=\"countdown critical\">in 2d 14h</span>"), std::string::npos);
}

// A certificate read where it is kept (--certs, --certs-kubernetes, --probe) is in the page's and
// the report's certificate table beside the expiries lines stated, with where to renew it.
TEST(RunPicture, TheInventoryIsInTheCertificateTable) {
  const Matcher matcher = test::builtin_matcher();
  RunRecorder recorder;
  Pipeline pipeline(matcher, {}, PipelineOptions{}, {&recorder});
  pipeline.set_replay(true);
  InventoryCertificate c;
  c.source = "secret:dapr-system/dapr-trust-bundle/ca.crt";
  c.subject = "cluster.local";
  c.not_after = (1'800'000'000 + 10 * 86400) * kNanosPerSecond;  // 10 days after the picture
  c.not_after_seconds = 1'800'000'000 + 10 * 86400;
  c.not_after_text = format_rfc3339(c.not_after);
  pipeline.certificate_read(c);
  pipeline.finish();
  const RunPicture p = recorder.take_picture(pipeline, 1'800'000'000 * kNanosPerSecond, false, "");
  ASSERT_EQ(p.certificates.size(), 1u);
  EXPECT_EQ(p.certificates[0].certificate.source, c.source);
  EXPECT_EQ(p.certificates[0].certificate.identity, "cluster.local");
  EXPECT_EQ(p.certificates[0].state, CertificateView::State::warning);  // within 30 days, beyond 7
  EXPECT_NE(certificates_json(p).find("dapr-trust-bundle"), std::string::npos) << certificates_json(p);
  EXPECT_NE(render_status_page(p).find("dapr-trust-bundle"), std::string::npos);
}

TEST(ReportFile, IsWrittenWholeOrNotAtAll) {
  test::TempDir dir;
  const std::string path = (dir.path() / "r.html").string();
  EXPECT_EQ(write_file_atomically(path, "<html>one</html>"), "");
  EXPECT_EQ(test::read_file(path), "<html>one</html>");
  EXPECT_EQ(write_file_atomically(path, "<html>two</html>"), "");
  EXPECT_EQ(test::read_file(path), "<html>two</html>");
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u);  // no temporary left behind
  const std::string error = write_file_atomically((dir.path() / "missing" / "r.html").string(), "x");
  EXPECT_NE(error.find("cannot write"), std::string::npos) << error;
}

}  // namespace
}  // namespace klaxon::sinks
