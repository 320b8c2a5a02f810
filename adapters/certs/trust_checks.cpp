// adapters/certs/trust_checks.cpp — see the header.
#include "adapters/certs/trust_checks.hpp"

#include <map>
#include <memory>
#include <string_view>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace klaxon::certs {
namespace {

struct ObjectKey {
  std::string_view kind, name, key;  // secret|configmap, object name, data key
};

// An issuer (the first certificate under one of its keys) and the bundles that must hold its
// signer. Sources: Linkerd's identity docs ("linkerd-identity-issuer" Secret, the
// "linkerd-identity-trust-roots" ConfigMap), Dapr's sentry (the "dapr-trust-bundle" Secret's
// issuer.crt and ca.crt, and the ConfigMap of the same name that sidecars trust).
struct TrustPair {
  const char* mesh;
  std::vector<ObjectKey> issuers;
  std::vector<ObjectKey> bundles;
  std::vector<std::string> rule_prefixes;  // the packs whose trust failures this explains
  const char* fix;
};
const std::vector<TrustPair>& trust_pairs() {
  static const std::vector<TrustPair> pairs{
      {"Linkerd",
       {{"secret", "linkerd-identity-issuer", "crt.pem"}, {"secret", "linkerd-identity-issuer", "tls.crt"}},
       {{"configmap", "linkerd-identity-trust-roots", "ca-bundle.crt"}},
       {"linkerd.", "rustls."},
       "re-issue the issuer from a root the bundle holds (step certificate create identity.linkerd.cluster.local "
       "issuer.crt issuer.key --profile intermediate-ca --ca ca.crt --ca-key ca.key) and replace the Secret, or add "
       "the issuer's root to the bundle (linkerd upgrade --identity-trust-anchors-file); then kubectl -n linkerd "
       "rollout restart deploy/linkerd-identity and restart the meshed workloads"},
      {"Dapr",
       {{"secret", "dapr-trust-bundle", "issuer.crt"}},
       {{"secret", "dapr-trust-bundle", "ca.crt"}, {"configmap", "dapr-trust-bundle", "ca.crt"}},
       {"dapr."},
       "renew root and issuer together (dapr mtls renew-certificate -k --valid-until 365 --restart), or put the "
       "issuer's root into dapr-trust-bundle's ca.crt (Secret and ConfigMap alike); then restart the Dapr control "
       "plane and the sidecars"},
  };
  return pairs;
}

struct Parsed {
  std::string_view kind, ns, name, key;
  int index = 0;  // 0: alone, else #N
};

// secret:NS/NAME/KEY[#N] and configmap:NS/NAME/KEY[#N]; other sources are not objects.
bool parse_object_source(std::string_view source, Parsed& out) {
  const auto colon = source.find(':');
  if (colon == std::string_view::npos) return false;
  out.kind = source.substr(0, colon);
  if (out.kind != "secret" && out.kind != "configmap") return false;
  std::string_view rest = source.substr(colon + 1);
  if (const auto hash = rest.rfind('#'); hash != std::string_view::npos) {
    out.index = std::atoi(std::string(rest.substr(hash + 1)).c_str());
    rest = rest.substr(0, hash);
  }
  const auto slash1 = rest.find('/');
  const auto slash2 = slash1 == std::string_view::npos ? slash1 : rest.find('/', slash1 + 1);
  if (slash2 == std::string_view::npos) return false;
  out.ns = rest.substr(0, slash1);
  out.name = rest.substr(slash1 + 1, slash2 - slash1 - 1);
  out.key = rest.substr(slash2 + 1);
  return true;
}

bool is(const Parsed& p, const ObjectKey& k) { return p.kind == k.kind && p.name == k.name && p.key == k.key; }

std::unique_ptr<X509, decltype(&X509_free)> x509_of(const Certificate& c) {
  const auto* p = reinterpret_cast<const unsigned char*>(c.der.data());
  return {c.der.empty() ? nullptr : d2i_X509(nullptr, &p, long(c.der.size())), X509_free};
}

}  // namespace

bool signed_by(const Certificate& issuer, const Certificate& signer) {
  auto child = x509_of(issuer), parent = x509_of(signer);
  bool ok = child && parent && X509_check_issued(parent.get(), child.get()) == X509_V_OK &&
            X509_verify(child.get(), X509_get0_pubkey(parent.get())) == 1;
  ERR_clear_error();
  return ok;
}

std::vector<Prediction> check_trust_bundles(const std::vector<Certificate>& certificates) {
  std::vector<const Certificate*> all;
  all.reserve(certificates.size());
  for (const Certificate& c : certificates) all.push_back(&c);
  return check_trust_bundles(all);
}

std::vector<Prediction> check_trust_bundles(const std::vector<const Certificate*>& certificates) {
  std::vector<Prediction> out;
  for (const TrustPair& pair : trust_pairs()) {
    // By namespace: the issuer (first found) and each bundle's certificates.
    std::map<std::string_view, const Certificate*> issuer_in;
    std::map<std::pair<std::string_view, std::size_t>, std::vector<const Certificate*>> bundle_in;
    std::map<std::pair<std::string_view, std::size_t>, std::string> bundle_name;
    for (const Certificate* each : certificates) {
      const Certificate& c = *each;
      Parsed p;
      if (!parse_object_source(c.source, p)) continue;
      for (const ObjectKey& k : pair.issuers)
        if (is(p, k) && p.index <= 1 && !c.der.empty() && !issuer_in.contains(p.ns)) issuer_in[p.ns] = &c;
      for (std::size_t b = 0; b < pair.bundles.size(); ++b) {
        if (!is(p, pair.bundles[b])) continue;
        bundle_in[{p.ns, b}].push_back(&c);
        bundle_name[{p.ns, b}] = fmt::format("{}:{}/{}/{}", p.kind, p.ns, p.name, p.key);
      }
    }
    for (const auto& [ns, issuer] : issuer_in) {
      for (std::size_t b = 0; b < pair.bundles.size(); ++b) {
        const auto roots = bundle_in.find({ns, b});
        if (roots == bundle_in.end()) continue;  // the bundle is not in the inventory: nothing to compare
        bool chained = false;
        for (const Certificate* root : roots->second) chained = chained || signed_by(*issuer, *root);
        if (chained) continue;
        const std::string& bundle = bundle_name[{ns, b}];
        Prediction p;
        p.certificate = issuer;
        p.bundle = bundle;
        p.mesh = pair.mesh;
        p.rule_prefixes = pair.rule_prefixes;
        p.key = issuer->source + " " + bundle;
        p.fix = pair.fix;
        p.message = fmt::format(
            "{} issuer {} ({}) is not signed by any of the {} certificate{} in {}: workloads will fail mTLS with a bad "
            "signature / unknown authority. Fix: {}.",
            pair.mesh, issuer->source, issuer->subject, roots->second.size(), roots->second.size() == 1 ? "" : "s", bundle,
            pair.fix);
        out.push_back(std::move(p));
      }
    }
  }
  return out;
}

}  // namespace klaxon::certs
