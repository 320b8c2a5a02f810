// End to end: `klaxon kubectl ...` runs the real kubectl against a stub Kubernetes API server
// on 127.0.0.1 (tests/support/fake_kube_api.hpp). Every wait is a polled condition with a
// deadline; a hung klaxon or kubectl fails the test instead of hanging it.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "adapters/sources/child_process.hpp"
#include "tests/certs/test_certificates.hpp"
#include "tests/support/fake_kube_api.hpp"
#include "tests/support/klaxon_process.hpp"
#include "tests/support/peer.hpp"
#include "tests/support/process.hpp"


namespace klaxon {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kBin = KLAXON_BINARY;
constexpr auto kPatience = 40s;  // kubectl starts in about a second; a shared machine may be slow

// The real klaxon binary as a child (tests/support/process.hpp) with kubectl's environment.
class Klaxon : public test::KlaxonProcess {
 public:
  Klaxon(const std::vector<std::string>& args, const std::map<std::string, std::string>& env)
      : KlaxonProcess(args, test::ProcessOptions().with_env(env)) {}

  /// Polls until `done()` holds, klaxon exits or the patience runs out; returns done().
  bool wait_for(const std::function<bool()>& done, std::chrono::seconds patience = kPatience) {
    return KlaxonProcess::wait_for([&](const std::string&) { return done(); }, patience);
  }
  bool saw(const std::string& text) {
    return wait_for([&] { return out().find(text) != std::string::npos || err().find(text) != std::string::npos; });
  }
  int wait_exit(std::chrono::seconds patience = kPatience) { return KlaxonProcess::wait_exit(patience); }
  /// SIGTERM, as a service manager stops it; returns its exit status (-1: it hung).
  int terminate() { return stop(SIGTERM, 20s); }
  /// SIGKILL: klaxon gets no chance to clean up.
  void kill_hard() { crash(); }
};

// A line the built-in packs classify (go.x509 unknown authority), numbered so we can count it.
// It carries no time of its own, so its event time is kubectl's timestamp.
std::string tls_line(int seq) {
  return fmt::format("transport: failed to verify certificate: x509: certificate signed by unknown authority seq={}", seq);
}

int count_of(const std::string& output, int seq) {
  const std::string needle = fmt::format("unknown authority seq={}\"", seq);  // the jsonl "line" ends there
  int n = 0;
  for (auto at = output.find(needle); at != std::string::npos; at = output.find(needle, at + 1)) ++n;
  return n;
}

class KubectlSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KLAXON_REQUIRE_PEER(!sources::find_on_path("kubectl").empty(),
                        "kubectl is not on PATH: the kubectl source tests need the real binary (scripts/test installs it)");
    char tmpl[] = "/tmp/klaxon-kubectl-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    kubeconfig_ = dir_ + "/kubeconfig";
    std::ofstream(kubeconfig_) << "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {server: '" << api_.url()
                               << "'}\n  name: stub\ncontexts:\n- context: {cluster: stub, user: stub, namespace: default}\n"
                                  "  name: stub\ncurrent-context: stub\nusers:\n- name: stub\n  user: {}\n";
    api_.add_namespace("dapr-system");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // klaxon GLOBAL... kubectl --kubeconfig K ARGS..., with kubectl's caches in the temp dir.
  std::unique_ptr<Klaxon> start(const std::vector<std::string>& kubectl_args,
                                std::map<std::string, std::string> env = {}) {
    std::vector<std::string> args{"--format", "jsonl", "--matches", "kubectl", "--kubeconfig", kubeconfig_,
                                  "--poll-interval", "300ms"};
    args.insert(args.end(), kubectl_args.begin(), kubectl_args.end());
    env["HOME"] = dir_;
    env["KUBECACHEDIR"] = dir_ + "/cache";
    return std::make_unique<Klaxon>(args, env);
  }

  void log(const std::string& pod, int seq, Nanos time) { api_.append_log("dapr-system", pod, "sentry", time, tls_line(seq)); }
  bool attached(Klaxon& k, const std::string& pod) {
    return k.wait_for([&] { return api_.open_follows("dapr-system", pod) > 0; });
  }

  test::FakeKubeApi api_;
  std::string dir_, kubeconfig_;
};

// Three lines a second, two of them with one and the same timestamp: a restart from the
// newest timestamp (truncated to the second by the API) repeats lines that must be dropped.
Nanos stamp(int seq) {
  const Nanos base = 1718803191 * kNanosPerSecond;
  return base + (seq / 3) * kNanosPerSecond + (seq % 3 == 2 ? 1 : seq % 3) * 1000;
}

TEST_F(KubectlSourceTest, EveryLineExactlyOnceAcrossStreamCuts) {
  api_.add_pod("dapr-system", "sentry-a", {{"app", "sentry"}}, {"sentry"});
  for (int i = 0; i < 5; ++i) log("sentry-a", i, stamp(i));
  auto k = start({"-n", "dapr-system", "-l", "app=sentry"});
  ASSERT_TRUE(k->wait_for([&] { return count_of(k->out(), 4) > 0; })) << k->err();
  ASSERT_TRUE(attached(*k, "sentry-a"));

  int next = 5;
  for (int cut = 0; cut < 3; ++cut) {
    // Lines while connected, then the API server drops the stream, then lines only a restarted
    // kubectl can fetch.
    for (int end = next + 2; next < end; ++next) log("sentry-a", next, stamp(next));
    ASSERT_TRUE(k->wait_for([&] { return count_of(k->out(), next - 1) > 0; })) << k->err();
    api_.cut_log_streams("dapr-system", "sentry-a");
    for (int end = next + 2; next < end; ++next) log("sentry-a", next, stamp(next));
    ASSERT_TRUE(k->wait_for([&] { return count_of(k->out(), next - 1) > 0; })) << "cut " << cut << "\n" << k->err();
    ASSERT_TRUE(attached(*k, "sentry-a"));
  }
  EXPECT_EQ(k->terminate(), 0) << k->err();
  for (int i = 0; i < next; ++i) EXPECT_EQ(count_of(k->out(), i), 1) << "seq=" << i;

  // The restarts resumed from the newest timestamp, and were said and counted.
  int resumed = 0;
  for (const auto& r : api_.requests()) resumed += r.find("/log?") != std::string::npos && r.find("sinceTime=") != std::string::npos;
  EXPECT_GE(resumed, 3);
  EXPECT_NE(k->err().find("kubectl logs dapr-system/sentry-a/sentry ended (the API server closed the stream); restarting"),
            std::string::npos)
      << k->err();
  EXPECT_TRUE(std::regex_search(k->out(), std::regex(R"("source_events":\{[^}]*"kubectl_restarts":[3-9])"))) << k->out();
  // Namespace, pod and container from the source and the prefix; event time from the timestamp.
  EXPECT_NE(k->out().find(R"("labels":{"namespace":"dapr-system","pod":"sentry-a","container":"sentry")"), std::string::npos)
      << k->out().substr(0, 2000);
  EXPECT_NE(k->out().find(R"("time":"2024-06-19T13:19:52.000001Z")"), std::string::npos) << k->out().substr(0, 2000);
}

TEST_F(KubectlSourceTest, FollowsNewPodsAndLetsGoOfDeletedOnes) {
  api_.add_pod("dapr-system", "sentry-a", {{"app", "sentry"}}, {"sentry"});
  api_.add_pod("dapr-system", "other", {{"app", "other"}}, {"sentry"});
  log("sentry-a", 0, stamp(0));
  log("other", 900, stamp(0));
  auto k = start({"-n", "dapr-system", "-l", "app=sentry"});
  ASSERT_TRUE(k->wait_for([&] { return count_of(k->out(), 0) > 0; })) << k->err();

  // A rollout: a new pod appears, the old one goes.
  api_.add_pod("dapr-system", "sentry-b", {{"app", "sentry"}}, {"sentry"});
  for (int i = 100; i < 103; ++i) log("sentry-b", i, stamp(i));
  ASSERT_TRUE(k->wait_for([&] { return count_of(k->out(), 102) > 0; })) << k->err();
  api_.delete_pod("dapr-system", "sentry-a");
  ASSERT_TRUE(k->wait_for([&] { return api_.open_follows("dapr-system", "sentry-a") == 0; }));
  log("sentry-b", 103, stamp(103));
  ASSERT_TRUE(k->wait_for([&] { return count_of(k->out(), 103) > 0; })) << k->err();

  EXPECT_EQ(k->terminate(), 0) << k->err();
  for (int seq : {0, 100, 101, 102, 103}) EXPECT_EQ(count_of(k->out(), seq), 1) << "seq=" << seq;
  EXPECT_EQ(count_of(k->out(), 900), 0) << "a pod the selector does not match";
  EXPECT_NE(k->out().find(R"("pod":"sentry-b")"), std::string::npos);
  EXPECT_NE(k->out().find(R"({"type":"summary")"), std::string::npos) << "the summary is printed on SIGTERM";
}

TEST_F(KubectlSourceTest, AStalledStreamIsRestartedWithoutLoss) {
  api_.add_pod("dapr-system", "sentry-a", {{"app", "sentry"}}, {"sentry"});
  log("sentry-a", 0, stamp(0));
  auto k = start({"-n", "dapr-system", "pod/sentry-a", "--stall-timeout", "2s"});
  ASSERT_TRUE(k->wait_for([&] { return count_of(k->out(), 0) > 0; })) << k->err();
  ASSERT_TRUE(attached(*k, "sentry-a"));
  api_.stall_log_streams("dapr-system", "sentry-a");  // connected, but nothing comes any more
  for (int i = 1; i < 4; ++i) log("sentry-a", i, stamp(i));
  ASSERT_TRUE(k->wait_for([&] { return count_of(k->out(), 3) > 0; })) << k->err();
  // Then it is quiet: restarted again after 2s, and again, but said only the first time.
  auto follows = [&] {
    int n = 0;
    for (const std::string& r : api_.requests()) n += r.find("/pods/sentry-a/log?") != std::string::npos && r.find("follow=true") != std::string::npos;
    return n;
  };
  ASSERT_TRUE(k->wait_for([&] { return follows() >= 3; })) << k->err();
  EXPECT_EQ(k->terminate(), 0) << k->err();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(count_of(k->out(), i), 1) << "seq=" << i;
  const std::string said = "kubectl logs dapr-system/sentry-a/sentry ended (silent for 2s, stopped); restarting";
  EXPECT_NE(k->err().find(said), std::string::npos) << k->err();
  EXPECT_EQ(k->err().find(said), k->err().rfind(said)) << "said once: " << k->err();
  EXPECT_TRUE(std::regex_search(k->out(), std::regex(R"("source_events":\{[^}]*"kubectl_restarts":[2-9])"))) << k->out();
}

TEST_F(KubectlSourceTest, FollowsADeploymentsPods) {
  api_.add_deployment("dapr-system", "dapr-sentry", {{"app", "sentry"}});
  api_.add_pod("dapr-system", "sentry-a", {{"app", "sentry"}}, {"sentry"});
  api_.add_pod("dapr-system", "other", {{"app", "other"}}, {"sentry"});
  log("sentry-a", 0, stamp(0));
  log("other", 900, stamp(0));
  auto k = start({"-n", "dapr-system", "deploy/dapr-sentry"});
  ASSERT_TRUE(k->wait_for([&] { return count_of(k->out(), 0) > 0; })) << k->err();
  api_.add_pod("dapr-system", "sentry-b", {{"app", "sentry"}}, {"sentry"});
  log("sentry-b", 1, stamp(1));
  ASSERT_TRUE(k->wait_for([&] { return count_of(k->out(), 1) > 0; })) << k->err();
  EXPECT_EQ(k->terminate(), 0) << k->err();
  EXPECT_EQ(count_of(k->out(), 900), 0);
}

TEST_F(KubectlSourceTest, AllContainersAreOneStreamEach) {
  api_.add_pod("dapr-system", "app-0", {{"app", "web"}}, {"web", "daprd"});
  api_.append_log("dapr-system", "app-0", "web", stamp(0), tls_line(0));
  api_.append_log("dapr-system", "app-0", "daprd", stamp(0), tls_line(1));  // the same instant, another container
  auto k = start({"-n", "dapr-system", "-l", "app=web", "--all-containers"});
  ASSERT_TRUE(k->wait_for([&] { return count_of(k->out(), 0) > 0 && count_of(k->out(), 1) > 0; })) << k->err();
  EXPECT_EQ(k->terminate(), 0) << k->err();
  EXPECT_NE(k->out().find(R"("source":"dapr-system/app-0/web")"), std::string::npos);
  EXPECT_NE(k->out().find(R"("labels":{"namespace":"dapr-system","pod":"app-0","container":"daprd"})"), std::string::npos)
      << k->out().substr(0, 2000);
}

TEST_F(KubectlSourceTest, AllNamespacesKeepTheirOwnNamespaceLabel) {
  api_.add_pod("dapr-system", "sentry-a", {{"app", "sentry"}}, {"sentry"});
  api_.add_pod("linkerd", "sentry-a", {{"app", "sentry"}}, {"sentry"});  // the same pod name elsewhere
  log("sentry-a", 0, stamp(0));
  api_.append_log("linkerd", "sentry-a", "sentry", stamp(0), tls_line(1));
  auto k = start({"-A", "-l", "app=sentry"});
  ASSERT_TRUE(k->wait_for([&] { return count_of(k->out(), 0) > 0 && count_of(k->out(), 1) > 0; })) << k->err();
  EXPECT_EQ(k->terminate(), 0) << k->err();
  EXPECT_NE(k->out().find(R"("source":"linkerd/sentry-a/sentry")"), std::string::npos);
  EXPECT_NE(k->out().find(R"("labels":{"namespace":"linkerd","pod":"sentry-a","container":"sentry"})"), std::string::npos)
      << k->out().substr(0, 2000);
}

TEST_F(KubectlSourceTest, ChildrenDieWithKlaxonEvenOnSigkill) {
  api_.add_pod("dapr-system", "sentry-a", {{"app", "sentry"}}, {"sentry"});
  auto k = start({"-n", "dapr-system", "-l", "app=sentry"});
  ASSERT_TRUE(attached(*k, "sentry-a")) << k->err();
  k->kill_hard();
  const auto deadline = Clock::now() + kPatience;
  while (api_.open_follows("dapr-system", "sentry-a") > 0 && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(api_.open_follows("dapr-system", "sentry-a"), 0) << "kubectl outlived klaxon";
}

TEST_F(KubectlSourceTest, ForbiddenIsAClearFatalError) {
  api_.add_pod("dapr-system", "sentry-a", {{"app", "sentry"}}, {"sentry"});
  api_.forbid(true);
  auto k = start({"-n", "dapr-system", "-l", "app=sentry"});
  EXPECT_EQ(k->wait_exit(), 2) << k->err();
  EXPECT_NE(k->err().find("klaxon: kubectl: Error from server (Forbidden): pods is forbidden"), std::string::npos) << k->err();
}

TEST_F(KubectlSourceTest, MissingNamespaceIsAClearFatalError) {
  auto k = start({"-n", "no-such-namespace", "-l", "app=sentry"});
  EXPECT_EQ(k->wait_exit(), 2) << k->err();
  EXPECT_NE(k->err().find(R"(namespace "no-such-namespace" not found)"), std::string::npos) << k->err();
}

TEST_F(KubectlSourceTest, TheStreamBoundIsSaid) {
  for (const char* pod : {"sentry-a", "sentry-b", "sentry-c"}) api_.add_pod("dapr-system", pod, {{"app", "sentry"}}, {"sentry"});
  auto k = start({"-n", "dapr-system", "-l", "app=sentry", "--max-streams", "2"});
  EXPECT_TRUE(k->saw("following 2 of 3 containers (--max-streams 2)")) << k->err();
  EXPECT_EQ(k->terminate(), 0) << k->err();
}

// --certs-kubernetes: the seeds' Dapr scenario through the real kubectl. The trust-anchor Secret
// alone raises cert_expiring_soon (no log line says a word); the sidecar's later "certificate
// has expired ... is after T" lines (T its not_after) fold into that incident; replacing the
// Secret's certificate with a later one while klaxon runs resolves it. No byte of the key out.
TEST_F(KubectlSourceTest, TheTrustBundleSecretPredictsAndTheSidecarLinesJoinIt) {
  const std::time_t now = std::time(nullptr);
  const auto root = test::make_certificate({.common_name = "cluster.local", .not_after = now + 20 * 86400, .ca = true});
  auto put_bundle = [&](const test::MadeCertificate& ca) {
    api_.put_object("v1", "secrets", "dapr-system", "dapr-trust-bundle",
                    fmt::format(R"({{"metadata":{{"name":"dapr-trust-bundle","namespace":"dapr-system"}},"type":"Opaque",)"
                                R"("data":{{"ca.crt":"{}","issuer.key":"{}"}}}})",
                                test::base64(ca.pem()), test::base64(ca.key_pem())));
  };
  put_bundle(root);
  api_.add_pod("dapr-system", "orders-1", {{"app", "orders"}}, {"daprd"});
  auto k = start({"-n", "dapr-system", "-l", "app=orders", "--certs-kubernetes", "--probe-interval", "1s"});
  const std::string source = R"("source":"secret:dapr-system/dapr-trust-bundle/ca.crt")";
  ASSERT_TRUE(k->wait_for([&] { return k->out().find(source) != std::string::npos; })) << k->out() << k->err();
  std::smatch m;
  const std::string first_out = k->out();
  ASSERT_TRUE(std::regex_search(first_out, m, std::regex(R"re(\{"type":"incident","event":"opened".*"id":"([0-9a-f]+)".*"class":"cert_expiring_soon","severity":"warning".*)re" + source)))
      << k->out();
  const std::string id = m[1];

  const std::string not_after = format_rfc3339(Nanos(now + 20 * 86400) * kNanosPerSecond);
  ASSERT_TRUE(attached(*k, "orders-1"));
  api_.append_log("dapr-system", "orders-1", "daprd", Nanos(now) * kNanosPerSecond,
                  R"({"app_id":"orders","instance":"orders-1","level":"fatal","msg":"Fatal error from runtime: failed to retrieve the initial identity certificate: error from sentry SignCertificate: rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time )" +
                      not_after + " is after " + not_after + R"(\"","scope":"dapr.runtime","type":"log","ver":"1.14.4"})");
  const std::string joined = fmt::format(R"("id":"{}","rule":"certificate.inventory","class":"cert_expired")", id);
  ASSERT_TRUE(k->wait_for([&] { return k->out().find(joined) != std::string::npos; })) << k->out() << k->err();
  EXPECT_NE(k->out().find(R"("pods":["orders-1"])"), std::string::npos) << k->out();
  std::size_t opened = 0;
  for (auto at = k->out().find(R"("event":"opened")"); at != std::string::npos; at = k->out().find(R"("event":"opened")", at + 1))
    ++opened;
  EXPECT_EQ(opened, 1u) << "the sidecar's line opened no incident of its own\n" << k->out();

  const auto renewed = test::make_certificate({.common_name = "cluster.local", .not_after = now + 400 * 86400, .ca = true});
  put_bundle(renewed);
  ASSERT_TRUE(k->wait_for([&] {
    return std::regex_search(k->out(), std::regex(R"re("event":"resolved".*"id":")re" + id + R"re(".*"open":false)re"));
  })) << k->out() << k->err();
  EXPECT_NE(k->out().find("now holds a later certificate"), std::string::npos) << k->out();

  // Watched, not listed again: one list of the Secrets, then a watch from its resourceVersion.
  auto requests_of = [&](const std::string& prefix) {
    int n = 0;
    for (const std::string& r : api_.requests()) n += r.starts_with(prefix);
    return n;
  };
  const std::string list = "GET /api/v1/namespaces/dapr-system/secrets?limit=";
  EXPECT_EQ(requests_of(list), 1);
  EXPECT_GE(requests_of("GET /api/v1/namespaces/dapr-system/secrets?allowWatchBookmarks=true&resourceVersion="), 1)
      << ::testing::PrintToString(api_.requests());
  // A watch dropped mid-stream (no ERROR event, as a connection cut or the API server's watch
  // timeout ends it) is resumed from the last resourceVersion it carried: the renewed bundle's,
  // 9 (the first put was 8). No new list, and what changed while it was away is seen.
  const std::string watch = "GET /api/v1/namespaces/dapr-system/secrets?allowWatchBookmarks=true&resourceVersion=";
  ASSERT_EQ(requests_of(watch + "9&"), 0) << ::testing::PrintToString(api_.requests());
  api_.cut_watches();
  const auto db = test::make_certificate({.common_name = "db", .not_after = now + 2 * 86400});
  api_.put_object("v1", "secrets", "dapr-system", "db-tls",
                  fmt::format(R"({{"metadata":{{"name":"db-tls","namespace":"dapr-system"}},"type":"kubernetes.io/tls",)"
                              R"("data":{{"tls.crt":"{}"}}}})",
                              test::base64(db.pem())));
  ASSERT_TRUE(k->wait_for([&] {
    return std::regex_search(k->out(), std::regex(R"re("event":"opened".*"severity":"critical".*"source":"secret:dapr-system/db-tls/tls.crt")re"));
  })) << k->out() << k->err();
  EXPECT_EQ(requests_of(list), 1) << ::testing::PrintToString(api_.requests());
  EXPECT_GE(requests_of(watch + "9&"), 1) << ::testing::PrintToString(api_.requests());

  // 410 Gone (etcd compacted the version): listed again, and what changed meanwhile is seen.
  api_.expire_watches();
  const auto web = test::make_certificate({.common_name = "web", .not_after = now + 3 * 86400});
  api_.put_object("v1", "secrets", "dapr-system", "web-tls",
                  fmt::format(R"({{"metadata":{{"name":"web-tls","namespace":"dapr-system"}},"type":"kubernetes.io/tls",)"
                              R"("data":{{"tls.crt":"{}"}}}})",
                              test::base64(web.pem())));
  ASSERT_TRUE(k->wait_for([&] {
    return std::regex_search(k->out(), std::regex(R"re("event":"opened".*"severity":"critical".*"source":"secret:dapr-system/web-tls/tls.crt")re"));
  })) << k->out() << k->err();
  EXPECT_EQ(requests_of(list), 2);
  EXPECT_EQ(k->terminate(), 0) << k->err();
  for (const auto& key : {root.key_pem(), renewed.key_pem()}) {
    const std::string body = key.substr(key.find('\n') + 1, 40);
    EXPECT_EQ(k->out().find(body), std::string::npos);
    EXPECT_EQ(k->err().find(body), std::string::npos);
  }
  bool listed = false;
  for (const std::string& r : api_.requests()) listed = listed || r.starts_with("GET /api/v1/namespaces/dapr-system/secrets?limit=");
  EXPECT_TRUE(listed) << "the Secrets of kubectl's namespace, through kubectl";
}

// --certs-kubernetes, Linkerd: an identity issuer that the trust roots do not sign is one
// predicted cert_bad_signature incident before any proxy logs a word, naming both objects and
// the fix; the proxy's BadSignature line folds into it (no incident of its own); re-issuing the
// issuer from a root the bundle holds resolves it while klaxon runs.
TEST_F(KubectlSourceTest, ALinkerdIssuerOutsideItsTrustRootsIsPredictedBeforeAnyProxySaysSo) {
  api_.add_namespace("linkerd");
  const auto root = test::make_certificate({.common_name = "root.linkerd.cluster.local", .ca = true});
  const auto stray = test::make_certificate({.common_name = "root.linkerd.cluster.local", .ca = true});
  auto put_issuer = [&](const test::MadeCertificate& signer, long serial) {
    const auto issuer = test::make_certificate(
        {.common_name = "identity.linkerd.cluster.local", .ca = true, .serial = serial, .issuer = &signer});
    api_.put_object("v1", "secrets", "linkerd", "linkerd-identity-issuer",
                    fmt::format(R"({{"metadata":{{"name":"linkerd-identity-issuer","namespace":"linkerd"}},)"
                                R"("type":"kubernetes.io/tls","data":{{"tls.crt":"{}","tls.key":"{}"}}}})",
                                test::base64(issuer.pem()), test::base64(issuer.key_pem())));
    return issuer.key_pem();
  };
  std::string pem;
  for (char c : root.pem()) pem += c == '\n' ? std::string("\\n") : std::string(1, c);
  api_.put_object("v1", "configmaps", "linkerd", "linkerd-identity-trust-roots",
                  fmt::format(R"({{"metadata":{{"name":"linkerd-identity-trust-roots","namespace":"linkerd"}},)"
                              R"("data":{{"ca-bundle.crt":"{}"}}}})",
                              pem));
  const std::string stray_key = put_issuer(stray, 2);
  api_.add_pod("linkerd", "web-1", {{"app", "web"}}, {"linkerd-proxy"});
  auto k = start({"-n", "linkerd", "-l", "app=web", "--certs-kubernetes"});
  std::smatch m;
  std::string seen;  // the match's text lives as long as `m` is read
  const std::regex predicted(
      R"re(\{"type":"incident","event":"opened".*"id":"([0-9a-f]+)","rule":"certificate.trust_check","class":"cert_bad_signature","severity":"critical".*)re");
  ASSERT_TRUE(k->wait_for([&] { return std::regex_search(seen = k->out(), m, predicted); })) << k->out() << k->err();
  const std::string id = m[1], opened = m[0];
  for (const char* both : {"secret:linkerd/linkerd-identity-issuer/tls.crt", "configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt",
                           "step certificate create identity.linkerd.cluster.local"})
    EXPECT_NE(opened.find(both), std::string::npos) << both << "\n" << opened;
  EXPECT_NE(opened.find(R"("certificate":{"source":"secret:linkerd/linkerd-identity-issuer/tls.crt","subject":"CN=identity.linkerd.cluster.local")"),
            std::string::npos)
      << opened;
  EXPECT_EQ(k->out().find(R"("type":"match")"), std::string::npos) << "predicted before any line";

  ASSERT_TRUE(k->wait_for([&] { return api_.open_follows("linkerd", "web-1") > 0; }));
  api_.append_log("linkerd", "web-1", "linkerd-proxy", Nanos(std::time(nullptr)) * kNanosPerSecond,
                  "[ 84322.120348s]  WARN ThreadId(02) outbound:proxy{addr=10.96.12.4:8080}:service{ns=emojivoto name=voting-svc "
                  "port=8080}:endpoint{addr=10.244.2.17:8080}: linkerd_reconnect: Failed to connect error=invalid peer "
                  "certificate: BadSignature");
  ASSERT_TRUE(k->wait_for([&] { return k->out().find(R"("type":"match")") != std::string::npos; })) << k->out() << k->err();
  EXPECT_NE(k->out().find(R"("rule":"linkerd.proxy_bad_signature")"), std::string::npos) << k->out();

  put_issuer(root, 3);  // re-issued from the root the bundle holds
  ASSERT_TRUE(k->wait_for([&] {
    return std::regex_search(k->out(), std::regex(R"re("event":"resolved".*"id":")re" + id + R"re(".*"open":false)re"));
  })) << k->out() << k->err();
  EXPECT_NE(k->out().find("is signed by a root in configmap:linkerd/linkerd-identity-trust-roots/ca-bundle.crt again"),
            std::string::npos)
      << k->out();
  EXPECT_EQ(k->terminate(), 0) << k->err();
  std::size_t opened_events = 0;
  for (auto at = k->out().find(R"("event":"opened")"); at != std::string::npos; at = k->out().find(R"("event":"opened")", at + 1))
    ++opened_events;
  EXPECT_EQ(opened_events, 1u) << "the proxy's line opened no incident of its own\n" << k->out();
  EXPECT_TRUE(std::regex_search(k->out(), std::regex(R"re("type":"summary".*"id":")re" + id + R"re(".*"count":1,.*"pods":\["web-1"\])re")))
      << k->out();
  const std::string body = stray_key.substr(stray_key.find('\n') + 1, 40);
  EXPECT_EQ(k->out().find(body), std::string::npos);
  EXPECT_EQ(k->err().find(body), std::string::npos);
}

// --state-dir keeps the inventory's incidents ("never forget on restart"). A Secret whose
// certificate ends in 10 days opens cert_expiring_soon; klaxon is stopped and started again on
// the same directory: the Secret read again pages nobody a second time (no "opened"), the
// incident keeps its id, and replacing the Secret's certificate with a later one still resolves
// it. A Secret deleted while klaxon was down ends its incident (removed) at the first reading.
TEST_F(KubectlSourceTest, CertificateIncidentsSurviveARestart) {
  const std::time_t now = std::time(nullptr);
  auto put_tls = [&](const std::string& name, const test::MadeCertificate& c) {
    api_.put_object("v1", "secrets", "dapr-system", name,
                    fmt::format(R"({{"metadata":{{"name":"{}","namespace":"dapr-system"}},"type":"kubernetes.io/tls",)"
                                R"("data":{{"tls.crt":"{}","tls.key":"{}"}}}})",
                                name, test::base64(c.pem()), test::base64(c.key_pem())));
  };
  put_tls("db-tls", test::make_certificate({.common_name = "db", .not_after = now + 10 * 86400}));
  put_tls("web-tls", test::make_certificate({.common_name = "web", .not_after = now + 12 * 86400}));
  api_.add_pod("dapr-system", "orders-1", {{"app", "orders"}}, {"daprd"});
  const std::vector<std::string> args{"-n", "dapr-system", "-l", "app=orders", "--certs-kubernetes",
                                      "--state-dir", dir_ + "/state", "--listen", "127.0.0.1:0"};
  auto opened_id = [](const std::string& out, const std::string& name) {
    std::smatch m;
    const std::regex opened(R"re(\{"type":"incident","event":"opened".*"id":"([0-9a-f]+)".*"class":"cert_expiring_soon".*"source":"secret:dapr-system/)re" +
                            name + R"re(/tls.crt")re");
    return std::regex_search(out, m, opened) ? std::string(m[1]) : std::string();
  };
  std::string db_id, web_id;
  {
    auto k = start(args);
    ASSERT_TRUE(k->wait_for([&] { return !opened_id(k->out(), "db-tls").empty() && !opened_id(k->out(), "web-tls").empty(); }))
        << k->out() << k->err();
    db_id = opened_id(k->out(), "db-tls");
    web_id = opened_id(k->out(), "web-tls");
    EXPECT_EQ(k->terminate(), 0) << k->err();
  }
  api_.delete_object("v1", "secrets", "dapr-system", "web-tls");

  auto k = start(args);
  ASSERT_TRUE(k->saw("2 open incidents")) << k->err();
  const std::string at = k->address();
  // The first reading after the restart is taken (the inventory is on /metrics)...
  ASSERT_TRUE(k->wait_for([&] { return test::http_get(at, "/metrics").body.find(R"(name="db-tls")") != std::string::npos; }))
      << k->err();
  // ...and ends the deleted Secret's incident, under its first id.
  ASSERT_TRUE(k->wait_for([&] {
    return std::regex_search(k->out(), std::regex(R"re("event":"resolved".*"id":")re" + web_id + R"re(".*holds no certificate any more \(removed\))re"));
  })) << k->out() << k->err();
  put_tls("db-tls", test::make_certificate({.common_name = "db", .not_after = now + 400 * 86400, .serial = 7}));
  ASSERT_TRUE(k->wait_for([&] {
    return std::regex_search(k->out(), std::regex(R"re("event":"resolved".*"id":")re" + db_id + R"re(".*now holds a later certificate)re"));
  })) << k->out() << k->err();
  EXPECT_EQ(k->terminate(), 0) << k->err();
  EXPECT_EQ(k->out().find(R"("event":"opened")"), std::string::npos) << "a restart pages nobody twice\n" << k->out();
}

// Bad input in the live sources (issue 23): a garbage "PEM" and a truncated DER in a --certs
// directory, a 50 MiB Secret. Each is one error on stderr naming that source and counted on
// /metrics by its kind; everything else goes on (the good file beside them, with no SAN, a
// negative serial and an end past 2049, and the good Secret). An endpoint that is not TLS or
// hangs: tests/certs/tls_probe_test.cpp.
TEST_F(KubectlSourceTest, EveryBadCertificateSourceIsOneNamedErrorAndACountAndTheRestGoesOn) {
  const std::time_t now = std::time(nullptr);
  const fs::path certs = fs::path(dir_) / "certs";
  fs::create_directories(certs);
  std::ofstream(certs / "garbage.pem") << "-----BEGIN CERTIFICATE-----\nthis is not base64 at all!\n-----END CERTIFICATE-----\n";
  const std::string der = test::make_certificate({.common_name = "cut"}).der();
  std::ofstream(certs / "truncated.der", std::ios::binary) << der.substr(0, der.size() / 2);
  const std::time_t far = 4102444800 + 10 * 365 * 86400;  // 2059
  std::ofstream(certs / "odd.pem") << test::make_certificate({.common_name = "odd", .not_after = far, .serial = -5}).pem();
  const auto db = test::make_certificate({.common_name = "db", .not_after = now + 5 * 86400});
  api_.put_object("v1", "secrets", "dapr-system", "db-tls",
                  fmt::format(R"({{"metadata":{{"name":"db-tls","namespace":"dapr-system"}},"type":"kubernetes.io/tls",)"
                              R"("data":{{"tls.crt":"{}"}}}})",
                              test::base64(db.pem())));
  api_.put_object("v1", "secrets", "dapr-system", "huge",
                  fmt::format(R"({{"metadata":{{"name":"huge","namespace":"dapr-system"}},"type":"Opaque",)"
                              R"("data":{{"blob":"{}"}}}})",
                              test::base64(std::string(std::size_t{50} << 20, 'x'))));
  api_.add_pod("dapr-system", "orders-1", {{"app", "orders"}}, {"daprd"});
  auto k = start({"-n", "dapr-system", "-l", "app=orders", "--certs-kubernetes", "--certs", certs.string(), "--listen", "127.0.0.1:0"});
  const std::string at = k->address();
  ASSERT_TRUE(k->wait_for([&] {
    return std::regex_search(k->out(), std::regex(R"re("event":"opened".*"severity":"critical".*"source":"secret:dapr-system/db-tls/tls.crt")re"));
  })) << k->out() << k->err();
  for (const std::string& said :
       {"klaxon: cannot read certificates at file:" + (certs / "garbage.pem").string() + ": a certificate block that is not base64 (damaged PEM)",
        "klaxon: cannot read certificates at file:" + (certs / "truncated.der").string() + ": not a valid X.509 certificate (truncated or damaged DER)",
        std::string("klaxon: cannot read certificates at secret:dapr-system/huge: an object of 66.7 MiB, more than the 32 MiB one may be; not read")})
    EXPECT_TRUE(k->saw(said)) << said << "\n" << k->err();
  std::string metrics;
  ASSERT_TRUE(k->wait_for([&] {
    metrics = test::http_get(at, "/metrics").body;
    return metrics.find(R"(klaxon_certificate_read_errors_total{source="secret"} 1)") != std::string::npos;
  })) << metrics;
  // Counted per failed read: the directory is read again while a file in it fails.
  EXPECT_TRUE(std::regex_search(metrics, std::regex(R"re(klaxon_certificate_read_errors_total\{source="file"\} ([2-9]|[1-9][0-9]+)\n)re")))
      << metrics;
  // The good file beside the bad ones: read whole, exactly.
  EXPECT_TRUE(std::regex_search(metrics, std::regex(R"re(klaxon_certificate_not_after_seconds\{source_kind="file",[^}]*subject_cn="odd",[^}]*serial="-05"\} 4417804800)re")))
      << metrics;
  EXPECT_EQ(k->terminate(), 0) << k->err();
}

TEST(KubectlSource, MissingKubectlIsAClearFatalError) {
  Klaxon k({"kubectl", "-n", "x", "-l", "app=y"}, {{"PATH", "/nonexistent"}});
  EXPECT_EQ(k.wait_exit(), 2) << k.err();
  EXPECT_NE(k.err().find("kubectl is not on PATH"), std::string::npos) << k.err();
}

TEST(KubectlSource, UnsupportedArgumentsAreUsageErrors) {
  Klaxon k({"kubectl", "-n", "x", "--bogus"}, {});
  EXPECT_EQ(k.wait_exit(), 2) << k.err();
  EXPECT_NE(k.err().find("--bogus is not supported here"), std::string::npos) << k.err();
}

}  // namespace
}  // namespace klaxon
