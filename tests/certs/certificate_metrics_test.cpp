// tests/certs/certificate_metrics_test.cpp — the inventory on /metrics: one not_after series
// per certificate, labelled with what it is and where, label values valid UTF-8 and escaped
// whatever a certificate or a file name holds; read errors counted by kind of source.
#include "adapters/certs/certificate_metrics.hpp"

#include <gtest/gtest.h>

namespace klaxon::certs {
namespace {

Certificate cert(const std::string& source, const std::string& subject, Seconds not_after) {
  Certificate c;
  c.source = source;
  c.subject = subject;
  c.issuer = "CN=root \"ca\",O=example";
  c.serial = "2A";
  c.sha256 = source;
  c.not_after = not_after;
  return c;
}

TEST(CertificateMetrics, OneSeriesPerCertificateWithItsObjectAndNames) {
  CertificateLedger ledger;
  ledger.reconcile("kubernetes",
                   Inventory{{cert("secret:dapr-system/dapr-trust-bundle/ca.crt", "CN=cluster.local,O=dapr", 1800000000)},
                             {{"kubernetes:configmaps", "forbidden"}}},
                   {});
  ledger.reconcile("files", Inventory{{cert("file:/etc/pki/bad\xff\n.pem", "CN=caf\xc3\xa9 \xe0\x80\xaf", 1700000000)}, {}},
                   {});
  std::vector<sinks::MetricFamily> families;
  append_certificate_metrics(ledger, families);
  const std::string text = sinks::render_prometheus(families);
  EXPECT_NE(text.find("# TYPE klaxon_certificate_not_after_seconds gauge\n"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(klaxon_certificate_not_after_seconds{source_kind="secret",namespace="dapr-system",)"
                      R"(name="dapr-trust-bundle",key="ca.crt",path="",endpoint="",subject_cn="cluster.local",)"
                      R"(issuer_cn="root \"ca\"",serial="2A"} 1800000000)"),
            std::string::npos)
      << text;
  // A file name's stray byte and newline, an overlong UTF-8 form in a subject: replaced, escaped.
  EXPECT_NE(text.find("path=\"/etc/pki/bad\xef\xbf\xbd\\n.pem\""), std::string::npos) << text;
  EXPECT_NE(text.find("subject_cn=\"caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""), std::string::npos) << text;
  EXPECT_NE(text.find("klaxon_certificate_read_errors_total{source=\"kubernetes\"} 1\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace klaxon::certs
