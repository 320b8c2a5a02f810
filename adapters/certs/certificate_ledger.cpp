// adapters/certs/certificate_ledger.cpp — see the header.
#include "adapters/certs/certificate_ledger.hpp"

#include <set>

#include <fmt/format.h>

#include "engine/duration.hpp"

namespace klaxon::certs {
namespace {

const char* class_of(Status status) {
  switch (status) {
    case Status::expiring_soon: return "cert_expiring_soon";
    case Status::expired: return "cert_expired";
    case Status::not_yet_valid: return "cert_not_yet_valid";
    case Status::ok: return "";
  }
  return "";
}

CertificateRef ref_of(const Certificate& c) { return {c.source, c.subject, c.serial, c.not_after}; }

// The sources a ReadError leaves unknown: itself, or every object of a kind that could not be
// listed (`kubernetes:secrets` -> `secret:`), or everything for a cluster that could not be reached.
std::vector<std::string> unknown_prefixes(const std::vector<ReadError>& errors) {
  static const std::map<std::string_view, std::string_view> kinds{
      {"kubernetes:secrets", "secret:"},
      {"kubernetes:configmaps", "configmap:"},
      {"kubernetes:mutatingwebhookconfigurations", "webhook:MutatingWebhookConfiguration/"},
      {"kubernetes:validatingwebhookconfigurations", "webhook:ValidatingWebhookConfiguration/"},
      {"kubernetes:customresourcedefinitions", "crd:"},
      {"kubernetes:apiservices", "apiservice:"},
  };
  std::vector<std::string> out;
  for (const ReadError& e : errors) {
    if (e.source == "kubernetes") {
      for (const auto& [kind, prefix] : kinds) out.emplace_back(prefix);
    } else if (const auto it = kinds.find(e.source); it != kinds.end()) {
      out.emplace_back(it->second);
    } else {
      out.push_back(e.source.substr(0, e.source.rfind('#')));  // a bundle's N-th: the whole source
    }
  }
  return out;
}

bool covered(const std::string& source, const std::vector<std::string>& prefixes) {
  for (const std::string& p : prefixes)
    if (source.starts_with(p)) return true;
  return false;
}

std::string describe(const Certificate& c, Status status, Seconds now) {
  switch (status) {
    case Status::expired: return fmt::format("{} ({}) expired {} ago", c.source, c.subject, format_duration(now - c.not_after));
    case Status::not_yet_valid:
      return fmt::format("{} ({}) is not valid for another {}", c.source, c.subject, format_duration(c.not_before - now));
    default: return fmt::format("{} ({}) expires in {}", c.source, c.subject, format_duration(c.not_after - now));
  }
}

}  // namespace

void CertificateLedger::reconcile(const Inventory& snapshot, const std::vector<Prediction>& predictions, Seconds now,
                                  std::vector<CertificateEvent>& out) {
  using Kind = CertificateEvent::Kind;
  const std::vector<std::string> unknown = unknown_prefixes(snapshot.errors);
  std::set<std::string> seen;
  for (const Certificate& c : snapshot.certificates) {
    seen.insert(c.source);
    const Assessment a = assess(c, now, thresholds_);
    const std::string cls = class_of(a.status);
    const std::string key = "certificate:" + c.source;
    auto it = by_source_.find(c.source);
    if (it != by_source_.end() && it->second.sha256 != c.sha256) {
      // Replaced. A later certificate ends the old incident; an earlier or equal one does not
      // (a restore from backup is not a renewal), and is judged on its own below.
      Entry& old = it->second;
      if (!old.incident_class.empty() && c.not_after > old.ref.not_after) {
        out.push_back({Kind::resolved, old.incident_class, old.level, key, old.ref,
                       fmt::format("replaced by a later certificate (serial {}, not after {})", c.serial,
                                   format_seconds_rfc3339(c.not_after))});
        old.incident_class.clear();
        old.level = Level::none;
      }
      old.ref = ref_of(c);
      old.sha256 = c.sha256;
    }
    if (it == by_source_.end()) it = by_source_.emplace(c.source, Entry{ref_of(c), c.sha256, "", Level::none}).first;
    Entry& e = it->second;
    if (cls.empty() || (cls == e.incident_class && a.level == e.level)) continue;
    const Kind kind = e.incident_class.empty() ? Kind::opened : Kind::escalated;
    if (kind == Kind::escalated && a.level < e.level && cls == e.incident_class) continue;  // never quieter by time
    e.incident_class = cls;
    e.level = std::max(e.level, a.level);
    out.push_back({kind, cls, e.level, key, e.ref, describe(c, a.status, now)});
  }
  // Gone from a reading that covered them: removed.
  for (auto it = by_source_.begin(); it != by_source_.end();) {
    if (seen.contains(it->first) || covered(it->first, unknown)) {
      ++it;
      continue;
    }
    if (!it->second.incident_class.empty())
      out.push_back({Kind::resolved, it->second.incident_class, it->second.level, "certificate:" + it->first, it->second.ref,
                     "removed"});
    it = by_source_.erase(it);
  }
  // Predictions: open while predicted; resolved when both objects were read and it is no more.
  std::set<std::string> predicted_now;
  for (const Prediction& p : predictions) {
    const std::string key = fmt::format("prediction:{}|{}", p.certificate->source, p.bundle);
    predicted_now.insert(key);
    if (predicted_.emplace(key, ref_of(*p.certificate)).second)
      out.push_back({Kind::opened, p.incident_class, Level::critical, key, ref_of(*p.certificate), p.message});
  }
  for (auto it = predicted_.begin(); it != predicted_.end();) {
    const std::string bundle = it->first.substr(it->first.find('|') + 1);
    if (predicted_now.contains(it->first) || covered(it->second.source, unknown) || covered(bundle, unknown)) {
      ++it;
      continue;
    }
    out.push_back({Kind::resolved, "cert_bad_signature", Level::critical, it->first, it->second,
                   "the issuer now chains to its trust bundle"});
    it = predicted_.erase(it);
  }
}

std::vector<CertificateRef> CertificateLedger::ending_at(Seconds not_after) const {
  std::vector<CertificateRef> out;
  for (const auto& [source, e] : by_source_)
    if (e.ref.not_after == not_after) out.push_back(e.ref);
  return out;
}

std::size_t CertificateLedger::open_count() const {
  std::size_t n = predicted_.size();
  for (const auto& [source, e] : by_source_) n += e.incident_class.empty() ? 0 : 1;
  return n;
}

}  // namespace klaxon::certs
