#include "engine/incident_tracker.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <limits>
#include <map>
#include <queue>
#include <set>
#include <unordered_set>

#include <fmt/format.h>

#include "engine/certificate_terms.hpp"
#include "engine/stream_classifier.hpp"

namespace klaxon {
namespace {

constexpr Nanos kNever = std::numeric_limits<Nanos>::max();

// Keys of inventoried certificates (certificate_read): the source after a byte no rule id or
// certificate name starts with.
constexpr char kInventoryMark = '\x1d';
// Keys of predicted failures (failure_predicted), likewise.
constexpr char kPredictionMark = '\x1c';

bool name_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

// The names a line says, lower case: its dotted words (host names, `identity.linkerd.cluster.local`,
// the trust domain of `spiffe://cluster.local/ns/...`), and the trust domain of a Linkerd
// workload identity (`web.emojivoto.serviceaccount.identity.linkerd.cluster.local`). Bounded:
// the first 64 in the line's first 4 KiB.
std::vector<std::string> names_in(std::string_view text) {
  std::vector<std::string> out;
  text = text.substr(0, 4096);
  for (std::size_t at = 0; at < text.size() && out.size() < 64;) {
    while (at < text.size() && !name_byte(text[at])) ++at;
    std::size_t end = at;
    while (end < text.size() && name_byte(text[end])) ++end;
    std::string word(text.substr(at, end - at));
    at = end;
    while (!word.empty() && word.back() == '.') word.pop_back();
    if (word.find('.') == std::string::npos) continue;
    for (char& c : word) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (const auto td = word.find("identity.linkerd."); td != std::string::npos && (td == 0 || word[td - 1] == '.'))
      out.push_back(word.substr(td + 17));
    out.push_back(std::move(word));
  }
  return out;
}

bool any_named(const std::vector<std::string>& names, const std::vector<std::string>& said) {
  for (const std::string& n : names)
    if (!n.empty() && std::find(said.begin(), said.end(), n) != said.end()) return true;
  return false;
}

// How far a stated expiry may move without being a new certificate. An instant the line states
// is exact; one derived from "expires in 2 days and 15 hours" is a lower bound that each hourly
// warning tightens (Dapr truncates to hours, others to days), while a renewal moves it by weeks.
Nanos imprecision(const RuleSpec& r) {
  return cert::states_end_instant(r) ? 60 * kNanosPerSecond : 86400 * kNanosPerSecond;
}

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Two label sets describe the same scope when no label present in both differs.
bool same_scope(const Labels& a, const Labels& b, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    const std::string* va = find_label(a, name);
    const std::string* vb = find_label(b, name);
    if (va != nullptr && vb != nullptr && *va != *vb) return false;
  }
  return true;
}

const std::string* annotation(const RuleSpec& r, std::string_view name) {
  for (const auto& [k, v] : r.annotations)
    if (k == name) return &v;
  return nullptr;
}

// `critical: 'expires_in < 7d'` in a rule states its own threshold.
Nanos threshold_of(const RuleSpec& r, Nanos fallback) {
  return cert::expiry_threshold(r, Severity::critical).value_or(fallback);
}

}  // namespace

std::string_view to_string(IncidentEvent::Kind k) noexcept {
  switch (k) {
    case IncidentEvent::Kind::opened: return "opened";
    case IncidentEvent::Kind::updated: return "updated";
    case IncidentEvent::Kind::escalated: return "escalated";
    case IncidentEvent::Kind::resolved: return "resolved";
  }
  return "updated";
}

struct IncidentTracker::Impl {
  struct Incident {
    IncidentSnapshot s;
    const RuleSpec* rule = nullptr;
    std::string key;
    bool pending = false;            // below min_count
    std::deque<Nanos> window;        // match times within the rule's window, while pending
    Nanos last_update = 0;           // event time of the last emitted open/update event
    bool dirty = false;              // changed since the last emitted event
    Nanos threshold = 0;             // expiry threshold for this rule
    bool certificate = false;        // lifecycle: certificate
    bool expired = false;            // a certificate past its instant (or seen expired)
    Nanos class_since = 0;           // when it took its class: a certificate's warnings came long before
    unsigned generation = 1;         // the n-th incident of this key (a resolved one reopened)
    Nanos scheduled = kNever;        // its entry in the deadline heap
    std::set<std::string> children;  // for a root: ids of the symptoms under it
    std::set<std::string> pods;      // for a root: pods of those symptoms
    std::list<std::string>::iterator lru;
  };
  struct Cert {
    IncidentTracker::Certificate c;
    const RuleSpec* rule = nullptr;
    Nanos threshold = 0;
    Nanos imprecision = 0;
    Nanos said_at = 0;  // the own time of the line whose statement `c.expires_at` holds
    Nanos scheduled = kNever;
    std::list<std::string>::iterator lru;
  };
  // The earliest instant at which an incident (or a certificate of the inventory) may change
  // on the clock alone. An entry is a hint: when it comes due, the state decides, and the
  // holder is scheduled again. Entries of erased or rescheduled holders are skipped.
  struct Deadline {
    Nanos at;
    bool certificate;  // an inventory entry rather than an incident
    std::string key;
    bool operator>(const Deadline& o) const { return at != o.at ? at > o.at : key > o.key; }
  };

  const std::vector<RuleSpec>& rules;
  std::vector<CorrelationSpec> correlations;
  TrackerOptions options;
  TrackerStats stats;
  Nanos latest = 0;
  Nanos watermark = 0;
  bool ending = false;  // finish(): the clock reached the end of the replay
  std::function<Nanos()> wall_clock;  // live mode only

  std::unordered_map<std::string, std::unique_ptr<Incident>> incidents;  // by key
  std::unordered_map<std::string, Incident*> by_id;
  // Ordered by id (unique, as by_id's keys are), not by address: which root adopts a symptom
  // first, and so the order of events, must not depend on where the heap put an incident.
  struct ById {
    bool operator()(const Incident* a, const Incident* b) const { return a->s.id < b->s.id; }
  };
  std::unordered_map<std::string, std::set<Incident*, ById>> by_rule;  // rule id → its incidents
  std::unordered_map<std::string, const RuleSpec*> rule_by_id;
  std::unordered_map<std::string, std::vector<std::string>> rules_of_certificate;  // name → rule ids
  std::list<std::string> lru;  // keys, most recently touched first
  std::unordered_map<std::string, Cert> certs;  // by identity key (the incident's key)
  std::list<std::string> cert_lru;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines;
  // The certificate inventory: one entry per source, by key (kInventoryMark + source), and the
  // keys by not_after second for the join with lines.
  struct Kept {
    InventoryCertificate c;
    Nanos read_at = 0;
    Nanos scheduled = kNever;
  };
  std::map<std::string, Kept> kept;
  std::map<std::int64_t, std::set<std::string>> kept_by_end;
  RuleSpec inventory_rule;  // what inventory incidents are filed under
  // Predicted failures by key (kPredictionMark + PredictedFailure::key), while they hold.
  struct Predicted {
    PredictedFailure p;
    Nanos read_at = 0;
  };
  std::map<std::string, Predicted> predicted;
  RuleSpec prediction_rule;
  // Keys of inventory and prediction incidents opened, for the join by name (closed ones are
  // dropped as they are met).
  std::set<std::string> nameable;

  // A symptom rule → the labels its folded incident keeps (see fold_by_cause).
  std::unordered_map<std::string, std::vector<std::string>> fold_scope;

  Impl(const std::vector<RuleSpec>& r, std::vector<CorrelationSpec> c, TrackerOptions o)
      : rules(r), correlations(std::move(c)), options(o) {
    for (const RuleSpec& rule : rules) {
      rule_by_id[rule.id] = &rule;
      if (rule.lifecycle == Lifecycle::certificate) rules_of_certificate[rule.certificate].push_back(rule.id);
    }
    inventory_rule.id = "certificate.inventory";
    inventory_rule.klass = cert::kExpiringSoon;
    inventory_rule.title = "Certificate expires soon";
    inventory_rule.lifecycle = Lifecycle::certificate;
    inventory_rule.group_by.clear();
    prediction_rule = inventory_rule;
    prediction_rule.id = "certificate.trust_check";
    prediction_rule.klass = cert::kBadSignature;
    prediction_rule.title = "Predicted bad signature";
    for (const CorrelationSpec& corr : correlations)
      for (const std::string& symptom : corr.symptoms) {
        std::vector<std::string>& scope = fold_scope[symptom];
        for (const std::string& name : corr.same) scope.push_back(name);
        scope.insert(scope.end(), {"cluster", "namespace"});
      }
  }

  // Symptoms that state their cause (the certificate that expired at T, its issuer, trust
  // domain or CA) fold into one incident across pods: on an app node, whose klaxon never sees
  // the sentry, forty sidecars failing on one expired root are one incident, not forty pages.
  // Its group keeps the labels of the scope a root would explain it in (the correlations'
  // `same`, cluster, namespace), plus the stated cause; a root that opens later adopts it as
  // any symptom. Returns false (labels untouched) for a line that states no cause.
  bool fold_by_cause(const ClassifiedLine& line, const RuleSpec& r, Labels& labels) const {
    auto scope = fold_scope.find(r.id);
    if (scope == fold_scope.end() || r.lifecycle != Lifecycle::stream) return false;
    Labels folded;
    for (const auto& kv : labels)
      if (std::find(scope->second.begin(), scope->second.end(), kv.first) != scope->second.end()) folded.push_back(kv);
    bool stated = false;
    for (std::string_view cause : cert::kFoldCauses) {
      const Value* v = line.primary.find(cause);
      if (v && v->kind == Value::Kind::instant) folded.emplace_back(cause, format_rfc3339(v->integer));
      else if (v && v->kind == Value::Kind::text && !v->text.empty()) folded.emplace_back(cause, std::string(v->text.substr(0, 256)));
      else continue;
      stated = true;
    }
    if (stated) labels = std::move(folded);
    return stated;
  }

  static void say_folded(IncidentSnapshot& s) {
    std::string cause;
    for (const auto& [k, v] : s.labels)
      if (k == cert::kExpiredAt) cause = "certificate that expired at " + v;
      else if (cert::is_signer_value(k) && cause.empty()) cause = "certificate of " + k + " " + v;
    s.summary = fmt::format("{}: {} pod{}", cause, s.pods.size(), s.pods.size() == 1 ? "" : "s");
  }

  IncidentEvent event(IncidentEvent::Kind kind, Nanos time, const Incident& i) { return {kind, time, i.s}; }

  void touch(Incident& i) { lru.splice(lru.begin(), lru, i.lru); }

  // Keeps within max_incidents, dropping the least recently touched (resolved or not).
  void evict_if_full() {
    while (incidents.size() > options.max_incidents && !lru.empty()) {
      const Incident& oldest = *incidents.at(lru.back());
      if (oldest.s.open && !oldest.pending) ++stats.evicted;
      erase(oldest.key);
    }
  }

  // The rule ids an incident is filed under: its rule, or every rule of its certificate.
  const std::vector<std::string>* certificate_rules(const Incident& i) {
    if (!i.certificate) return nullptr;
    auto it = rules_of_certificate.find(i.s.certificate);
    return it == rules_of_certificate.end() ? nullptr : &it->second;
  }

  void erase(const std::string& key) {
    auto it = incidents.find(key);
    if (it == incidents.end()) return;
    Incident& i = *it->second;
    unlink(i);
    by_id.erase(i.s.id);
    by_rule[i.s.rule].erase(&i);
    if (const auto* ids = certificate_rules(i))
      for (const std::string& id : *ids) by_rule[id].erase(&i);
    lru.erase(i.lru);
    incidents.erase(it);
  }

  void unlink(Incident& i) {
    if (i.s.caused_by.empty()) return;
    if (auto root = by_id.find(i.s.caused_by); root != by_id.end()) {
      root->second->children.erase(i.s.id);
      root->second->s.symptoms = root->second->children.size();
    }
  }

  Labels group_labels(const ClassifiedLine& line, const RuleSpec& r) {
    Labels labels;
    for (const std::string& name : r.group_by) {
      bool found = false;
      std::string_view v = line.record.get(name, &found);
      if (found && !v.empty()) labels.emplace_back(name, std::string(v));
    }
    return labels;
  }

  static std::string key_of(const RuleSpec& r, const Labels& labels) {
    // A certificate's key is its name, never the rule's: every rule about it finds the same
    // incident. (The leading byte keeps a name from meeting a rule id.)
    std::string key = r.lifecycle == Lifecycle::certificate ? "\x1e" + r.certificate : r.id;
    for (const auto& [k, v] : labels) key += "\x1f" + k + "=" + v;
    return key;
  }

  // Stable: the same group gives the same id in every run; a group that resolved and came back
  // gets `-2`, `-3`... (as long as the resolved incident is still held).
  static std::string id_of(const std::string& key, unsigned generation) {
    std::string id = fmt::format("{:016x}", fnv1a(key));
    return generation == 1 ? id : fmt::format("{}-{}", id, generation);
  }

  Incident& create(const std::string& key, const RuleSpec& r, Labels labels, Nanos t, unsigned generation = 1) {
    auto inc = std::make_unique<Incident>();
    Incident& i = *inc;
    i.rule = &r;
    i.key = key;
    i.generation = generation;
    i.s.id = id_of(key, generation);
    i.s.rule = r.id;
    i.s.klass = r.klass;
    i.s.title = r.title;
    if (const std::string* rb = annotation(r, "runbook")) i.s.runbook = *rb;
    i.s.labels = std::move(labels);
    i.s.first_seen = i.s.last_seen = t;
    i.class_since = t;
    i.threshold = threshold_of(r, options.expiry_threshold);
    i.certificate = r.lifecycle == Lifecycle::certificate;
    if (i.certificate) i.s.certificate = r.certificate;
    lru.push_front(key);
    i.lru = lru.begin();
    by_id[i.s.id] = &i;
    by_rule[r.id].insert(&i);
    if (const auto* ids = certificate_rules(i))
      for (const std::string& id : *ids) by_rule[id].insert(&i);
    incidents[key] = std::move(inc);
    return i;
  }

  void add_sample(Incident& i, std::string_view line) {
    line = line.substr(0, 2048);
    // The latest sample is overwritten in place: no allocation per line once it has room.
    if (i.s.samples.size() < options.max_samples) i.s.samples.emplace_back(line);
    else i.s.samples.back().assign(line);
  }

  void add_pod(Incident& i, const ClassifiedLine& line) {
    std::string_view pod = line.record.get("pod");
    if (pod.empty()) pod = line.record.get("instance");
    if (pod.empty() || i.s.pods.size() >= options.max_symptom_pods) return;
    if (std::find(i.s.pods.begin(), i.s.pods.end(), pod) == i.s.pods.end()) i.s.pods.emplace_back(pod);
  }

  // ---- correlation -------------------------------------------------------------------------

  // A certificate is a root from when it took the root's class (it expired), not from its
  // first warning a month before: what failed in between has other causes.
  bool within(const CorrelationSpec& c, const Incident& root, const Incident& symptom) {
    const Nanos w = c.within_seconds * kNanosPerSecond;
    const Nanos from = root.certificate ? root.class_since : root.s.first_seen;
    return symptom.s.first_seen >= from - w && symptom.s.first_seen <= std::max(root.s.last_seen, from) + w;
  }

  // Whether an incident stands for `rule_id` as a correlation's root. A certificate's incident
  // stands for each rule of its certificate whose class it has reached: the expiry warning
  // becomes the "root certificate expired" root when the certificate expires.
  bool plays(const Incident& i, const std::string& rule_id) {
    if (!i.certificate) return i.s.rule == rule_id;
    auto r = rule_by_id.find(rule_id);
    return r != rule_by_id.end() && r->second->lifecycle == Lifecycle::certificate &&
           r->second->certificate == i.s.certificate && r->second->klass == i.s.klass;
  }

  void adopt(Incident& root, Incident& symptom, Nanos t, std::vector<IncidentEvent>& out) {
    symptom.s.caused_by = root.s.id;
    ++stats.inhibited;
    root.children.insert(symptom.s.id);
    root.s.symptoms = root.children.size();
    count_symptom_pods(root, symptom);
    if (!symptom.pending) out.push_back(event(IncidentEvent::Kind::updated, t, symptom));
  }

  void count_symptom_pods(Incident& root, const Incident& symptom) {
    const std::size_t before = root.pods.size();
    for (const std::string& pod : symptom.s.pods)
      if (root.pods.size() < options.max_symptom_pods) root.pods.insert(pod);
    if (root.pods.size() != before) root.s.symptom_pods.assign(root.pods.begin(), root.pods.end());
  }

  // Among several open roots that could explain a symptom, the one sharing more of its labels
  // wins (the same pod over the same cluster), then the smaller id: a choice that does not
  // depend on which arrived first, so a replay gives the same tree as the live run.
  static int shared_labels(const Incident& root, const Incident& symptom) {
    int n = 0;
    for (const auto& kv : symptom.s.labels)
      n += std::find(root.s.labels.begin(), root.s.labels.end(), kv) != root.s.labels.end();
    return n;
  }
  static bool better_root(const Incident& candidate, const Incident* current, const Incident& symptom) {
    if (current == nullptr) return true;
    const int a = shared_labels(candidate, symptom), b = shared_labels(*current, symptom);
    return a != b ? a > b : candidate.s.id < current->s.id;
  }

  bool can_explain(const CorrelationSpec& c, const Incident& root, const Incident& symptom) {
    return root.s.open && !root.pending && &root != &symptom && plays(root, c.root) &&
           same_scope(root.s.labels, symptom.s.labels, c.same) && within(c, root, symptom);
  }

  Incident* current_root(const Incident& symptom) {
    if (symptom.s.caused_by.empty()) return nullptr;
    auto it = by_id.find(symptom.s.caused_by);
    return it == by_id.end() ? nullptr : it->second;
  }

  // Moves `symptom` under `root`, out from under the root it had.
  void reparent(Incident& root, Incident& symptom, Nanos t, std::vector<IncidentEvent>& out) {
    if (Incident* old = current_root(symptom)) {
      old->children.erase(symptom.s.id);
      old->s.symptoms = old->children.size();
      old->pods.clear();
      for (const std::string& id : old->children)
        if (auto c = by_id.find(id); c != by_id.end()) count_symptom_pods(*old, *c->second);
      old->s.symptom_pods.assign(old->pods.begin(), old->pods.end());
      --stats.inhibited;
    }
    adopt(root, symptom, t, out);
  }

  // A symptom looks for the best open root in its scope.
  void find_root(Incident& symptom, Nanos t, std::vector<IncidentEvent>& out) {
    if (!symptom.s.caused_by.empty()) return;
    Incident* best = nullptr;
    for (const CorrelationSpec& c : correlations) {
      if (std::find(c.symptoms.begin(), c.symptoms.end(), symptom.s.rule) == c.symptoms.end()) continue;
      for (Incident* root : by_rule[c.root])
        if (can_explain(c, *root, symptom) && better_root(*root, best, symptom)) best = root;
    }
    if (best) adopt(*best, symptom, t, out);
  }

  // A root that opens (or a certificate that becomes one) adopts the symptoms that came before
  // it, and those it explains better than the root they had.
  void adopt_earlier_symptoms(Incident& root, Nanos t, std::vector<IncidentEvent>& out) {
    const std::uint64_t before = root.s.symptoms;
    for (const CorrelationSpec& c : correlations) {
      if (!plays(root, c.root)) continue;
      for (const std::string& symptom_rule : c.symptoms)
        for (Incident* s : by_rule[symptom_rule]) {
          if (!can_explain(c, root, *s)) continue;
          Incident* current = current_root(*s);
          if (current == &root || !better_root(root, current, *s)) continue;
          reparent(root, *s, t, out);
        }
    }
    if (root.s.symptoms > before) out.push_back(event(IncidentEvent::Kind::updated, t, root));
  }

  void open(Incident& i, Nanos t, std::vector<IncidentEvent>& out) {
    i.pending = false;
    i.window.clear();
    i.last_update = t;
    i.dirty = false;
    ++stats.opened;
    const std::size_t mark = out.size();
    find_root(i, t, out);
    // Being adopted says `updated` for the symptom; its `opened` carries caused_by already, and
    // an update before the opening would name an incident no consumer has heard of yet.
    out.erase(std::remove_if(out.begin() + std::ptrdiff_t(mark), out.end(),
                             [&](const IncidentEvent& e) { return e.incident.id == i.s.id; }),
              out.end());
    out.push_back(event(IncidentEvent::Kind::opened, t, i));
    adopt_earlier_symptoms(i, t, out);
    schedule(i);
  }

  void resolve(Incident& i, Nanos t, const char* why, std::vector<IncidentEvent>& out) {
    if (!i.s.open) return;
    i.s.open = false;
    i.s.resolved_because = why;
    if (i.pending) return;
    ++stats.resolved;
    out.push_back(event(IncidentEvent::Kind::resolved, t, i));
  }

  // A certificate's incident ends only here: a line showed the certificate renewed.
  void renewed(Incident& i, const ClassifiedLine& by, Nanos t, std::string what, std::vector<IncidentEvent>& out) {
    if (!i.s.open) return;
    i.s.resolved_by = fmt::format("{}:{}", by.source, by.line_no);
    i.s.summary = fmt::format("renewed: {} {}", i.s.resolved_by, what);
    resolve(i, t, "renewed", out);
  }

  void escalate(Incident& i, Nanos t, std::vector<IncidentEvent>& out) {
    ++stats.escalated;
    i.last_update = t;
    i.dirty = false;
    out.push_back(event(IncidentEvent::Kind::escalated, t, i));
    schedule(i);
  }

  // ---- lines -------------------------------------------------------------------------------

  // The time a line may claim (TrackerOptions::max_clock_skew), and whether it may move the
  // clock. A line stamped in 2100 counts at the clock's time (live, the wall clock's) and moves
  // no clock.
  static bool close(Nanos a, Nanos b, Nanos skew) { return a <= sat_add(b, skew) && b <= sat_add(a, skew); }
  struct Claim {
    Nanos time;
    bool moves_clock;
  };
  // What the line claims, decided once per line (advance_to() and observe() both ask).
  Claim claim_of(const ClassifiedLine& line) {
    if (claimed != &line) {
      claim = bounded(line.record);
      claimed = &line;
    }
    return claim;
  }
  const ClassifiedLine* claimed = nullptr;
  Claim claim{0, false};

  Claim bounded(const Record& record) {
    const Nanos skew = options.max_clock_skew;
    Nanos t = record.time;
    const Nanos envelope = record.envelope_time;
    if (envelope != 0 && !close(t, envelope, skew)) {
      ++stats.skewed_lines;
      t = envelope;
    }
    if (wall_clock) {
      const Nanos now = wall_clock();
      if (t <= sat_add(now, skew)) return {t, true};
      ++stats.future_lines;
      return {now, true};
    }
    // A replay: logs written before now; a line claiming the wall clock's future counts at the
    // replay's clock and moves nothing. (A quiet night, then one line, is a real jump.)
    if (t <= sat_add(wall_now(), skew)) return {t, true};
    ++stats.future_lines;
    return {latest != 0 ? latest : wall_now(), false};
  }

  void observe(const ClassifiedLine& line, std::vector<IncidentEvent>& out) {
    const RuleSpec& r = line.rule;
    const auto [t, moves_clock] = claim_of(line);
    claimed = nullptr;
    stats.refused_values += line.primary.refused;
    if (t < watermark) ++stats.late_lines;
    if (moves_clock) latest = std::max(latest, t);
    // The clock first: what happened before this line (an expiry threshold passed, a quiet
    // period ended) is decided before the line is folded in.
    watermark = std::max(watermark, latest - options.allowed_lateness);
    run_deadlines(out);

    if (const std::string* key = joined(line)) {
      observe_joined(line, *key, t, out);
      return;
    }
    if (Incident* named = joined_by_name(line)) {
      observe_named(line, *named, t, out);
      return;
    }
    Labels labels = group_labels(line, r);
    for (const std::string& target : r.resolves) resolve_renewed(target, labels, line, t, out);
    if (r.lifecycle == Lifecycle::certificate) {
      observe_certificate(line, r, std::move(labels), t, out);
      return;
    }

    const bool folded = fold_by_cause(line, r, labels);
    const std::string key = key_of(r, labels);
    auto it = incidents.find(key);
    Incident* i = it == incidents.end() ? nullptr : it->second.get();
    unsigned generation = 1;
    if (i && !i->s.open) {  // resolved earlier: this is a new incident of the same group
      generation = i->generation + 1;
      erase(key);
      i = nullptr;
    }
    const bool fresh = i == nullptr;
    if (fresh) {
      i = &create(key, r, std::move(labels), t, generation);
      i->pending = r.min_count > 1;
    } else {
      touch(*i);
    }
    const Severity before = fold(*i, line, t, fresh);
    if (folded) say_folded(i->s);
    if (const Value* at = line.primary.find(cert::kExpiresAt); at && at->kind == Value::Kind::instant)
      i->s.expires_at = std::max(i->s.expires_at, at->integer);
    else if (const Value* ex = line.primary.find(cert::kExpiredAt); ex && ex->kind == Value::Kind::instant)
      i->s.expires_at = ex->integer;

    if (i->pending) {
      const Nanos window = r.within_seconds * kNanosPerSecond;
      i->window.push_back(t);
      std::sort(i->window.begin(), i->window.end());
      while (!i->window.empty() && i->window.front() < i->window.back() - window) i->window.pop_front();
      while (i->window.size() > std::size_t(r.min_count)) i->window.pop_front();
      if (i->window.size() >= std::size_t(r.min_count)) {
        i->s.first_seen = i->window.front();
        i->s.count = i->window.size();
        open(*i, t, out);
      } else {
        schedule(*i);
      }
    } else if (fresh) {
      open(*i, t, out);
    } else if (i->s.severity > before) {
      escalate(*i, t, out);
    } else {
      note_change(*i, t, out);
    }
    evict_if_full();
  }

  // Counts a line into an incident; returns the severity it had before.
  Severity fold(Incident& i, const ClassifiedLine& line, Nanos t, bool fresh) {
    i.s.count += 1;
    i.s.first_seen = std::min(i.s.first_seen, t);
    i.s.last_seen = std::max(i.s.last_seen, t);
    add_sample(i, line.record.line);
    add_pod(i, line);
    if (!i.s.caused_by.empty())
      if (auto root = by_id.find(i.s.caused_by); root != by_id.end()) count_symptom_pods(*root->second, i);
    const Severity before = i.s.severity;
    if (fresh || line.primary.severity > i.s.severity) i.s.severity = line.primary.severity;
    // The summary is rendered when an event may carry it, not for every line folded in.
    const bool may_emit = fresh || i.pending || line.primary.severity > before || t - i.last_update >= options.update_interval;
    if (may_emit)
      if (const std::string* summary = annotation(line.rule, "summary")) i.s.summary = render_template(*summary, line.primary);
    return before;
  }

  void note_change(Incident& i, Nanos t, std::vector<IncidentEvent>& out) {
    i.dirty = true;
    if (t - i.last_update >= options.update_interval) emit_update(i, t, out);
    else schedule(i);
  }

  void emit_update(Incident& i, Nanos t, std::vector<IncidentEvent>& out) {
    i.last_update = t;
    i.dirty = false;
    out.push_back(event(IncidentEvent::Kind::updated, t, i));
  }

  void resolve_renewed(const std::string& rule_id, const Labels& labels, const ClassifiedLine& line, Nanos t,
                       std::vector<IncidentEvent>& out) {
    std::vector<Incident*> renewed_certificates;
    for (Incident* i : by_rule[rule_id]) {
      if (!i->s.open) continue;
      std::vector<std::string> names;
      for (const auto& kv : i->s.labels) names.push_back(kv.first);
      if (!same_scope(i->s.labels, labels, names)) continue;
      if (i->certificate) renewed_certificates.push_back(i);
      else resolve(*i, t, "renewed", out);
    }
    for (Incident* i : renewed_certificates) {
      // The expiry it had is no longer the certificate's; the next statement gives the new one.
      forget_certificate(i->key);
      renewed(*i, line, t, fmt::format("says the certificate was renewed ({})", line.rule.id), out);
    }
  }

  // ---- certificates ------------------------------------------------------------------------

  // A line about one certificate: it may state its expiry (a warning, a validity line), or
  // observe its state (the emitter's own "has expired"). Either way it speaks of the incident
  // of that certificate, whichever pod printed it.
  void observe_certificate(const ClassifiedLine& line, const RuleSpec& r, Labels labels, Nanos t,
                           std::vector<IncidentEvent>& out) {
    const std::string key = key_of(r, labels);
    const Value* at = line.primary.find(cert::kExpiresAt);
    if (at && at->kind != Value::Kind::instant) at = nullptr;
    const Value* ex = line.primary.find(cert::kExpiredAt);
    if (ex && ex->kind != Value::Kind::instant) ex = nullptr;

    Incident* i = nullptr;
    unsigned generation = 1;
    if (auto it = incidents.find(key); it != incidents.end()) {
      if (it->second->s.open) i = it->second.get();
      else generation = it->second->generation + 1;
    }
    // "Expires in 5 hours" on a line whose own time was not believed counts from the time it
    // was taken at.
    Nanos stated = at ? at->integer : 0;
    Nanos said_at = line.record.time != 0 ? line.record.time : t;  // what "expires in" counts from
    if (at && t != line.record.time && imprecision(r) > 60 * kNanosPerSecond) {
      stated += t - line.record.time;
      said_at = t;
    }
    if (at) {
      const auto held = certs.find(key);
      const bool older = held != certs.end() && says_older(held->second, said_at);
      Cert& c = remember(key, r, labels, line, stated, t, said_at);
      if (i && !older && i->s.expires_at != 0 &&
          stated > i->s.expires_at + std::max(c.imprecision, imprecision(*i->rule))) {
        renewed(*i, line, t, fmt::format("states a later expiry, {}", format_rfc3339(stated)), out);
        i = nullptr;
        generation = incidents.at(key)->generation + 1;
      }
    }
    // A healthy line (severity info) about a certificate with no incident only updates the
    // inventory: the clock opens the incident when the expiry comes within the threshold.
    if (!i && line.primary.severity <= Severity::info) return;

    const bool fresh = i == nullptr;
    if (fresh) {
      erase(key);
      i = &create(key, r, std::move(labels), t, generation);
    } else {
      touch(*i);
    }
    const Severity before = fold(*i, line, t, fresh);
    const std::string klass_before = i->s.klass;
    if (at) {
      // A lower bound ("expires in 2 days and 15 hours") is tightened by each warning; an
      // earlier or exact statement is taken as it is.
      const Cert& c = certs.at(key);
      i->s.expires_at = c.c.expires_at;
      i->threshold = c.threshold;
      if (i->s.expires_at > t && !i->expired && i->s.klass != cert::kExpiringSoon) {
        i->s.klass = cert::kExpiringSoon;
        i->class_since = t;
      }
    } else {
      // The emitter observed the certificate's state: its class says which (it has expired).
      if (ex && (i->s.expires_at == 0 || ex->integer < i->s.expires_at)) i->s.expires_at = ex->integer;
      if (fresh || class_rank(r.klass) < class_rank(i->s.klass)) {
        // The emitter's own words: its title and runbook now fit best.
        i->s.klass = r.klass;
        i->s.title = r.title;
        if (const std::string* rb = annotation(r, "runbook")) i->s.runbook = *rb;
        i->class_since = t;
        i->expired = i->expired || class_rank(r.klass) == 0;  // the most specific class: cert_expired
      }
      i->s.severity = std::max(i->s.severity, line.primary.severity);
    }
    if (fresh) {
      open(*i, t, out);
    } else if (i->s.severity > before || i->s.klass != klass_before) {
      escalate(*i, t, out);
      if (i->s.klass != klass_before) adopt_earlier_symptoms(*i, t, out);
    } else {
      note_change(*i, t, out);
    }
    evict_if_full();
  }

  // Records a stated expiry in the inventory; returns the entry.
  // Lines about one certificate can arrive out of their order: one payload in two envelopes, a
  // replay of pods whose logs interleave. A statement said well before the one held does not
  // overwrite it: otherwise a stale "expires in 2 days" read after a fresh one would move the
  // expiry back and forth, expiring and "renewing" the certificate each time.
  static bool says_older(const Cert& c, Nanos said_at) {
    constexpr Nanos kOutOfOrder = 5 * 60 * kNanosPerSecond;  // clocks of two pods may differ this much
    return said_at + kOutOfOrder < c.said_at;
  }

  Cert& remember(const std::string& key, const RuleSpec& r, const Labels& labels, const ClassifiedLine& line,
                 Nanos expires_at, Nanos t, Nanos said_at) {
    auto [it, fresh] = certs.try_emplace(key);
    Cert& c = it->second;
    if (fresh) {
      cert_lru.push_front(key);
      c.lru = cert_lru.begin();
    } else {
      cert_lru.splice(cert_lru.begin(), cert_lru, c.lru);
    }
    const Nanos slack = std::max(c.imprecision, imprecision(r));
    const Nanos known = c.c.expires_at;
    if (!fresh && says_older(c, said_at)) return c;
    c.said_at = said_at;
    // Within the slack of what is known, a lower bound only tightens it (and never loosens an
    // exact statement); further off, the new statement is the certificate's expiry.
    if (fresh || expires_at > known + slack || expires_at < known - slack) c.c.expires_at = expires_at;
    else if (imprecision(r) <= c.imprecision) c.c.expires_at = expires_at;
    else c.c.expires_at = std::max(known, expires_at);
    if (fresh || imprecision(r) <= c.imprecision || c.c.expires_at != known) c.imprecision = imprecision(r);
    c.rule = &r;
    c.threshold = threshold_of(r, options.expiry_threshold);
    c.c.threshold = c.threshold;
    c.c.identity = r.certificate;
    c.c.rule = r.id;
    c.c.labels = labels;
    c.c.stated_at = t;
    c.c.source = fmt::format("{}:{}", line.source, line.line_no);
    c.scheduled = kNever;
    schedule_certificate(key, c);
    while (certs.size() > options.max_certificates) {
      const std::string oldest = cert_lru.back();
      if (oldest == key) break;
      forget_certificate(oldest);
      ++stats.certificates_evicted;
    }
    return c;
  }

  void forget_certificate(const std::string& key) {
    auto it = certs.find(key);
    if (it == certs.end()) return;
    cert_lru.erase(it->second.lru);
    certs.erase(it);
  }

  // The clock brought a remembered expiry within its threshold (or past it, or the retention
  // after it ended).
  void certificate_due(const std::string& key, Cert& c, std::vector<IncidentEvent>& out) {
    if (watermark >= sat_add(c.c.expires_at, options.expiry_retention)) {
      forget_certificate(key);
      return;
    }
    const Nanos open_at = c.c.expires_at - c.threshold;
    if (watermark >= open_at) {
      unsigned generation = 1;
      auto it = incidents.find(key);
      if (it != incidents.end()) {
        // Open, or resolved with this very expiry (a renewal line said so): nothing to say.
        if (it->second->s.open || it->second->s.expires_at == c.c.expires_at) return schedule_certificate(key, c);
        generation = it->second->generation + 1;
      }
      erase(key);
      Incident& i = create(key, *c.rule, c.c.labels, std::max(c.c.stated_at, open_at), generation);
      i.s.klass = cert::kExpiringSoon;
      i.s.severity = Severity::critical;
      i.s.title = "Certificate expires soon: " + c.rule->title;
      i.s.summary = fmt::format("certificate stated by {} expires at {}", c.c.source, format_rfc3339(c.c.expires_at));
      i.s.expires_at = c.c.expires_at;
      i.s.count = 1;
      i.threshold = c.threshold;
      open(i, i.s.first_seen, out);
      evict_if_full();
    }
    schedule_certificate(key, c);
  }

  // ---- the certificate inventory -----------------------------------------------------------

  void certificate_read(const InventoryCertificate& c, Nanos read_at, std::vector<IncidentEvent>& out) {
    const std::string key = kInventoryMark + c.source;
    const Nanos t = std::max(read_at, watermark);
    auto [it, fresh] = kept.try_emplace(key);
    Kept& k = it->second;
    if (!fresh) {
      const InventoryCertificate& old = k.c;
      if (old.serial == c.serial && old.not_after_seconds == c.not_after_seconds && old.subject == c.subject) return;
      unindex(key, old);
      // Replaced. A later certificate ends the old one's incident; an earlier or equal one (a
      // restore from a backup) does not, and the clock judges it as it is.
      if (c.not_after_seconds > old.not_after_seconds)
        if (auto inc = incidents.find(key); inc != incidents.end() && inc->second->s.open) {
          Incident& i = *inc->second;
          i.s.resolved_by = c.source;
          i.s.summary = fmt::format("renewed: {} now holds a later certificate (serial {}, not after {})", c.source,
                                    c.serial, c.not_after_text);
          resolve(i, t, "renewed", out);
        }
    }
    k.c = c;
    k.read_at = read_at;
    k.scheduled = kNever;
    kept_by_end[c.not_after_seconds].insert(key);
    if (auto inc = incidents.find(key); inc != incidents.end() && inc->second->s.open) {
      // Still open: an earlier or equal certificate took the place of the one it was about.
      Incident& i = *inc->second;
      i.s.inventory = c;
      i.s.expires_at = c.not_after;
      schedule(i);
      run_deadlines(out);
    }
    kept_due(key, k, out);
  }

  void certificate_gone(const std::string& source, Nanos read_at, std::vector<IncidentEvent>& out) {
    const std::string key = kInventoryMark + source;
    auto it = kept.find(key);
    if (it == kept.end()) return;
    unindex(key, it->second.c);
    kept.erase(it);
    if (auto inc = incidents.find(key); inc != incidents.end() && inc->second->s.open) {
      Incident& i = *inc->second;
      i.s.resolved_by = source;
      i.s.summary = fmt::format("{} holds no certificate any more (removed)", source);
      resolve(i, std::max(read_at, watermark), "removed", out);
    }
  }

  void unindex(const std::string& key, const InventoryCertificate& c) {
    auto end = kept_by_end.find(c.not_after_seconds);
    if (end == kept_by_end.end()) return;
    end->second.erase(key);
    if (end->second.empty()) kept_by_end.erase(end);
  }

  // The clock reached an inventoried certificate's warning threshold (or the reading found it
  // there): its incident opens, as loud as the clock says. Once open, the incident's own
  // deadlines take it to critical and expired.
  void kept_due(const std::string& key, Kept& k, std::vector<IncidentEvent>& out) {
    // Not valid yet, beyond the clock skew allowed: live only (in a replay, a certificate
    // issued after the logs were written was simply not there yet).
    const Nanos now = std::max(watermark, k.read_at);
    const Nanos valid_from = k.c.not_before - options.max_clock_skew;
    if (k.read_at != 0 && now < valid_from) {
      open_not_yet_valid(key, k, now, out);
      k.scheduled = valid_from;
      push({valid_from, true, key});
      return;
    }
    if (auto it = incidents.find(key); it != incidents.end() && it->second->s.open && it->second->s.klass == cert::kNotYetValid) {
      Incident& i = *it->second;
      i.s.summary = fmt::format("{} is valid from {} on: the clock reached it", k.c.source, format_rfc3339(k.c.not_before));
      resolve(i, std::max(now, valid_from), "valid", out);
    }
    const Nanos open_at = std::max<Nanos>(1, k.c.not_after - options.certificate_warning);
    if (watermark < open_at || watermark == 0) {
      k.scheduled = open_at;
      push({open_at, true, key});
      return;
    }
    unsigned generation = 1;
    if (auto it = incidents.find(key); it != incidents.end()) {
      // Open, or closed with this very certificate (evicted and read again): nothing to say.
      // (A closed not-yet-valid one was about its start, not its end.)
      const IncidentSnapshot& s = it->second->s;
      if (s.open || (s.inventory.serial == k.c.serial && s.klass != cert::kNotYetValid)) return;
      generation = it->second->generation + 1;
    }
    open_kept(key, k, std::max(open_at, k.read_at), generation, out);
  }

  // A certificate whose not_before is ahead of the clock: every handshake that presents it
  // fails now, so it is critical, and the fix starts with the clocks.
  void open_not_yet_valid(const std::string& key, const Kept& k, Nanos t, std::vector<IncidentEvent>& out) {
    unsigned generation = 1;
    if (auto it = incidents.find(key); it != incidents.end()) {
      if (it->second->s.open && it->second->s.klass == cert::kNotYetValid) return;
      if (it->second->s.open) resolve(*it->second, t, "superseded", out);
      generation = it->second->generation + 1;
    }
    erase(key);
    Incident& i = create(key, inventory_rule, k.c.labels, t, generation);
    i.s.inventory = k.c;
    i.s.certificate = k.c.source;
    i.s.klass = cert::kNotYetValid;
    i.s.severity = Severity::critical;
    i.s.count = 0;
    i.s.title = fmt::format("Certificate not valid yet: {}", k.c.source);
    i.s.summary = fmt::format("{} ({}) is valid only from {} on; until then every handshake presenting it fails", k.c.source,
                              k.c.subject, format_rfc3339(k.c.not_before));
    i.s.runbook = fmt::format(
        "check the clocks first: a node or issuer clock that is behind or ahead (chronyc tracking, timedatectl) makes "
        "a fresh certificate look not yet valid; if the clocks agree, the certificate was minted with a future notBefore: "
        "re-issue it (then {})",
        k.c.runbook);
    i.expired = true;  // no expiry deadlines while it is about its start
    nameable.insert(key);
    open(i, t, out);
    evict_if_full();
  }

  Incident& open_kept(const std::string& key, const Kept& k, Nanos t, unsigned generation, std::vector<IncidentEvent>& out,
                      bool announce = true) {
    erase(key);
    Incident& i = create(key, inventory_rule, k.c.labels, t, generation);
    i.s.inventory = k.c;
    i.s.certificate = k.c.source;
    i.s.runbook = k.c.runbook;
    i.s.expires_at = k.c.not_after;
    i.threshold = options.expiry_threshold;
    i.s.count = 0;
    i.s.title = fmt::format("Certificate expires soon: {}", k.c.source);
    i.s.summary = fmt::format("{} ({}) expires at {}", k.c.source, k.c.subject, k.c.not_after_text);
    i.s.severity = watermark >= k.c.not_after - i.threshold ? Severity::critical : Severity::warning;
    if (watermark >= k.c.not_after && watermark != 0) {
      i.expired = true;
      i.s.klass = cert::kExpired;
      i.s.title = fmt::format("Certificate has expired: {}", k.c.source);
      i.s.summary = fmt::format("{} ({}) expired at {}; renew it", k.c.source, k.c.subject, k.c.not_after_text);
      i.class_since = std::max(k.c.not_after, t);
    }
    nameable.insert(key);
    if (announce) open(i, t, out);
    evict_if_full();
    return i;
  }

  // An inventory or prediction incident from --state-dir, under the key its source (or its two
  // objects) gives it, so that the next reading finds it rather than opening another: the same
  // certificate read again says nothing, a later one resolves it (renewed), and the ledger says
  // which sources and predictions are gone (CertificateLedger::expect). An open inventory
  // incident brings its certificate back into the inventory (the join by not_after, the
  // not-yet-valid deadline) until a reading replaces it. False: not such an incident.
  bool restore_inventory(const IncidentTracker::State::HeldIncident& held) {
    const bool prediction = held.s.rule == prediction_rule.id;
    if (!prediction && held.s.rule != inventory_rule.id) return false;
    std::string key;
    if (prediction) {
      std::string bundle;
      for (const auto& [name, value] : held.s.labels)
        if (name == "trust_bundle") bundle = value;
      if (held.s.certificate.empty() || bundle.empty()) return true;  // nothing to key it by: left out
      key = kPredictionMark + held.s.certificate + " " + bundle;
    } else {
      if (held.s.inventory.source.empty()) return true;
      key = kInventoryMark + held.s.inventory.source;
    }
    if (incidents.count(key)) return true;
    Incident& i = create(key, prediction ? prediction_rule : inventory_rule, held.s.labels, held.s.first_seen,
                         std::max(1u, held.generation));
    const std::string id = i.s.id;
    i.s = held.s;
    i.s.id = id;  // the id is the key's, whatever the file says
    i.s.caused_by.clear();
    i.expired = held.expired;
    i.class_since = held.class_since;
    i.last_update = held.last_update;
    i.threshold = options.expiry_threshold;
    if (!i.s.open) return true;
    nameable.insert(key);
    if (!prediction && !kept.contains(key)) {
      Kept& k = kept[key];
      k.c = held.s.inventory;
      k.read_at = held.s.first_seen;
      kept_by_end[k.c.not_after_seconds].insert(key);
      k.scheduled = 1;  // kept_due at the next clock move: it finds the incident open and says nothing
      push({1, true, key});
    }
    schedule(i);
    return true;
  }

  // ---- predicted failures --------------------------------------------------------------------

  void failure_predicted(const PredictedFailure& p, Nanos read_at, std::vector<IncidentEvent>& out) {
    const std::string key = kPredictionMark + p.key;
    auto [it, fresh] = predicted.try_emplace(key);
    it->second.p = p;
    if (fresh) it->second.read_at = read_at;
    if (auto inc = incidents.find(key); inc != incidents.end() && inc->second->s.open) {
      inc->second->s.inventory = p.issuer;  // the same two objects still disagree; keep what it names current
      return;
    }
    prediction_due(key, out);
  }

  void prediction_ended(const std::string& p, Nanos read_at, const std::string& why, const std::string& summary,
                        std::vector<IncidentEvent>& out) {
    const std::string key = kPredictionMark + p;
    predicted.erase(key);
    if (auto inc = incidents.find(key); inc != incidents.end() && inc->second->s.open) {
      Incident& i = *inc->second;
      i.s.summary = summary;
      resolve(i, std::max(read_at, watermark), why.c_str(), out);
    }
  }

  // Opens a prediction's incident at the reading, or (a replay, before its first line) with
  // the clock's first instant.
  void prediction_due(const std::string& key, std::vector<IncidentEvent>& out) {
    auto it = predicted.find(key);
    if (it == predicted.end()) return;
    const Predicted& held = it->second;
    const Nanos t = std::max(held.read_at, watermark);
    if (t == 0) {
      push({1, true, key});
      return;
    }
    unsigned generation = 1;
    if (auto inc = incidents.find(key); inc != incidents.end()) {
      if (inc->second->s.open) return;
      generation = inc->second->generation + 1;
    }
    erase(key);
    Incident& i = create(key, prediction_rule, held.p.labels, t, generation);
    i.s.klass = held.p.klass;
    i.s.severity = Severity::critical;
    i.s.inventory = held.p.issuer;
    i.s.certificate = held.p.issuer.source;
    i.s.title = held.p.title;
    i.s.summary = held.p.summary;
    i.s.runbook = held.p.runbook;
    i.s.count = 0;
    i.expired = true;  // no expiry deadlines: the issuer's own end is its inventory incident's
    nameable.insert(key);
    open(i, t, out);
    evict_if_full();
  }

  // ---- the join by name ------------------------------------------------------------------------

  // A line of a certificate class that names an open inventory or prediction incident's
  // certificate (or, for a prediction, comes from the rules it explains) folds into it.
  Incident* joined_by_name(const ClassifiedLine& line) {
    const std::string& k = line.rule.klass;
    if (nameable.empty() || !cert::classes_fit(k, k)) return nullptr;
    std::vector<std::string> said;
    bool read = false;
    Incident* by_rule = nullptr;
    for (auto it = nameable.begin(); it != nameable.end();) {
      auto inc = incidents.find(*it);
      if (inc == incidents.end() || !inc->second->s.open) {
        it = nameable.erase(it);
        continue;
      }
      Incident& i = *inc->second;
      ++it;
      if (!cert::classes_fit(k, i.s.klass)) continue;
      if (!read) {
        said = names_in(line.record.line);
        for (std::string_view field : cert::kNamingValues)
          if (const Value* v = line.primary.find(field); v && v->kind == Value::Kind::text)
            for (std::string& n : names_in(v->text)) said.push_back(std::move(n));
        read = true;
      }
      if (any_named(i.s.inventory.names, said)) return &i;
      if (by_rule) continue;
      if (auto p = predicted.find(i.key); p != predicted.end())
        for (const std::string& prefix : p->second.p.rule_prefixes)
          if (line.rule.id.starts_with(prefix)) by_rule = &i;
    }
    return by_rule;
  }

  // Folds a line into the open incident it named: counted, its pod named; the incident's
  // summary (which names the object to renew) stays.
  void observe_named(const ClassifiedLine& line, Incident& i, Nanos t, std::vector<IncidentEvent>& out) {
    touch(i);
    const std::string summary = i.s.summary;
    const Severity before = fold(i, line, t, /*fresh=*/false);
    i.s.summary = summary;
    i.s.severity = std::max(i.s.severity, line.primary.severity);
    if (i.s.severity > before) escalate(i, t, out);
    else note_change(i, t, out);
  }

  // The join: a line stating (to the second) the end of an inventoried certificate speaks of
  // that certificate. Several sources holding one certificate: the first by name.
  const std::string* joined(const ClassifiedLine& line) const {
    if (kept_by_end.empty()) return nullptr;
    for (std::string_view name : cert::kEndInstants) {
      const Value* v = line.primary.find(name);
      if (!v || v->kind != Value::Kind::instant) continue;
      const std::int64_t second = v->integer / kNanosPerSecond - (v->integer % kNanosPerSecond < 0 ? 1 : 0);
      if (auto it = kept_by_end.find(second); it != kept_by_end.end() && !it->second.empty()) return &*it->second.begin();
    }
    return nullptr;
  }

  // Folds a joined line into its certificate's incident (opened now if the clock had not yet):
  // counted, its pod named, its class taken when more specific (the emitter saw it expire).
  void observe_joined(const ClassifiedLine& line, const std::string& key, Nanos t, std::vector<IncidentEvent>& out) {
    const Kept& k = kept.at(key);
    Incident* i = nullptr;
    unsigned generation = 1;
    if (auto it = incidents.find(key); it != incidents.end()) {
      if (it->second->s.open) i = it->second.get();
      else generation = it->second->generation + 1;
    }
    const bool fresh = i == nullptr;
    if (fresh) i = &open_kept(key, k, t, generation, out, /*announce=*/false);
    else touch(*i);
    const std::string summary = i->s.summary;
    const Severity before = fold(*i, line, t, /*fresh=*/false);
    i->s.summary = summary;  // ours names the object to renew; the rule's would not
    const std::string klass_before = i->s.klass;
    if (class_rank(line.rule.klass) < class_rank(i->s.klass)) {
      i->s.klass = line.rule.klass;
      i->class_since = t;
      if (class_rank(line.rule.klass) == 0) {  // cert_expired: the emitter saw it end
        i->expired = true;
        i->s.title = fmt::format("Certificate has expired: {}", k.c.source);
        i->s.summary = fmt::format("{} ({}) expired at {}; renew it", k.c.source, k.c.subject, k.c.not_after_text);
      }
    }
    i->s.severity = std::max(i->s.severity, line.primary.severity);
    if (fresh) {
      open(*i, t, out);
    } else if (i->s.severity > before || i->s.klass != klass_before) {
      escalate(*i, t, out);
    } else {
      note_change(*i, t, out);
    }
  }

  // ---- the clock ---------------------------------------------------------------------------

  Nanos next_deadline(const Incident& i) const {
    if (!i.s.open) return kNever;
    if (i.pending) return sat_add(i.s.last_seen, i.rule->within_seconds * kNanosPerSecond) + 1;
    Nanos next = kNever;
    if (i.dirty) next = sat_add(i.last_update, options.update_interval);
    if (i.certificate) {
      if (i.s.expires_at != 0 && !i.expired)
        next = std::min(next, i.s.severity < Severity::critical ? i.s.expires_at - i.threshold : i.s.expires_at);
    } else {
      next = std::min(next, sat_add(i.s.last_seen, i.rule->resolve_after_seconds * kNanosPerSecond) + 1);
    }
    return next;
  }

  static Nanos sat_add(Nanos a, Nanos b) { return a > kNever - b ? kNever - 1 : a + b; }

  void schedule(Incident& i) {
    const Nanos at = next_deadline(i);
    if (at >= i.scheduled) return;  // an entry at or before it is in the heap already
    i.scheduled = at;
    push({at, false, i.key});
  }

  void schedule_certificate(const std::string& key, Cert& c) {
    Nanos at = sat_add(c.c.expires_at, options.expiry_retention);
    if (watermark < c.c.expires_at - c.threshold) at = c.c.expires_at - c.threshold;
    if (at >= c.scheduled) return;
    c.scheduled = at;
    push({at, true, key});
  }

  void push(Deadline d) {
    deadlines.push(std::move(d));
    // Entries of evicted or rescheduled holders stay until they come due; when they are most
    // of the heap, it is built anew from what is held (amortised O(1) a push).
    if (deadlines.size() > 2 * (incidents.size() + certs.size() + kept.size()) + 1024) rebuild_deadlines();
  }

  void rebuild_deadlines() {
    std::vector<Deadline> live;
    for (auto& [key, i] : incidents)
      if (i->scheduled != kNever) live.push_back({i->scheduled, false, key});
    for (auto& [key, c] : certs)
      if (c.scheduled != kNever) live.push_back({c.scheduled, true, key});
    for (auto& [key, k] : kept)
      if (k.scheduled != kNever) live.push_back({k.scheduled, true, key});
    for (auto& [key, p] : predicted)
      if (!incidents.contains(key)) live.push_back({1, true, key});
    deadlines = decltype(deadlines)(std::greater<>(), std::move(live));
  }

  void run_deadlines(std::vector<IncidentEvent>& out) {
    while (!deadlines.empty() && deadlines.top().at <= watermark) {
      const Deadline d = deadlines.top();
      deadlines.pop();
      if (d.certificate && !d.key.empty() && d.key[0] == kPredictionMark) {
        prediction_due(d.key, out);
      } else if (d.certificate && !d.key.empty() && d.key[0] == kInventoryMark) {
        auto it = kept.find(d.key);
        if (it == kept.end() || it->second.scheduled != d.at) continue;
        it->second.scheduled = kNever;
        kept_due(d.key, it->second, out);
      } else if (d.certificate) {
        auto it = certs.find(d.key);
        if (it == certs.end() || it->second.scheduled != d.at) continue;
        it->second.scheduled = kNever;
        certificate_due(d.key, it->second, out);
      } else {
        auto it = incidents.find(d.key);
        if (it == incidents.end() || it->second->scheduled != d.at) continue;
        Incident& i = *it->second;
        i.scheduled = kNever;
        incident_due(i, out);
        schedule(i);
      }
    }
  }

  void incident_due(Incident& i, std::vector<IncidentEvent>& out) {
    if (!i.s.open) return;
    if (i.pending) {
      if (watermark > i.s.last_seen + i.rule->within_seconds * kNanosPerSecond) i.s.open = false;
      return;
    }
    if (i.certificate) {
      // In the order they happen: critical at expiry - threshold, expired at the instant.
      // Never resolved by silence: a dead certificate's warnings stop because it is dead.
      if (i.s.expires_at != 0 && !i.expired) {
        const Nanos critical_at = i.s.expires_at - i.threshold;
        if (i.s.severity < Severity::critical && watermark >= critical_at) {
          i.s.severity = Severity::critical;
          escalate(i, std::max(critical_at, i.s.first_seen), out);
        }
        if (watermark >= i.s.expires_at) {
          i.expired = true;
          i.s.klass = cert::kExpired;
          i.class_since = std::max(i.s.expires_at, i.s.first_seen);
          i.s.severity = Severity::critical;
          i.s.summary = fmt::format("expired at {}{}; no renewal seen", format_rfc3339(i.s.expires_at),
                                    ending ? ", during the window" : "");
          if (!i.s.inventory.source.empty()) {
            i.s.title = "Certificate has expired: " + i.s.inventory.source;
            i.s.summary = fmt::format("{} ({}) expired at {}; renew it", i.s.inventory.source, i.s.inventory.subject,
                                      i.s.inventory.not_after_text);
          }
          escalate(i, std::max(i.s.expires_at, i.s.first_seen), out);
          adopt_earlier_symptoms(i, std::max(i.s.expires_at, i.s.first_seen), out);
          return;
        }
      }
    } else {
      const Nanos quiet_until = i.s.last_seen + i.rule->resolve_after_seconds * kNanosPerSecond;
      if (watermark > quiet_until) {
        resolve(i, quiet_until, "quiet", out);
        return;
      }
    }
    if (i.dirty && watermark - i.last_update >= options.update_interval) emit_update(i, i.s.last_seen, out);
  }

  void advance(Nanos t, std::vector<IncidentEvent>& out) {
    if (wall_clock) t = std::min(t, sat_add(wall_clock(), options.max_clock_skew));
    latest = std::max(latest, t);
    const Nanos w = latest - options.allowed_lateness;
    if (w <= watermark) return;
    watermark = w;
    run_deadlines(out);
  }

  void finish(std::vector<IncidentEvent>& out) {
    ending = true;
    watermark = std::max(watermark, latest);
    run_deadlines(out);
    ending = false;
  }
};

IncidentTracker::IncidentTracker(const std::vector<RuleSpec>& rules, std::vector<CorrelationSpec> correlations,
                                 TrackerOptions options)
    : impl_(std::make_unique<Impl>(rules, std::move(correlations), options)) {}
IncidentTracker::~IncidentTracker() = default;

void IncidentTracker::observe(const ClassifiedLine& line, std::vector<IncidentEvent>& out) { impl_->observe(line, out); }
void IncidentTracker::advance(Nanos t, std::vector<IncidentEvent>& out) { impl_->advance(t, out); }
void IncidentTracker::advance_to(const ClassifiedLine& line, std::vector<IncidentEvent>& out) {
  const auto [t, moves_clock] = impl_->claim_of(line);
  if (moves_clock) impl_->advance(t, out);
}
void IncidentTracker::finish(std::vector<IncidentEvent>& out) { impl_->finish(out); }
void IncidentTracker::set_wall_clock(std::function<Nanos()> wall_clock) { impl_->wall_clock = std::move(wall_clock); }
Nanos IncidentTracker::watermark() const { return impl_->watermark; }
Nanos IncidentTracker::latest_event_time() const { return impl_->latest; }
const TrackerStats& IncidentTracker::stats() const { return impl_->stats; }
void IncidentTracker::certificate_read(const InventoryCertificate& certificate, Nanos read_at,
                                       std::vector<IncidentEvent>& out) {
  impl_->certificate_read(certificate, read_at, out);
}
void IncidentTracker::certificate_gone(const std::string& source, Nanos read_at, std::vector<IncidentEvent>& out) {
  impl_->certificate_gone(source, read_at, out);
}
void IncidentTracker::failure_predicted(const PredictedFailure& failure, Nanos read_at, std::vector<IncidentEvent>& out) {
  impl_->failure_predicted(failure, read_at, out);
}
void IncidentTracker::prediction_ended(const std::string& key, Nanos read_at, const std::string& why,
                                       const std::string& summary, std::vector<IncidentEvent>& out) {
  impl_->prediction_ended(key, read_at, why, summary, out);
}

std::vector<IncidentSnapshot> IncidentTracker::incidents() const {
  std::vector<IncidentSnapshot> out;
  for (const auto& [key, i] : impl_->incidents)
    if (!i->pending) out.push_back(i->s);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.first_seen != b.first_seen ? a.first_seen < b.first_seen : a.id < b.id;
  });
  return out;
}

std::vector<IncidentTracker::Certificate> IncidentTracker::certificates() const {
  std::vector<Certificate> out;
  for (const auto& [key, c] : impl_->certs) out.push_back(c.c);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.expires_at < b.expires_at; });
  return out;
}

std::vector<IncidentTracker::Certificate> IncidentTracker::inventory_certificates() const {
  std::vector<Certificate> out;
  for (const auto& [key, k] : impl_->kept) {
    Certificate c;
    c.identity = k.c.subject.empty() ? k.c.source : k.c.subject;
    c.rule = impl_->inventory_rule.id;
    c.labels = k.c.labels;
    c.expires_at = k.c.not_after;
    c.stated_at = k.read_at;
    c.source = k.c.source;
    c.threshold = impl_->options.expiry_threshold;
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.expires_at < b.expires_at; });
  return out;
}

IncidentTracker::OpenInventory IncidentTracker::open_inventory() const {
  OpenInventory out;
  for (const auto& [key, i] : impl_->incidents) {
    if (!i->s.open || key.empty()) continue;
    if (key[0] == kInventoryMark) out.sources.push_back(key.substr(1));
    else if (key[0] == kPredictionMark) out.predictions.push_back(key.substr(1));
  }
  std::sort(out.sources.begin(), out.sources.end());
  std::sort(out.predictions.begin(), out.predictions.end());
  return out;
}

IncidentTracker::State IncidentTracker::state() const {
  State out;
  out.latest = impl_->latest;
  out.watermark = impl_->watermark;
  for (const auto& [key, i] : impl_->incidents) {
    // A resolved stream incident is history; a resolved certificate one says which expiry a
    // renewal settled (the clock must not reopen it).
    if (i->pending || (!i->s.open && !i->certificate)) continue;
    out.incidents.push_back({i->s, i->generation, i->expired, i->class_since, i->last_update});
  }
  std::sort(out.incidents.begin(), out.incidents.end(), [](const auto& a, const auto& b) {
    return a.s.last_seen != b.s.last_seen ? a.s.last_seen < b.s.last_seen : a.s.id < b.s.id;
  });
  for (const auto& [key, c] : impl_->certs) out.certificates.push_back({c.c, c.imprecision});
  std::sort(out.certificates.begin(), out.certificates.end(),
            [](const auto& a, const auto& b) { return a.c.stated_at < b.c.stated_at; });
  return out;
}

std::size_t IncidentTracker::restore(const State& state) {
  Impl& m = *impl_;
  std::size_t skipped = 0;
  m.latest = std::max(m.latest, state.latest);
  m.watermark = std::max(m.watermark, std::min(state.watermark, state.latest));
  for (const State::HeldCertificate& held : state.certificates) {
    auto r = m.rule_by_id.find(held.c.rule);
    if (r == m.rule_by_id.end() || r->second->lifecycle != Lifecycle::certificate) {
      ++skipped;
      continue;
    }
    const std::string key = Impl::key_of(*r->second, held.c.labels);
    auto [it, fresh] = m.certs.try_emplace(key);
    if (!fresh) continue;
    Impl::Cert& c = it->second;
    c.c = held.c;
    c.c.identity = r->second->certificate;
    c.rule = r->second;
    c.threshold = threshold_of(*r->second, m.options.expiry_threshold);
    c.imprecision = held.imprecision > 0 ? held.imprecision : imprecision(*r->second);
    m.cert_lru.push_front(key);
    c.lru = m.cert_lru.begin();
    m.schedule_certificate(key, c);
  }
  for (const State::HeldIncident& held : state.incidents) {
    if (m.restore_inventory(held)) continue;
    auto r = m.rule_by_id.find(held.s.rule);
    if (r == m.rule_by_id.end() ||
        (r->second->lifecycle == Lifecycle::certificate && r->second->certificate != held.s.certificate)) {
      ++skipped;
      continue;
    }
    const RuleSpec& rule = *r->second;
    const std::string key = Impl::key_of(rule, held.s.labels);
    if (m.incidents.count(key)) continue;
    Impl::Incident& i = m.create(key, rule, held.s.labels, held.s.first_seen, std::max(1u, held.generation));
    const std::string id = i.s.id;
    i.s = held.s;
    i.s.id = id;  // the id is the key's, whatever the file says
    i.s.caused_by.clear();
    i.expired = held.expired;
    i.class_since = held.class_since;
    i.last_update = held.last_update;
    if (auto c = m.certs.find(key); c != m.certs.end()) i.threshold = c->second.threshold;
    m.schedule(i);
  }
  // Symptoms find their roots again, by the ids they had.
  for (const State::HeldIncident& held : state.incidents) {
    if (held.s.caused_by.empty()) continue;
    auto r = m.rule_by_id.find(held.s.rule);
    if (r == m.rule_by_id.end()) continue;
    auto symptom = m.incidents.find(Impl::key_of(*r->second, held.s.labels));
    auto root = m.by_id.find(held.s.caused_by);
    if (symptom == m.incidents.end() || root == m.by_id.end()) continue;
    Impl::Incident& s = *symptom->second;
    if (s.s.id != held.s.id || root->second == &s) continue;
    s.s.caused_by = root->second->s.id;
    root->second->children.insert(s.s.id);
    root->second->s.symptoms = std::max<std::uint64_t>(root->second->s.symptoms, root->second->children.size());
    m.count_symptom_pods(*root->second, s);
  }
  m.evict_if_full();
  return skipped;
}

}  // namespace klaxon
