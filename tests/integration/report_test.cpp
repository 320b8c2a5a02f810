// What an operator sees, through a real browser: `klaxon --report` on the Dapr outage timeline
// rendered by headless Chromium (the DOM names the root cause and its fix, the screenshot is
// not blank, nothing is fetched from anywhere, a hostile log line runs no script), and the
// status page of a replay held open with --hold (root first, /api/incidents is JSON).
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <png.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/chromium.hpp"
#include "tests/support/peer.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kBin = KLAXON_BINARY;
const std::string kSource = KLAXON_SOURCE_DIR;
const std::string kTimeline = kSource + "/samples/timelines/dapr-root-cert-expiry.log.gz";
constexpr auto kWait = 60s;  // for klaxon to replay and serve; a hang fails the test after this

// The Dapr timeline's root cause and the first words of its fix (rules/packs/dapr.yaml).
const std::string kRootTitle = "Dapr root certificate expires soon";
const std::string kFix = "dapr mtls renew-certificate -k --valid-until &lt;days&gt; --restart";
const std::string kSymptomTitle = "Dapr sidecar could not get a workload certificate";

std::string need_chromium() {
  const std::string c = test::chromium_binary();
  return c;
}

// The report of the Dapr timeline, written once for the tests of this file.
const std::string& dapr_report() {
  static const test::TempDir dir;  // removed at exit
  static const std::string path = [] {
    const std::string p = (dir.path() / "dapr.html").string();
    const auto r = test::run_klaxon({"--report", p, kTimeline}, test::ProcessOptions().with_limit(120s));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("report written to " + p), std::string::npos) << r.err;
    return p;
  }();
  return path;
}

// Distinct RGBA colours and the share of pixels that are not white, decoded with libpng.
struct PngLook {
  bool ok = false;
  unsigned width = 0, height = 0;
  std::size_t colours = 0;
  double not_white = 0;
};
PngLook look_at_png(const std::string& path) {
  PngLook look;
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) return look;
  image.format = PNG_FORMAT_RGBA;
  std::vector<png_byte> pixels(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) return look;
  look.ok = true;
  look.width = image.width;
  look.height = image.height;
  std::set<std::uint32_t> colours;
  std::size_t not_white = 0;
  for (std::size_t k = 0; k + 3 < pixels.size(); k += 4) {
    const std::uint32_t c = pixels[k] << 24 | pixels[k + 1] << 16 | pixels[k + 2] << 8 | pixels[k + 3];
    colours.insert(c);
    if (pixels[k] < 240 || pixels[k + 1] < 240 || pixels[k + 2] < 240) ++not_white;
  }
  look.colours = colours.size();
  look.not_white = double(not_white) / double(pixels.size() / 4);
  return look;
}

TEST(Report, ChromiumShowsTheDaprRootCauseAndItsFix) {
  const std::string chromium = need_chromium();
  KLAXON_REQUIRE_PEER(!chromium.empty(), "headless Chromium is not installed (apt-get install chromium)");
  const std::string& report = dapr_report();
  test::TempDir profile;
  const auto r = test::run_chromium(chromium, profile.path().string(), {"--dump-dom"}, "file://" + report);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string& dom = r.out;
  EXPECT_NE(dom.find("<title>klaxon report: " + kRootTitle + "</title>"), std::string::npos) << dom.substr(0, 2000);
  // The verdict names the root and its fix before anything else on the page.
  const std::size_t verdict = dom.find("<h2>Verdict</h2>");
  const std::size_t root = dom.find(kRootTitle, verdict), fix = dom.find(kFix, verdict);
  const std::size_t timeline = dom.find("<h2>Incident timeline</h2>");
  ASSERT_NE(verdict, std::string::npos);
  EXPECT_LT(root, timeline);
  EXPECT_LT(fix, timeline) << dom.substr(verdict, 3000);
  // The forty sidecars failing on the expired root are one folded incident, beside the crash loops.
  EXPECT_NE(dom.find("2 symptoms</b> in 40 pods"), std::string::npos);
  // The charts are there as the browser parsed them.
  for (const char* chart : {"<svg class=\"timeline\"", "<svg class=\"certificates\"", "<svg class=\"heat\""})
    EXPECT_NE(dom.find(chart), std::string::npos) << chart;
  EXPECT_NE(dom.find("expired at 2023-06-16T11:49:06Z"), std::string::npos);
  // A month of warnings, then minutes of outage: the outage is drawn again, zoomed in.
  EXPECT_NE(dom.find("when the symptoms came</h3>"), std::string::npos);
}

TEST(Report, ScreenshotOfTheDaprReportIsNotBlank) {
  const std::string chromium = need_chromium();
  KLAXON_REQUIRE_PEER(!chromium.empty(), "headless Chromium is not installed (apt-get install chromium)");
  test::TempDir dir;
  const std::string png = (dir.path() / "shot.png").string();
  const auto r = test::run_chromium(chromium, (dir.path() / "profile").string(),
                                    {"--screenshot=" + png, "--window-size=1280,2000", "--hide-scrollbars"},
                                    "file://" + dapr_report());
  ASSERT_EQ(r.status, 0) << r.err;
  const PngLook look = look_at_png(png);
  ASSERT_TRUE(look.ok) << "not a PNG: " << png;
  EXPECT_EQ(look.width, 1280u);
  EXPECT_EQ(look.height, 2000u);
  // Text, severity colours, shaded certificate zones and heat cells: many colours, much ink.
  EXPECT_GT(look.colours, 50u);
  EXPECT_GT(look.not_white, 0.05) << look.not_white;
}

// Removes every stretch from `open` to the next `close` (inclusive).
void cut_all(std::string& s, const std::string& open, const std::string& close) {
  for (std::size_t at; (at = s.find(open)) != std::string::npos;) {
    const std::size_t end = s.find(close, at);
    ASSERT_NE(end, std::string::npos) << open;
    s.erase(at, end + close.size() - at);
  }
}

TEST(Report, FetchesNothingFromTheNetwork) {
  std::string html = test::read_file(dapr_report());
  // Nothing that loads: no stylesheet links, images, frames, fonts, imports.
  for (const char* loader : {"<link", " src=", "srcset=", "url(", "@import", "<iframe", "<object", "<embed", "fetch(", "XMLHttpRequest"})
    EXPECT_EQ(html.find(loader), std::string::npos) << loader;
  // Web addresses only as runbook links people may follow, and in the embedded data.
  cut_all(html, "<a class=\"runbook\" href=\"http", "</a>");
  cut_all(html, "<script type=\"application/json\" id=\"klaxon-picture\">", "</script>");
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  // The picture is there for scripts, and it is JSON.
  const std::string again = test::read_file(dapr_report());
  const std::string open = "<script type=\"application/json\" id=\"klaxon-picture\">";
  const std::size_t at = again.find(open);
  ASSERT_NE(at, std::string::npos);
  const std::string json = again.substr(at + open.size(), again.find("</script>", at) - at - open.size());
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS);
  std::string_view title;
  ASSERT_EQ(doc["incidents"].at(0)["title"].get(title), simdjson::SUCCESS);
  EXPECT_EQ(title, kRootTitle);
}

TEST(Report, AHostilePodNameRunsNoScriptInTheBrowser) {
  const std::string chromium = need_chromium();
  KLAXON_REQUIRE_PEER(!chromium.empty(), "headless Chromium is not installed (apt-get install chromium)");
  test::TempDir dir;
  std::ofstream(dir.path() / "pack.yaml") << R"(pack: t
rules:
  - id: t.expired
    class: cert_expired
    title: Test certificate has expired
    match: { message: 'certificate has expired' }
    group_by: [pod]
    severity: critical
)";
  std::ofstream(dir.path() / "app.log")
      << R"({"time":"2024-04-01T10:00:00Z","level":"error","msg":"x509: certificate has expired","pod":"a</script><script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\">"})"
      << "\n";
  const std::string report = (dir.path() / "r.html").string();
  const auto k = test::run_klaxon({"--no-default-rules", "--rules", (dir.path() / "pack.yaml").string(), "--report", report,
                                   (dir.path() / "app.log").string()});
  ASSERT_EQ(k.status, 0) << k.err;
  const auto r = test::run_chromium(chromium, (dir.path() / "profile").string(), {"--dump-dom"}, "file://" + report);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("<title>klaxon report: Test certificate has expired</title>"), std::string::npos) << r.out.substr(0, 1000);
  EXPECT_EQ(r.out.find("<title>PWNED"), std::string::npos);
  EXPECT_EQ(r.out.find("<img"), std::string::npos);
  EXPECT_NE(r.out.find("a&lt;/script&gt;&lt;script&gt;document.title='PWNED'"), std::string::npos);
}

TEST(Report, AnUnwritableReportPathIsAUsageErrorBeforeReading) {
  const auto r = test::run_klaxon({"--report", "/nonexistent-dir-klaxon/r.html", kTimeline});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--report /nonexistent-dir-klaxon/r.html: no directory"), std::string::npos) << r.err;
}

// The report's temp file sits beside it under a guessable name (FILE.tmp-PID), often in a
// directory others can write (/tmp). A symlink planted there must not make klaxon (often root)
// write through it: the target stays as it was and the report is still written.
TEST(Report, ItsTempFileNeverWritesThroughAPlantedSymlink) {
  const test::TempDir dir;
  const fs::path target = dir.path() / "precious", report = dir.path() / "out.html";
  { std::ofstream(target) << "precious\n"; }
  // exec keeps the shell's pid, so the link is planted at the very name klaxon will use.
  const auto r = test::run_process({"/bin/bash", "-c", R"(ln -s "$1" "$2.tmp-$$" && exec "$3" --report "$2" "$4")", "_",
                                    target.string(), report.string(), kBin, kSource + "/samples/quickstart.log"});
  EXPECT_EQ(r.status, 0) << r.err;
  std::ifstream in(target);
  const std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(kept, "precious\n") << "the report was written through the planted symlink";
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(report))) << "no report written";
}

// ---- the status page of a held replay ------------------------------------------------------------

// GET with Connection: close, bounded by socket timeouts. Returns {status, body}.
std::pair<int, std::string> get(const std::string& address, const std::string& target) {
  const std::size_t colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(std::uint16_t(std::stoi(address.substr(colon + 1))));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return {0, ""};
  }
  const std::string req = "GET " + target + " HTTP/1.1\r\nHost: " + address + "\r\nConnection: close\r\n\r\n";
  (void)!::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string in;
  char buf[65536];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) in.append(buf, std::size_t(n));
  ::close(fd);
  const std::size_t head = in.find("\r\n\r\n");
  if (!in.starts_with("HTTP/1.1 ") || head == std::string::npos) return {0, in};
  return {std::stoi(in.substr(9, 3)), in.substr(head + 4)};
}

TEST(StatusPage, AHeldReplayOfTheDaprTimelineShowsTheRootFirstWithItsFix) {
  test::TempDir dir;
  test::KlaxonProcess k({"--listen", "127.0.0.1:0", "--hold", "--format", "jsonl", kTimeline});
  const std::string at = k.address("status on http://", kWait);
  ASSERT_TRUE(k.wait_for_err("replay done; holding", 120s)) << k.err();
  if (HasFailure()) return;

  const auto [status, page] = get(at, "/");
  ASSERT_EQ(status, 200);
  const std::size_t root = page.find(kRootTitle), fix = page.find(kFix), symptom = page.find(kSymptomTitle);
  ASSERT_NE(root, std::string::npos) << page.substr(0, 3000);
  EXPECT_LT(root, fix);
  EXPECT_LT(fix, symptom);  // symptoms are folded under the root, after its fix
  EXPECT_NE(page.find("2 symptoms</b> in 40 pods"), std::string::npos);
  EXPECT_EQ(page.find("class=\"banner\""), std::string::npos);  // a replay is ready
  EXPECT_NE(page.find("countdown expired"), std::string::npos);  // the root certificate, expired

  const auto [api_status, api] = get(at, "/api/incidents");
  ASSERT_EQ(api_status, 200);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(api).get(doc), simdjson::SUCCESS) << api.substr(0, 500);
  std::string_view first_title, id;
  ASSERT_EQ(doc["incidents"].at(0)["title"].get(first_title), simdjson::SUCCESS);
  EXPECT_EQ(first_title, kRootTitle);
  EXPECT_EQ(doc["incidents"].get_array().size(), 4u);  // the symptoms fold by the certificate they state
  ASSERT_EQ(doc["incidents"].at(0)["id"].get(id), simdjson::SUCCESS);
  const auto [one_status, one] = get(at, "/incident/" + std::string(id));
  EXPECT_EQ(one_status, 200);
  EXPECT_NE(one.find(kRootTitle), std::string::npos);
  EXPECT_EQ(get(at, "/incident/0000000000000000").first, 404);
  const auto [cert_status, certs] = get(at, "/api/certificates");
  ASSERT_EQ(cert_status, 200);
  simdjson::dom::parser parser2;
  simdjson::dom::element certs_doc;
  ASSERT_EQ(parser2.parse(certs).get(certs_doc), simdjson::SUCCESS) << certs;

  // The same page as a browser builds it.
  const std::string chromium = need_chromium();
  KLAXON_REQUIRE_PEER(!chromium.empty(), "headless Chromium is not installed (apt-get install chromium)");
  const auto r = test::run_chromium(chromium, (dir.path() / "profile").string(), {"--dump-dom"}, "http://" + at + "/");
  ASSERT_EQ(r.status, 0) << r.err;
  const std::size_t dom_root = r.out.find(kRootTitle), dom_symptom = r.out.find(kSymptomTitle);
  ASSERT_NE(dom_root, std::string::npos) << r.out.substr(0, 2000);
  EXPECT_LT(dom_root, r.out.find(kFix));
  EXPECT_LT(r.out.find(kFix), dom_symptom);

  // The timeline as the browser parsed it: drawn by klaxon (the page has no script, so it
  // reads the same with JavaScript off), the root's lane above its folded symptoms, the first
  // and the last line on the axis.
  EXPECT_EQ(page.find("<script"), std::string::npos);
  const auto& off = r;
  const std::size_t axis = off.out.find("<svg class=\"timeline\"");
  ASSERT_NE(axis, std::string::npos) << off.out.substr(0, 3000);
  const std::size_t lane = off.out.find(">" + kRootTitle + "</text>", axis);
  const std::size_t folded = off.out.find("▸ 2 symptoms: pods affected (up to 41)", axis);
  ASSERT_NE(lane, std::string::npos);
  ASSERT_NE(folded, std::string::npos) << off.out.substr(axis, 3000);
  EXPECT_LT(lane, folded);
  EXPECT_NE(off.out.find(">first line 2023-05-17T12:49:06Z</text>", axis), std::string::npos);
  EXPECT_NE(off.out.find(">last line 2023-06-19T13:26:40Z</text>", axis), std::string::npos);
  EXPECT_NE(off.out.find("<summary>Each symptom on its own row</summary>", axis), std::string::npos);

  EXPECT_EQ(k.stop(), 0) << k.err();
}

TEST(StatusPage, HoldWithoutListenIsAUsageError) {
  const auto r = test::run_klaxon({"--hold", kTimeline});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("add --listen"), std::string::npos) << r.err;
}

TEST(Report, ALiveRunWritesItsReportAtShutdown) {
  test::TempDir dir;
  const fs::path logs = dir.path() / "logs";
  fs::create_directories(logs);
  std::ofstream(logs / "sentry.log")
      << R"({"instance":"dapr-sentry-68cbf79bb9-gdqdv","level":"warning","msg":"Dapr root certificate expiration warning: )"
         R"(certificate expires in 2 days and 15 hours","scope":"dapr.sentry","time":"2024-04-01T23:43:35.931825236Z"})"
      << "\n";
  const std::string report = (dir.path() / "live.html").string();
  test::KlaxonProcess k({"--listen", "127.0.0.1:0", "--report", report, "--follow", logs.string()});
  const std::string at = k.address("status on http://", kWait);
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  std::string api;
  while (std::chrono::steady_clock::now() < deadline && api.find(kRootTitle) == std::string::npos) {
    api = get(at, "/api/incidents").second;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_NE(api.find(kRootTitle), std::string::npos) << api;
  // The page says when the source last sent a line ("all quiet" is not "no input").
  const std::string page = get(at, "/").second;
  EXPECT_TRUE(std::regex_search(page, std::regex("<td>[0-9]+s ago</td>"))) << page;
  EXPECT_FALSE(fs::exists(report));  // written when the run ends, not before
  EXPECT_EQ(k.stop(), 0) << k.err();
  ASSERT_TRUE(fs::exists(report)) << k.err();
  const std::string html = test::read_file(report);
  EXPECT_NE(html.find("<title>klaxon report"), std::string::npos);
  EXPECT_NE(html.find(kRootTitle), std::string::npos);
  EXPECT_NE(html.find("live run"), std::string::npos);
}

}  // namespace
}  // namespace klaxon
