// tests/certs/kubernetes_certificates_test.cpp — `klaxon certs --kubernetes` through the real
// kubectl against the test API server: TLS and Opaque Secrets, a ConfigMap bundle, webhook,
// CRD and APIService caBundles, with the source strings of the interface; pages; a forbidden
// kind; Linkerd's and Dapr's trust bundles checked; no byte of a non-certificate value out.
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "adapters/sources/child_process.hpp"
#include "tests/certs/test_certificates.hpp"
#include "tests/support/fake_kube_api.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

constexpr std::time_t kDay = 86400;

std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  out.resize(std::size_t(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                         reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()))));
  return out;
}

// {"k":"base64(v)",...} or {"k":"v"} (ConfigMap data, JSON-escaped PEM).
std::string data_json(const std::vector<std::pair<std::string, std::string>>& data, bool encode) {
  std::string out;
  for (const auto& [k, v] : data) {
    std::string value = encode ? base64(v) : v;
    std::string escaped;
    for (char c : value) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
    out += fmt::format(R"({}"{}":"{}")", out.empty() ? "" : ",", k, escaped);
  }
  return "{" + out + "}";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class KubernetesCertificates : public ::testing::Test {
 protected:
  void SetUp() override {
    if (sources::find_on_path("kubectl").empty()) {
      if (const char* ci = std::getenv("CI"); ci && std::string(ci) == "true") FAIL() << "kubectl is not on PATH";
      GTEST_SKIP() << "kubectl is not on PATH: these tests need the real binary";
    }
    std::ofstream(dir_.path() / "kubeconfig")
        << "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {server: '" << api_.url()
        << "'}\n  name: stub\ncontexts:\n- context: {cluster: stub, user: stub, namespace: default}\n"
           "  name: stub\ncurrent-context: stub\nusers:\n- name: stub\n  user: {}\n";
    const std::time_t now = std::time(nullptr);
    dapr_root_ = test::make_certificate(
        {.common_name = "cluster.local", .not_after = now + 20 * kDay, .ca = true});  // the seeds' Dapr scenario
    const auto dapr_issuer = test::make_certificate(
        {.common_name = "cluster.local", .not_after = now + 19 * kDay, .ca = true, .serial = 2, .issuer = &dapr_root_});
    put_secret("dapr-system", "dapr-trust-bundle", "Opaque",
               {{"ca.crt", dapr_root_.pem()}, {"issuer.crt", dapr_issuer.pem()}, {"issuer.key", dapr_issuer.key_pem()}});
    put_configmap("dapr-system", "dapr-trust-bundle", {{"ca.crt", dapr_root_.pem()}});

    web_ = test::make_certificate({.common_name = "web.example", .not_after = now + 200 * kDay,
                                   .subject_alt_names = "DNS:web.example"});
    put_secret("default", "web-tls", "kubernetes.io/tls", {{"tls.crt", web_.pem()}, {"tls.key", web_.key_pem()}});
    put_secret("default", "db-password", "Opaque", {{"password", kPassword}});

    // Linkerd: the issuer was re-issued from a root that is not in the trust bundle.
    const auto old_root = test::make_certificate({.common_name = "root.linkerd.cluster.local", .ca = true});
    const auto other_root = test::make_certificate({.common_name = "other-root", .ca = true});
    const auto stray_root = test::make_certificate({.common_name = "root.linkerd.cluster.local", .ca = true});
    const auto issuer = test::make_certificate(
        {.common_name = "identity.linkerd.cluster.local", .ca = true, .issuer = &stray_root});
    put_configmap("linkerd", "linkerd-identity-trust-roots", {{"ca-bundle.crt", old_root.pem() + other_root.pem()}});
    put_secret("linkerd", "linkerd-identity-issuer", "kubernetes.io/tls",
               {{"tls.crt", issuer.pem()}, {"tls.key", issuer.key_pem()}, {"ca.crt", stray_root.pem()}});

    const auto webhook_ca = test::make_certificate({.common_name = "istiod", .ca = true});
    api_.put_object("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", "", "istio-sidecar-injector",
                    fmt::format(R"({{"metadata":{{"name":"istio-sidecar-injector"}},"webhooks":[)"
                                R"({{"name":"a.sidecar-injector.istio.io","clientConfig":{{"caBundle":"{}"}}}},)"
                                R"({{"name":"b.sidecar-injector.istio.io","clientConfig":{{"caBundle":"{}"}}}}]}})",
                                base64(webhook_ca.pem()), base64(webhook_ca.pem())));
    api_.put_object("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", "", "empty",
                    R"({"metadata":{"name":"empty"},"webhooks":[{"name":"x","clientConfig":{"url":"https://x"}}]})");
    api_.put_object("apiextensions.k8s.io/v1", "customresourcedefinitions", "", "widgets.example.com",
                    fmt::format(R"({{"metadata":{{"name":"widgets.example.com"}},"spec":{{"conversion":{{"strategy":"Webhook",)"
                                R"("webhook":{{"clientConfig":{{"caBundle":"{}"}}}}}}}}}})",
                                base64(webhook_ca.pem())));
    api_.put_object("apiregistration.k8s.io/v1", "apiservices", "", "v1beta1.metrics.k8s.io",
                    fmt::format(R"({{"metadata":{{"name":"v1beta1.metrics.k8s.io"}},"spec":{{"caBundle":"{}"}}}})",
                                base64(webhook_ca.pem())));
    keys_ = {dapr_issuer.key_pem(), web_.key_pem(), issuer.key_pem()};
  }

  void put_secret(const std::string& ns, const std::string& name, const std::string& type,
                  const std::vector<std::pair<std::string, std::string>>& data) {
    api_.put_object("v1", "secrets", ns, name,
                    fmt::format(R"({{"metadata":{{"name":"{}","namespace":"{}"}},"type":"{}","data":{}}})", name, ns, type,
                                data_json(data, true)));
  }
  void put_configmap(const std::string& ns, const std::string& name,
                     const std::vector<std::pair<std::string, std::string>>& data) {
    api_.put_object("v1", "configmaps", ns, name,
                    fmt::format(R"({{"metadata":{{"name":"{}","namespace":"{}"}},"data":{}}})", name, ns,
                                data_json(data, false)));
  }

  test::CommandResult certs(const std::string& args) {
    const std::string d = dir_.path().string();
    return test::run_command(fmt::format("HOME={} KUBECACHEDIR={}/cache {} certs --format jsonl --kubernetes --kubeconfig {}/kubeconfig {}",
                                         d, d, KLAXON_BINARY, d, args));
  }

  void expect_nothing_secret(const std::string& text) {
    EXPECT_EQ(text.find(kPassword), std::string::npos);
    EXPECT_EQ(text.find(base64(kPassword)), std::string::npos);
    for (const std::string& key : keys_)
      for (const std::string& line : lines_of(key))
        if (!line.starts_with("-----")) {
          EXPECT_EQ(text.find(line.substr(0, 20)), std::string::npos) << "key bytes out";
        }
  }

  static constexpr const char* kPassword = "correct-horse-battery-staple";
  test::TempDir dir_;
  test::FakeKubeApi api_;
  test::MadeCertificate dapr_root_, web_;
  std::vector<std::string> keys_;
};

TEST_F(KubernetesCertificates, EveryKindIsInventoriedWithItsSourceString) {
  const auto r = certs("-A");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::vector<std::string> sources;
  for (const std::string& line : lines_of(r.out)) {
    const auto at = line.find(R"("source":")");
    if (line.starts_with(R"({"type":"certificate")")) sources.push_back(line.substr(at + 10, line.find('"', at + 10) - at - 10));
  }
  std::sort(sources.begin(), sources.end());
  EXPECT_EQ(sources, (std::vector<std::string>{
                         "apiservice:v1beta1.metrics.k8s.io",
                         "configmap:dapr-system/dapr-trust-bundle/ca.crt",
                         "configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt#1",
                         "configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt#2",
                         "crd:widgets.example.com",
                         "secret:dapr-system/dapr-trust-bundle/ca.crt",
                         "secret:dapr-system/dapr-trust-bundle/issuer.crt",
                         "secret:default/web-tls/tls.crt",
                         "secret:linkerd/linkerd-identity-issuer/ca.crt",
                         "secret:linkerd/linkerd-identity-issuer/tls.crt",
                         "webhook:MutatingWebhookConfiguration/istio-sidecar-injector/0",
                         "webhook:MutatingWebhookConfiguration/istio-sidecar-injector/1",
                     }));
  // Soonest first: the Dapr issuer (19 days), then its root (20 days): expiring_soon from the
  // Secret alone, with no log line.
  const auto lines = lines_of(r.out);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_NE(lines[0].find(R"("source":"secret:dapr-system/dapr-trust-bundle/issuer.crt")"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(R"("status":"expiring_soon")"), std::string::npos) << lines[0];
  expect_nothing_secret(r.out + r.err);
  EXPECT_EQ(certs("-A --fail-on warning").status, 1) << "the Dapr root ends in 20 days";
}

TEST_F(KubernetesCertificates, ALinkerdIssuerOutsideItsTrustRootsIsAPredictedBadSignature) {
  const auto r = certs("-n linkerd --fail-on critical");
  EXPECT_EQ(r.status, 1) << "a predicted bad signature is critical";
  std::vector<std::string> predictions;
  for (const std::string& line : lines_of(r.out))
    if (line.starts_with(R"({"type":"prediction")")) predictions.push_back(line);
  ASSERT_EQ(predictions.size(), 1u) << r.out;
  EXPECT_NE(predictions[0].find(
                R"("class":"cert_bad_signature","severity":"critical","certificate":{"source":"secret:linkerd/linkerd-identity-issuer/tls.crt","subject":"CN=identity.linkerd.cluster.local")"),
            std::string::npos)
      << predictions[0];
  EXPECT_NE(predictions[0].find(R"("bundle":"configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt")"),
            std::string::npos)
      << predictions[0];
  // -n: only that namespace's Secrets and ConfigMaps, and every cluster-scoped object.
  EXPECT_EQ(r.out.find("dapr-system"), std::string::npos);
  EXPECT_NE(r.out.find("crd:widgets.example.com"), std::string::npos);
  // Dapr's issuer is signed by its root: nothing predicted there.
  EXPECT_EQ(certs("-n dapr-system").out.find("prediction"), std::string::npos);
}

TEST_F(KubernetesCertificates, ListsArePagedAndAForbiddenKindLosesNothingElse) {
  for (int i = 0; i < 5030; ++i)
    put_configmap("default", fmt::format("plain-{:03}", i), {{"setting", "value"}});
  api_.forbid_resource("secrets");
  const auto r = certs("-A");
  EXPECT_NE(r.err.find("klaxon certs: cannot read kubernetes:secrets: forbidden: the account needs get, list and watch on secrets"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt#2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("apiservice:v1beta1.metrics.k8s.io"), std::string::npos);
  EXPECT_EQ(r.out.find(R"("source":"secret:)"), std::string::npos);
  int pages = 0;
  std::string asked;
  for (const std::string& request : api_.requests()) {
    if (request.starts_with("GET /api/v1/configmaps?") && request.find("limit=5000") != std::string::npos) ++pages;
    asked += request + "\n";
  }
  EXPECT_EQ(pages, 2) << "5,032 ConfigMaps in pages of 5,000\n" << asked;
}

}  // namespace
}  // namespace klaxon
