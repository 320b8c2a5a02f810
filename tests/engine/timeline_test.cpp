// The two timelines of samples/timelines/ (built from the seeds) through the engine with the
// shipped packs: the incidents an operator must get, whatever the chunking or interleaving.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include <fmt/format.h>

#include "adapters/sources/file_source.hpp"
#include "engine/incident_tracker.hpp"
#include "engine/stream_classifier.hpp"
#include "rules/rule_pack_loader.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

const std::string kTimelines = std::string(KLAXON_SOURCE_DIR) + "/samples/timelines/";

std::string read_archive(const std::string& name) {
  std::string error, text;
  auto src = sources::open_file_source(kTimelines + name, error);
  if (!src) throw std::runtime_error(error);
  std::vector<char> buf(1 << 16);
  for (;;) {
    auto r = src->read(buf);
    text.append(buf.data(), r.bytes);
    if (r.eof) break;
  }
  return text;
}

struct Shipped {
  rules::RuleSet set;
  std::optional<Matcher> matcher;
  Shipped() {
    std::vector<Diagnostic> problems;
    rules::load_builtin_packs(set, problems);
    matcher = Matcher::compile(set.rules, problems);
  }
};
const Shipped& shipped() {
  static Shipped s;
  return s;
}

struct Outcome {
  std::vector<IncidentEvent> events;
  std::vector<IncidentSnapshot> incidents;
  const IncidentSnapshot* find(const std::string& rule) const {
    for (const auto& i : incidents)
      if (i.rule == rule) return &i;
    return nullptr;
  }
  std::vector<std::string> events_of(const std::string& id) const {
    std::vector<std::string> out;
    for (const auto& e : events)
      if (e.incident.id == id && e.kind != IncidentEvent::Kind::updated)
        out.push_back(std::string(to_string(e.kind)) + " " + e.incident.klass + " " +
                      std::string(to_string(e.incident.severity)) + " @" + format_rfc3339(e.time));
    return out;
  }
  // What must not depend on how the archive was read.
  std::string canonical() const {
    std::vector<std::string> rows;
    for (const auto& i : incidents)
      rows.push_back(fmt::format("{} {} {} {} n={} {}..{} exp={} under={} symptoms={} open={}", i.id, i.rule, i.klass,
                                 to_string(i.severity), i.count, format_rfc3339_nano(i.first_seen),
                                 format_rfc3339_nano(i.last_seen), i.expires_at ? format_rfc3339(i.expires_at) : "-",
                                 i.caused_by, i.symptoms, i.open));
    std::sort(rows.begin(), rows.end());
    std::string out;
    for (const auto& r : rows) out += r + "\n";
    return out;
  }
};

Outcome replay(const std::string& text, std::size_t chunk) {
  Outcome o;
  const Shipped& s = shipped();
  IncidentTracker tracker(s.matcher->rules(), s.set.correlations);
  StreamClassifier stream(*s.matcher, "timeline", {}, {}, [&](const ClassifiedLine& l) { tracker.observe(l, o.events); });
  for (std::size_t i = 0; i < text.size(); i += chunk) stream.feed(std::string_view(text).substr(i, chunk));
  stream.finish();
  o.incidents = tracker.incidents();
  return o;
}

// The pods' lines interleaved differently, as several `kubectl logs -f` would deliver them:
// each pod keeps its own order; between pods, lines may come up to 20 s early or late.
std::string interleave(const std::string& text, unsigned seed) {
  std::mt19937 rng(seed);
  struct Line {
    double key;
    std::size_t order;
    std::string text;
  };
  std::map<std::string, double> pod_clock;  // last key given per pod: keeps each pod in order
  std::vector<Line> lines;
  std::size_t start = 0, order = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    std::string line = text.substr(start, end - start);
    start = end + 1;
    std::string pod = line.substr(0, line.find(' '));
    std::string_view stamp = line.starts_with("[") ? std::string_view(line).substr(line.find(' ') + 1) : std::string_view(line);
    auto t = parse_rfc3339_prefix(stamp);
    double key = t ? double(*t / 1'000'000) / 1000.0 + std::uniform_real_distribution<>(0, 20)(rng) : 0;
    key = std::max(key, pod_clock[pod]);
    pod_clock[pod] = key;
    lines.push_back({key, order++, line});
  }
  std::stable_sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) { return a.key < b.key; });
  std::string out;
  for (const auto& l : lines) out += l.text + "\n";
  return out;
}

TEST(DaprTimeline, WarnsAMonthAheadEscalatesOnTheClockAndNamesTheRootOfTheOutage) {
  const std::string text = read_archive("dapr-root-cert-expiry.log.gz");
  const Outcome o = replay(text, 1 << 20);
  const Nanos real_expiry = *parse_instant("2023-06-16T12:31:17Z");
  constexpr Nanos kHour = 3600 * kNanosPerSecond, kDay = 24 * kHour;

  // One expiring-soon incident, opened at the first warning, 30 days ahead.
  const IncidentSnapshot* warning = nullptr;
  for (const auto& i : o.incidents)
    if (i.rule.starts_with("dapr.") && i.expires_at != 0 && i.first_seen < real_expiry - 20 * kDay) {
      ASSERT_EQ(warning, nullptr) << "two expiry warnings: " << warning->rule << " and " << i.rule;
      warning = &i;
    }
  ASSERT_NE(warning, nullptr) << o.canonical();
  EXPECT_EQ(format_rfc3339(warning->first_seen), "2023-05-17T12:49:06Z");
  // Dapr truncates to whole hours: the instant is known to within an hour, from below.
  EXPECT_LE(warning->expires_at, real_expiry);
  EXPECT_GT(warning->expires_at, real_expiry - kHour);
  const auto lifecycle = o.events_of(warning->id);
  ASSERT_GE(lifecycle.size(), 3u) << ::testing::PrintToString(lifecycle);
  EXPECT_EQ(lifecycle[0], "opened cert_expiring_soon warning @2023-05-17T12:49:06Z");
  EXPECT_EQ(lifecycle[1], "escalated cert_expiring_soon critical @" + format_rfc3339(warning->expires_at - 7 * kDay));
  EXPECT_EQ(lifecycle[2], "escalated cert_expired critical @" + format_rfc3339(warning->expires_at));

  // The outage is the same incident: one certificate, one incident, from the first warning to
  // the sentry's own "has expired" lines (which join it), with every handshake failure and
  // crash loop of the rollout under it.
  EXPECT_EQ(o.find("dapr.root_cert_expired"), nullptr) << "the \"has expired\" line opened a second incident";
  const IncidentSnapshot* root = warning;
  EXPECT_TRUE(root->open);
  EXPECT_EQ(root->klass, "cert_expired");
  EXPECT_EQ(root->certificate, "dapr.trust_bundle");
  EXPECT_GT(root->count, 720u);  // the warnings and the "has expired" lines
  EXPECT_EQ(lifecycle.size(), 3u) << ::testing::PrintToString(lifecycle);  // never resolved
  EXPECT_TRUE(root->caused_by.empty());
  const Nanos rollout = *parse_instant("2023-06-19T13:00:00Z");
  std::size_t under = 0, crashloops = 0, folded = 0;
  for (const auto& i : o.incidents) {
    if (i.first_seen < rollout || &i == root) continue;
    EXPECT_EQ(i.caused_by, root->id) << i.rule << " " << i.klass << " is not under the root";
    ++under;
    crashloops += i.klass == "crashloop";
    // The 40 sidecars state the expired root's instant: one incident of that cause, all pods.
    if (i.rule == "dapr.workload_cert_expired") {
      ++folded;
      EXPECT_EQ(i.pods.size(), 40u);
      EXPECT_EQ(i.summary, "certificate that expired at 2023-06-16T12:31:17Z: 40 pods");
    }
  }
  EXPECT_EQ(folded, 1u) << o.canonical();
  EXPECT_GE(crashloops, 1u);
  EXPECT_EQ(root->symptoms, under);
  EXPECT_EQ(root->symptom_pods.size(), 40u);
  // The operator's lost API connection on June 1st is its own, earlier story.
  std::size_t lost = 0;
  for (const auto& i : o.incidents) {
    if (i.klass == "connection_lost") {
      ++lost;
      EXPECT_TRUE(i.caused_by.empty());
    }
  }
  EXPECT_GE(lost, 1u) << "the lost connection is in the log";
}

TEST(LinkerdTimeline, OneRootNamesTheSevenPods) {
  const Outcome o = replay(read_archive("linkerd-trust-anchor-rotation.log.gz"), 1 << 20);
  std::vector<const IncidentSnapshot*> roots;
  for (const auto& i : o.incidents)
    if (i.caused_by.empty()) roots.push_back(&i);
  ASSERT_EQ(roots.size(), 1u) << o.canonical();
  const IncidentSnapshot& root = *roots[0];
  EXPECT_EQ(root.klass, "cert_bad_signature");
  EXPECT_EQ(root.pods.size(), 7u);
  std::size_t expired = 0;
  for (const auto& i : o.incidents)
    if (&i != &root) {
      EXPECT_EQ(i.caused_by, root.id);
      expired += i.klass == "cert_expired";
    }
  EXPECT_GE(expired, 1u);
  EXPECT_EQ(root.symptom_pods.size(), 7u);
}

// A consumer (a webhook, Alertmanager, a script reading jsonl) hears of an incident first by
// its `opened`: no update, escalation or resolution may name an id it has not been told of.
TEST(Timelines, EveryIncidentIsOpenedBeforeAnythingElseIsSaidOfIt) {
  for (const char* name : {"dapr-root-cert-expiry.log.gz", "linkerd-trust-anchor-rotation.log.gz"}) {
    const Outcome o = replay(read_archive(name), 1 << 20);
    std::set<std::string> opened;
    ASSERT_FALSE(o.events.empty()) << name;
    for (const IncidentEvent& e : o.events) {
      if (e.kind == IncidentEvent::Kind::opened) {
        EXPECT_TRUE(opened.insert(e.incident.id).second) << name << ": opened twice: " << e.incident.id;
      } else {
        EXPECT_TRUE(opened.count(e.incident.id)) << name << ": " << to_string(e.kind) << " before opened: "
                                                 << e.incident.id << " (" << e.incident.rule << ")";
      }
    }
    EXPECT_FALSE(opened.empty());
  }
}

TEST(Timelines, SameIncidentsWhateverTheChunkingOrInterleaving) {
  for (const char* name : {"dapr-root-cert-expiry.log.gz", "linkerd-trust-anchor-rotation.log.gz"}) {
    const std::string text = read_archive(name);
    const std::string want = replay(text, text.size()).canonical();
    EXPECT_EQ(replay(text, 4096).canonical(), want) << name << " in 4 KiB pieces";
    for (unsigned seed = 1; seed <= 4; ++seed) {
      const std::string mixed = interleave(text, seed);
      ASSERT_NE(mixed, text);
      EXPECT_EQ(replay(mixed, 1 << 16).canonical(), want) << name << " interleaved, seed " << seed;
    }
  }
}

}  // namespace
}  // namespace klaxon
