#include "engine/incident_tracker.hpp"

#include <algorithm>
#include <deque>
#include <set>
#include <unordered_set>

#include <fmt/format.h>

#include "engine/stream_classifier.hpp"

namespace klaxon {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// How far the clock moves between two full passes over the incidents while lines flow. Times
// in events are exact whatever this is; it only bounds how late a resolution is noticed.
constexpr Nanos kCheckEvery = 10 * kNanosPerSecond;

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Two label sets describe the same scope when no label present in both differs.
bool same_scope(const Labels& a, const Labels& b, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    const auto ia = std::find_if(a.begin(), a.end(), [&](const auto& kv) { return kv.first == name; });
    const auto ib = std::find_if(b.begin(), b.end(), [&](const auto& kv) { return kv.first == name; });
    if (ia != a.end() && ib != b.end() && ia->second != ib->second) return false;
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
  for (const SeverityCase& c : r.severity)
    if (c.severity == Severity::critical && c.when.name == "expires_in" &&
        (c.when.op == Comparison::Op::lt || c.when.op == Comparison::Op::le))
      return static_cast<Nanos>(c.when.value) * kNanosPerSecond;
  return fallback;
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
    bool synthetic = false;          // opened by the certificate inventory
    unsigned generation = 1;         // the n-th incident of this key (a resolved one reopened)
    std::set<std::string> children;  // for a root: ids of the symptoms under it
    std::set<std::string> pods;      // for a root: pods of those symptoms
    std::list<std::string>::iterator lru;
  };
  struct Cert {
    IncidentTracker::Certificate c;
    const RuleSpec* rule = nullptr;
    std::list<std::string>::iterator lru;
  };

  const std::vector<RuleSpec>& rules;
  std::vector<CorrelationSpec> correlations;
  TrackerOptions options;
  TrackerStats stats;
  Nanos latest = 0;
  Nanos watermark = 0;
  Nanos checked_at = 0;  // watermark of the last full check_clock()

  std::unordered_map<std::string, std::unique_ptr<Incident>> incidents;  // by key
  std::unordered_map<std::string, Incident*> by_id;
  std::unordered_map<std::string, std::unordered_set<Incident*>> by_rule;  // rule id → its incidents
  std::list<std::string> lru;  // keys, most recently touched first
  std::unordered_map<std::string, Cert> certs;
  std::list<std::string> cert_lru;

  Impl(const std::vector<RuleSpec>& r, std::vector<CorrelationSpec> c, TrackerOptions o)
      : rules(r), correlations(std::move(c)), options(o) {}

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

  void erase(const std::string& key) {
    auto it = incidents.find(key);
    if (it == incidents.end()) return;
    Incident& i = *it->second;
    unlink(i);
    by_id.erase(i.s.id);
    by_rule[i.s.rule].erase(&i);
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
    std::string key = r.id;
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
    i.threshold = threshold_of(r, options.expiry_threshold);
    lru.push_front(key);
    i.lru = lru.begin();
    by_id[i.s.id] = &i;
    by_rule[r.id].insert(&i);
    incidents[key] = std::move(inc);
    return i;
  }

  void add_sample(Incident& i, std::string_view line) {
    std::string sample(line.substr(0, 2048));
    if (i.s.samples.size() < options.max_samples) i.s.samples.push_back(std::move(sample));
    else i.s.samples.back() = std::move(sample);
  }

  void add_pod(Incident& i, const ClassifiedLine& line) {
    std::string_view pod = line.record.get("pod");
    if (pod.empty()) pod = line.record.get("instance");
    if (pod.empty() || i.s.pods.size() >= options.max_symptom_pods) return;
    if (std::find(i.s.pods.begin(), i.s.pods.end(), pod) == i.s.pods.end()) i.s.pods.emplace_back(pod);
  }

  // ---- correlation -------------------------------------------------------------------------

  bool within(const CorrelationSpec& c, const Incident& root, const Incident& symptom) {
    const Nanos w = c.within_seconds * kNanosPerSecond;
    return symptom.s.first_seen >= root.s.first_seen - w && symptom.s.first_seen <= root.s.last_seen + w;
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
    return root.s.open && !root.pending && &root != &symptom && same_scope(root.s.labels, symptom.s.labels, c.same) &&
           within(c, root, symptom);
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

  // A root that opens adopts the symptoms that came before it, and those it explains better
  // than the root they had.
  void adopt_earlier_symptoms(Incident& root, Nanos t, std::vector<IncidentEvent>& out) {
    for (const CorrelationSpec& c : correlations) {
      if (c.root != root.s.rule) continue;
      for (const std::string& symptom_rule : c.symptoms)
        for (Incident* s : by_rule[symptom_rule]) {
          if (!can_explain(c, root, *s)) continue;
          Incident* current = current_root(*s);
          if (current == &root || !better_root(root, current, *s)) continue;
          reparent(root, *s, t, out);
        }
    }
    if (root.s.symptoms > 0) out.push_back(event(IncidentEvent::Kind::updated, t, root));
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
  }

  void resolve(Incident& i, Nanos t, const char* why, std::vector<IncidentEvent>& out) {
    if (!i.s.open) return;
    i.s.open = false;
    i.s.resolved_because = why;
    if (i.pending) return;
    ++stats.resolved;
    out.push_back(event(IncidentEvent::Kind::resolved, t, i));
  }

  void escalate(Incident& i, Nanos t, std::vector<IncidentEvent>& out) {
    ++stats.escalated;
    i.last_update = t;
    i.dirty = false;
    out.push_back(event(IncidentEvent::Kind::escalated, t, i));
  }

  // ---- lines -------------------------------------------------------------------------------

  void observe(const ClassifiedLine& line, std::vector<IncidentEvent>& out) {
    const RuleSpec& r = line.rule;
    const Nanos t = line.record.time;
    if (t < watermark) ++stats.late_lines;
    latest = std::max(latest, t);
    // The clock first: what happened before this line (an expiry threshold passed, a quiet
    // period ended) is decided before the line is folded in.
    watermark = std::max(watermark, latest - options.allowed_lateness);
    if (watermark >= checked_at + kCheckEvery) check_clock(out);

    Labels labels = group_labels(line, r);
    for (const std::string& target : r.resolves) resolve_renewed(target, labels, t, out);
    if (r.klass == "cert_validity") {
      remember_certificate(line, r, std::move(labels), t, out);
      return;
    }

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
    i->s.count += 1;
    i->s.first_seen = std::min(i->s.first_seen, t);
    i->s.last_seen = std::max(i->s.last_seen, t);
    add_sample(*i, line.record.line);
    add_pod(*i, line);
    if (!i->s.caused_by.empty())
      if (auto root = by_id.find(i->s.caused_by); root != by_id.end()) count_symptom_pods(*root->second, *i);
    const Severity before = i->s.severity;
    if (fresh || line.primary.severity > i->s.severity) i->s.severity = line.primary.severity;
    // The summary is rendered when an event may carry it, not for every line folded in.
    const bool may_emit = fresh || i->pending || line.primary.severity > before || t - i->last_update >= options.update_interval;
    if (may_emit)
      if (const std::string* summary = annotation(r, "summary")) i->s.summary = render_template(*summary, line.primary);
    if (const Value* at = line.primary.find("expires_at"); at && at->kind == Value::Kind::instant)
      i->s.expires_at = std::max(i->s.expires_at, at->integer);
    else if (const Value* ex = line.primary.find("expired_at"); ex && ex->kind == Value::Kind::instant)
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
      }
    } else if (fresh) {
      open(*i, t, out);
    } else if (i->s.severity > before) {
      escalate(*i, t, out);
    } else {
      i->dirty = true;
      if (t - i->last_update >= options.update_interval) emit_update(*i, t, out);
    }
    evict_if_full();
  }

  void emit_update(Incident& i, Nanos t, std::vector<IncidentEvent>& out) {
    i.last_update = t;
    i.dirty = false;
    out.push_back(event(IncidentEvent::Kind::updated, t, i));
  }

  void resolve_renewed(const std::string& rule_id, const Labels& labels, Nanos t, std::vector<IncidentEvent>& out) {
    for (Incident* i : by_rule[rule_id]) {
      if (!i->s.open) continue;
      std::vector<std::string> names;
      for (const auto& kv : i->s.labels) names.push_back(kv.first);
      if (same_scope(i->s.labels, labels, names)) resolve(*i, t, "renewed", out);
    }
  }

  // ---- certificate inventory ---------------------------------------------------------------

  void remember_certificate(const ClassifiedLine& line, const RuleSpec& r, Labels labels, Nanos t,
                            std::vector<IncidentEvent>& out) {
    const Value* at = line.primary.find("expires_at");
    if (!at || at->kind != Value::Kind::instant) return;
    const std::string key = key_of(r, labels);
    auto [it, fresh] = certs.try_emplace(key);
    Cert& c = it->second;
    if (fresh) {
      cert_lru.push_front(key);
      c.lru = cert_lru.begin();
    } else {
      cert_lru.splice(cert_lru.begin(), cert_lru, c.lru);
    }
    const Nanos before = c.c.expires_at;
    c.rule = &r;
    c.c.identity = key;
    c.c.rule = r.id;
    c.c.labels = std::move(labels);
    c.c.expires_at = at->integer;
    c.c.stated_at = t;
    c.c.source = fmt::format("{}:{}", line.source, line.line_no);
    // A later expiry for the same certificate is a renewal: the warning it caused is over.
    if (!fresh && at->integer > before) {
      if (auto inc = incidents.find(synthetic_key(key)); inc != incidents.end() && inc->second->s.open)
        resolve(*inc->second, t, "renewed", out);
    }
    while (certs.size() > options.max_certificates) {
      certs.erase(cert_lru.back());
      cert_lru.pop_back();
      ++stats.certificates_evicted;
    }
  }

  static std::string synthetic_key(const std::string& cert_key) { return cert_key + "\x1f" + "expiring"; }

  void open_from_inventory(std::vector<IncidentEvent>& out) {
    for (auto& [key, c] : certs) {
      const Nanos threshold = threshold_of(*c.rule, options.expiry_threshold);
      if (watermark < c.c.expires_at - threshold) continue;
      const std::string ikey = synthetic_key(key);
      unsigned generation = 1;
      if (auto it = incidents.find(ikey); it != incidents.end()) {
        if (it->second->s.open || it->second->s.expires_at == c.c.expires_at) continue;  // already said
        generation = it->second->generation + 1;
      }
      erase(ikey);
      Incident& i = create(ikey, *c.rule, c.c.labels, std::max(c.c.stated_at, c.c.expires_at - threshold), generation);
      i.synthetic = true;
      i.s.klass = "cert_expiring_soon";
      i.s.severity = Severity::critical;
      i.s.title = "Certificate expires soon: " + c.rule->title;
      i.s.summary = fmt::format("certificate stated by {} expires at {}", c.c.source, format_rfc3339(c.c.expires_at));
      i.s.expires_at = c.c.expires_at;
      i.s.count = 1;
      i.threshold = threshold;
      open(i, i.s.first_seen, out);
      evict_if_full();
    }
  }

  // ---- the clock ---------------------------------------------------------------------------

  void check_clock(std::vector<IncidentEvent>& out) {
    checked_at = watermark;
    open_from_inventory(out);
    for (auto& [key, ip] : incidents) {
      Incident& i = *ip;
      if (!i.s.open) continue;
      if (i.pending) {
        if (watermark > i.s.last_seen + i.rule->within_seconds * kNanosPerSecond) i.s.open = false;
        continue;
      }
      // In the order they happen in event time: critical at expiry - threshold, resolved when
      // quiet (the warnings stopped before the instant: a renewal), expired at the instant.
      const bool expiring = i.s.expires_at != 0 && i.s.klass == "cert_expiring_soon";
      const Nanos quiet_until = i.s.last_seen + i.rule->resolve_after_seconds * kNanosPerSecond;
      // Not for what the clock escalated to expired (its warnings stop because the certificate
      // died), nor for what the inventory opened: those end with a renewal.
      const bool can_go_quiet = !i.synthetic && i.s.klass == i.rule->klass;
      if (expiring) {
        const Nanos critical_at = i.s.expires_at - i.threshold;
        if (i.s.severity < Severity::critical && watermark >= critical_at && (!can_go_quiet || critical_at <= quiet_until)) {
          i.s.severity = Severity::critical;
          escalate(i, std::max(critical_at, i.s.first_seen), out);
        }
      }
      if (can_go_quiet && watermark > quiet_until && !(expiring && i.s.expires_at <= quiet_until)) {
        resolve(i, quiet_until, "quiet", out);
        continue;
      }
      if (expiring && watermark >= i.s.expires_at) {
        // No renewal came before the instant: the certificate is now expired.
        i.s.klass = "cert_expired";
        i.s.severity = Severity::critical;
        i.s.summary = fmt::format("expired at {} (predicted from the warnings; no renewal seen)", format_rfc3339(i.s.expires_at));
        escalate(i, i.s.expires_at, out);
        continue;
      }
      if (i.dirty && watermark - i.last_update >= options.update_interval) emit_update(i, i.s.last_seen, out);
    }
  }

  void advance(Nanos t, std::vector<IncidentEvent>& out) {
    latest = std::max(latest, t);
    const Nanos w = latest - options.allowed_lateness;
    if (w <= watermark) return;
    watermark = w;
    check_clock(out);
  }
};

IncidentTracker::IncidentTracker(const std::vector<RuleSpec>& rules, std::vector<CorrelationSpec> correlations,
                                 TrackerOptions options)
    : impl_(std::make_unique<Impl>(rules, std::move(correlations), options)) {}
IncidentTracker::~IncidentTracker() = default;

void IncidentTracker::observe(const ClassifiedLine& line, std::vector<IncidentEvent>& out) { impl_->observe(line, out); }
void IncidentTracker::advance(Nanos t, std::vector<IncidentEvent>& out) { impl_->advance(t, out); }
Nanos IncidentTracker::watermark() const { return impl_->watermark; }
Nanos IncidentTracker::latest_event_time() const { return impl_->latest; }
const TrackerStats& IncidentTracker::stats() const { return impl_->stats; }

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

}  // namespace klaxon
