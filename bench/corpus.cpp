#include "bench/corpus.hpp"

#include <array>
#include <random>
#include <string_view>

#include <fmt/format.h>

namespace klaxon::bench {
namespace {

// Real incident lines of the kinds the shipped packs catch (from the seeds and the emitters).
constexpr std::array<std::string_view, 8> kIncidents = {
    R"({"app_id":"app1","instance":"app1-5d8c9b7f6-x2x4q","level":"error","msg":"error starting server: error from authenticator CreateSignedWorkloadCert: error from sentry SignCertificate: rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2023-06-19T13:19:51Z is after 2023-06-16T12:31:17Z\"","scope":"dapr.runtime.grpc.internal","time":"2023-06-19T13:19:53.535259601Z","type":"log","ver":"1.10.4"})",
    R"({"instance":"dapr-sentry-7c8d9f6b5-x2x4q","level":"warning","msg":"Dapr root certificate expiration warning: certificate expires in 2 days and 15 hours","scope":"dapr.sentry","time":"2023-06-14T00:49:06.566339341Z","type":"log","ver":"1.10.4"})",
    "[ 86175.042377s]  WARN ThreadId(01) identity:identity{server.addr=linkerd-identity-headless.linkerd.svc.cluster.local:8080}: linkerd_reconnect: Failed to connect error=endpoint 10.244.1.111:8080: invalid peer certificate: BadSignature error.sources=[invalid peer certificate: BadSignature]",
    R"(W0601 02:52:46.530879       1 reflector.go:347] pkg/mod/k8s.io/client-go@v0.26.1/tools/cache/reflector.go:169: watch of *v1.Secret ended with: an error on the server ("unable to decode an event from the watch stream: http2: client connection lost") has prevented the request from succeeding)",
    R"(E0619 13:20:16.584012    2345 pod_workers.go:1294] "Error syncing pod, skipping" err="failed to \"StartContainer\" for \"daprd\" with CrashLoopBackOff: \"back-off 20s restarting failed container=daprd pod=app27-5d8c9b7f6-m49bw_default(8f000027)\"" pod="default/app27-5d8c9b7f6-m49bw")",
    "2023/06/19 13:20:01 [error] 31#31: *1045 upstream SSL certificate verify error: (10:certificate has expired) while SSL handshaking to upstream, client: 10.0.0.7, server: api.example.com",
    "javax.net.ssl.SSLHandshakeException: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target",
    "[ 12.000001s]  WARN ThreadId(02) outbound: linkerd_reconnect: Failed to connect error=invalid peer certificate: certificate expired: verification time 1761231823 (UNIX), but certificate is not valid after 1761177843 (53980 seconds ago)",
};

constexpr std::array<std::string_view, 12> kVerbs = {"Reconciling", "Updated status", "Listing and watching",
                                                     "Handling request", "Sending heartbeat", "Cache synced",
                                                     "Leader election renewed", "Processing event", "Starting workers",
                                                     "Successfully assigned", "Pulling image", "Created container"};
constexpr std::array<std::string_view, 8> kThings = {"deployment/web", "service/api", "pod/app-7d9f", "configmap/settings",
                                                     "secret/db-creds", "ingress/main", "statefulset/redis", "job/backup"};

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  std::string payload(std::uint64_t n) {
    const unsigned kind = pick(9);
    const auto verb = kVerbs[pick(kVerbs.size())];
    const auto thing = kThings[pick(kThings.size())];
    switch (kind) {
      case 0:
        return fmt::format(R"({{"instance":"app{}-5d8c9b7f6-x2x4q","level":"info","msg":"{} {}","scope":"dapr.runtime","time":"{}","type":"log","ver":"1.10.4"}})",
                           pick(40), verb, thing, iso(n));
      case 1:
        return fmt::format(R"({{"level":"info","msg":"{} {}","time":"{}","request_id":"{:08x}"}})", verb, thing, iso(n), rng_());
      case 2:
        return fmt::format(R"({{"level":"info","ts":{}.{:03},"logger":"controller.{}","msg":"{}","namespace":"default","name":"{}","reconcileID":"{:08x}-{:04x}"}})",
                           1686919877 + n / 1000, n % 1000, pick(5), verb, thing, rng_(), pick(65536));
      case 3:
        return fmt::format("I0619 13:{:02}:{:02}.{:06}       1 reflector.go:{}] {} *v1.Pod from k8s.io/client-go/informers/factory.go:150",
                           n / 60000 % 60, n / 1000 % 60, n % 1000000, 200 + pick(100), verb);
      case 4:
        return fmt::format(R"(time="{}" level=info msg="{} {}" component=operator duration={}ms)", iso(n), verb, thing, pick(900));
      case 5:
        return fmt::format("[{:>6}.{:06}s]  INFO ThreadId(0{}) inbound:server{{port=8080}}: linkerd_app_inbound::detect: Handling connection from 10.244.{}.{}",
                           n / 1000, n % 1000000, 1 + pick(4), pick(255), pick(255));
      case 6:
        return fmt::format(R"x(10.0.{}.{} - - [19/Jun/2023:13:19:53 +0000] "GET /api/v1/items/{} HTTP/1.1" 200 {} "-" "Mozilla/5.0 (X11; Linux x86_64)")x",
                           pick(255), pick(255), pick(100000), 100 + pick(9000));
      case 7:
        return fmt::format("\tat com.example.orders.{}Service.handle({}Service.java:{})", thing.substr(0, 3), thing.substr(0, 3),
                           10 + pick(500));
      default:
        return fmt::format("java.lang.IllegalStateException: {} failed for {} (attempt {})", verb, thing, pick(5));
    }
  }

  std::string envelope(std::uint64_t n, std::string_view payload) {
    switch (pick(3)) {
      case 0: return fmt::format("{} {} F {}", iso(n), pick(2) ? "stdout" : "stderr", payload);
      case 1: return fmt::format("[pod/app{}-5d8c9b7f6-x2x4q/daprd] {} {}", pick(40), iso(n), payload);
      default: return std::string(payload);
    }
  }

  unsigned pick(std::size_t n) { return static_cast<unsigned>(rng_() % n); }

 private:
  // One line per millisecond from 2023-06-19T13:00:00Z.
  static std::string iso(std::uint64_t n) {
    const std::uint64_t s = n / 1000;
    return fmt::format("2023-06-19T{:02}:{:02}:{:02}.{:03}123456Z", 13 + s / 3600 % 10, s / 60 % 60, s % 60, n % 1000);
  }
  std::mt19937_64 rng_;
};

}  // namespace

void generate_corpus(const CorpusOptions& options, std::string& out) {
  Generator g(options.seed);
  out.reserve(out.size() + options.bytes + 4096);
  for (std::uint64_t n = 1; out.size() < options.bytes; ++n) {
    if (options.incident_every && g.pick(options.incident_every) == 0) {
      out += g.envelope(n, kIncidents[g.pick(kIncidents.size())]);
    } else {
      out += g.envelope(n, g.payload(n));
    }
    out += '\n';
  }
}

}  // namespace klaxon::bench
