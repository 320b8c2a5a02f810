// adapters/certs/certificate_metrics.cpp — see the header.
#include "adapters/certs/certificate_metrics.hpp"

namespace klaxon::certs {
namespace {

// Valid UTF-8 stays; any other byte becomes U+FFFD (Prometheus refuses invalid label values).
std::string utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size() && !(n == 2 && c < 0xC2) && !(n == 4 && c > 0xF4);
    for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && n == 3) {  // no overlong forms, no surrogates
      const auto d = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xE0 && d < 0xA0) && !(c == 0xED && d >= 0xA0);
    }
    if (ok && n == 4) {
      const auto d = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xF0 && d < 0x90) && !(c == 0xF4 && d >= 0x90);
    }
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::string label(const InventoryCertificate& c, const char* name) {
  for (const auto& [k, v] : c.labels)
    if (k == name) return v;
  return "";
}

std::string common_name(const std::string& name) {
  for (std::size_t at = 0; at < name.size();) {
    const std::size_t end = std::min(name.find(',', at), name.size());
    if (name.compare(at, 3, "CN=") == 0) return name.substr(at + 3, end - at - 3);
    at = end + 1;
  }
  return "";
}

}  // namespace

void append_certificate_metrics(const CertificateLedger& ledger, std::vector<sinks::MetricFamily>& out) {
  sinks::MetricFamily not_after{"klaxon_certificate_not_after_seconds",
                                "When a certificate read where it is kept (--certs, --certs-kubernetes, --probe) "
                                "ends, unix seconds",
                                sinks::MetricFamily::Type::gauge,
                                {}};
  for (const auto& [source, certificate] : ledger.certificates()) {
    const InventoryCertificate c = to_inventory(certificate);
    Labels labels;
    for (const char* name : {"source_kind", "namespace", "name", "key", "path", "endpoint"})
      labels.emplace_back(name, utf8(label(c, name)));
    labels.emplace_back("subject_cn", utf8(common_name(c.subject)));
    labels.emplace_back("issuer_cn", utf8(common_name(c.issuer)));
    labels.emplace_back("serial", c.serial);
    not_after.add(std::move(labels), double(certificate.not_after));
  }
  out.push_back(std::move(not_after));
  sinks::MetricFamily errors{"klaxon_certificate_read_errors_total",
                             "Certificate sources that could not be read, by kind (the error is on standard error)",
                             sinks::MetricFamily::Type::counter,
                             {}};
  for (const auto& [kind, n] : ledger.read_errors()) errors.add({{"source", utf8(kind)}}, double(n));
  out.push_back(std::move(errors));
}

}  // namespace klaxon::certs
