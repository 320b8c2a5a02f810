// adapters/certs/certificate_ledger.cpp — see the header.
#include "adapters/certs/certificate_ledger.hpp"

#include <cctype>
#include <set>

#include <fmt/format.h>

namespace klaxon::certs {
namespace {

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

Nanos to_nanos(Seconds s) {
  if (s <= 0) return 0;
  if (s >= kLatestInstant / kNanosPerSecond) return kLatestInstant;
  return s * kNanosPerSecond;
}

// `CN=dapr-trust-domain,O=dapr` -> `dapr-trust-domain` (RFC 2253 as the inventory prints it).
std::string common_name(const std::string& name) {
  std::size_t at = 0;
  while (at < name.size()) {
    const std::size_t end = name.find(',', at);
    const std::string_view part = std::string_view(name).substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (part.starts_with("CN=")) return std::string(part.substr(3));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return "";
}

}  // namespace

std::string source_kind(const std::string& source) { return source.substr(0, source.find(':')); }

InventoryCertificate to_inventory(const Certificate& c) {
  InventoryCertificate out;
  out.source = c.source;
  out.subject = c.subject;
  out.issuer = c.issuer;
  out.serial = c.serial;
  out.not_after_seconds = c.not_after;
  out.not_after_text = format_seconds_rfc3339(c.not_after);
  out.not_before = to_nanos(c.not_before);
  out.not_after = to_nanos(c.not_after);
  const std::string kind = source_kind(c.source);
  const std::string rest = c.source.substr(std::min(c.source.size(), kind.size() + 1));
  auto& l = out.labels;
  l.emplace_back("source_kind", kind);
  if (kind == "secret" || kind == "configmap") {
    // NS/NAME/KEY: namespaces and names hold no '/', keys neither ([-._a-zA-Z0-9]).
    const std::size_t a = rest.find('/'), b = rest.find('/', a + 1);
    const std::string ns = rest.substr(0, a), name = rest.substr(a + 1, b - a - 1), key = rest.substr(b + 1);
    l.emplace_back("namespace", ns);
    l.emplace_back("name", name);
    l.emplace_back("key", key);
    out.runbook = fmt::format(
        "renew the certificate in key {} of {} {}/{} (the tool that issued it: cert-manager, dapr mtls renew-certificate, "
        "linkerd/step ...), then restart the pods that load it",
        key, kind == "secret" ? "Secret" : "ConfigMap", ns, name);
  } else if (kind == "file") {
    l.emplace_back("path", rest);
    out.runbook = fmt::format("replace {} with a renewed certificate, then reload the program that reads it", rest);
  } else if (kind == "kubeconfig") {
    const std::size_t colon = rest.rfind(':');
    l.emplace_back("path", rest.substr(0, colon));
    l.emplace_back("name", colon == std::string::npos ? "" : rest.substr(colon + 1));
    out.runbook = fmt::format("renew the credentials of {} in kubeconfig {}",
                              colon == std::string::npos ? "" : rest.substr(colon + 1), rest.substr(0, colon));
  } else if (kind == "endpoint") {
    l.emplace_back("endpoint", rest);
    out.runbook = fmt::format("{} serves this certificate: renew it there and reload the server (a renewed file that "
                              "is still served old was never reloaded)",
                              rest);
  } else {
    l.emplace_back("name", rest);
    out.runbook = fmt::format("renew the serving certificate behind {} {} and update its caBundle", kind, rest);
  }
  if (const std::string cn = common_name(c.subject); !cn.empty()) {
    l.emplace_back("subject_cn", cn);
    // What a log line may call it: its CN, and the trust domain a mesh CA's CN stands for
    // (Linkerd's identity.linkerd.TD and root.linkerd.TD; Dapr's CA is named TD itself).
    std::string name = cn;
    for (char& ch : name) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    out.names.push_back(name);
    for (std::string_view prefix : {"identity.linkerd.", "root.linkerd."})
      if (name.starts_with(prefix) && name.size() > prefix.size()) out.names.push_back(name.substr(prefix.size()));
  }
  return out;
}

void CertificateLedger::reconcile(const std::string& group, const Inventory& snapshot, const CertificateReceiver& to) {
  // Errors are remembered per group and source ("GROUP\nSOURCE"): one group's reading says
  // nothing about another's.
  const std::string mine = group + '\n';
  std::set<std::string> failing;
  for (const ReadError& e : snapshot.errors) {
    ++read_errors_[source_kind(e.source)];
    failing.insert(mine + e.source);
    auto [it, fresh] = last_error_.try_emplace(mine + e.source, e.message);
    if (fresh || it->second != e.message) {
      it->second = e.message;
      if (to.error) to.error(e);
    }
  }
  const std::vector<std::string> unknown = unknown_prefixes(snapshot.errors);
  std::set<std::string> seen;
  for (const Certificate& c : snapshot.certificates) {
    seen.insert(c.source);
    group_of_[c.source] = group;
    auto [it, fresh] = by_source_.try_emplace(c.source);
    if (!fresh && it->second.sha256 == c.sha256) continue;
    it->second = c;
    if (!c.is_ca) it->second.der.clear();  // a CA's DER stays: the trust checks verify signatures with it
    if (to.read) to.read(to_inventory(c));
  }
  // Restored from a state: read now (passed on above), gone, or not known yet (a failed read).
  for (auto it = expected_.begin(); it != expected_.end();) {
    if (it->second != group || (!seen.contains(it->first) && covered(it->first, unknown))) {
      ++it;
      continue;
    }
    const std::string source = it->first;
    it = expected_.erase(it);
    if (!seen.contains(source) && !by_source_.contains(source) && to.gone) to.gone(source);
  }
  if (group == "kubernetes")
    for (auto it = expected_predictions_.begin(); it != expected_predictions_.end();) {
      const std::string issuer = it->substr(0, it->find(' ')), bundle = it->substr(it->find(' ') + 1);
      if (covered(issuer, unknown) || covered(bundle, unknown)) {
        ++it;
        continue;
      }
      predicted_.try_emplace(*it, "");  // held, in a state no reading has: check_trust says it again or ends it
      it = expected_predictions_.erase(it);
    }
  // Gone from a reading of their group that covered them: removed.
  for (auto it = by_source_.begin(); it != by_source_.end();) {
    const std::string& source = it->first;
    if (group_of_[source] != group || seen.contains(source) || covered(source, unknown)) {
      ++it;
      continue;
    }
    const std::string gone = source;
    group_of_.erase(source);
    it = by_source_.erase(it);
    if (to.gone) to.gone(gone);
  }
  check_trust(to);
  // A source that reads again (or is gone) has no error to remember.
  for (auto it = last_error_.lower_bound(mine); it != last_error_.end() && it->first.starts_with(mine);)
    it = failing.contains(it->first) ? std::next(it) : last_error_.erase(it);
}

std::string CertificateLedger::group_of(const std::string& source) {
  const std::string kind = source_kind(source);
  if (kind == "file" || kind == "kubeconfig") return "files";
  if (kind == "endpoint") return "probes";
  return "kubernetes";
}

void CertificateLedger::expect(const std::vector<std::string>& sources, const std::vector<std::string>& predictions) {
  for (const std::string& source : sources) expected_.try_emplace(source, group_of(source));
  expected_predictions_.insert(predictions.begin(), predictions.end());
}

PredictedFailure to_predicted(const Prediction& p) {
  PredictedFailure out;
  out.key = p.key;
  out.klass = p.incident_class;
  out.issuer = to_inventory(*p.certificate);
  out.bundle = p.bundle;
  out.title = fmt::format("Predicted bad signature: {} issuer not signed by {}", p.mesh, p.bundle);
  out.summary = p.message;
  out.runbook = p.fix;
  out.labels = out.issuer.labels;
  out.labels.emplace_back("trust_bundle", p.bundle);
  out.rule_prefixes = p.rule_prefixes;
  return out;
}

void CertificateLedger::check_trust(const CertificateReceiver& to) {
  std::vector<const Certificate*> held;
  for (const auto& [source, c] : by_source_)
    if (c.is_ca && (source.starts_with("secret:") || source.starts_with("configmap:"))) held.push_back(&c);
  std::map<std::string, std::string> now;
  for (const Prediction& p : check_trust_bundles(held)) {
    // Said again only when either object changed: the same disagreement is one incident.
    std::string bundle_state;
    for (const auto& [source, c] : by_source_)
      if (source == p.bundle || source.starts_with(p.bundle + "#")) bundle_state += c.sha256;
    const std::string state = p.certificate->sha256 + " " + bundle_state;
    auto before = predicted_.find(p.key);
    if ((before == predicted_.end() || before->second != state) && to.predicted) to.predicted(to_predicted(p));
    now[p.key] = state;
  }
  for (const auto& [key, state] : predicted_) {
    if (now.contains(key) || !to.unpredicted) continue;
    const std::string issuer = key.substr(0, key.find(' ')), bundle = key.substr(key.find(' ') + 1);
    const bool bundle_held = by_source_.contains(bundle) || by_source_.contains(bundle + "#1");
    if (by_source_.contains(issuer) && bundle_held)
      to.unpredicted(key, "renewed", fmt::format("renewed: {} is signed by a root in {} again", issuer, bundle));
    else
      to.unpredicted(key, "removed", fmt::format("{} is gone: nothing left to compare", bundle_held ? issuer : bundle));
  }
  predicted_ = std::move(now);
}

}  // namespace klaxon::certs
