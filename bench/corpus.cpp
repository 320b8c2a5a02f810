#include "bench/corpus.hpp"

#include <array>
#include <cstdint>
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

  std::string payload(std::uint64_t n) { return payload_of_kind(pick(9), n); }

  // Kinds 0-2 are JSON, 3-8 plain text.
  std::string payload_of_kind(unsigned kind, std::uint64_t n) {
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
      case 8:
        return fmt::format("java.lang.IllegalStateException: {} failed for {} (attempt {})", verb, thing, pick(5));
      default:  // Envoy's JSON access log (Istio's sidecar)
        return fmt::format(R"({{"authority":"api.default.svc.cluster.local:8080","bytes_received":{},"bytes_sent":{},"downstream_remote_address":"10.244.{}.{}:{}","duration":{},"method":"GET","path":"/api/v1/items/{}","protocol":"HTTP/1.1","response_code":200,"response_flags":"-","start_time":"{}","upstream_cluster":"outbound|8080||api.default.svc.cluster.local","user_agent":"Go-http-client/1.1"}})",
                           pick(2000), 100 + pick(9000), pick(255), pick(255), 30000 + pick(30000), pick(300), pick(100000), iso(n));
    }
  }

  std::string envelope(std::uint64_t n, std::string_view payload) {
    switch (pick(3)) {
      case 0: return fmt::format("{} {} F {}", iso(n), pick(2) ? "stdout" : "stderr", payload);
      case 1: return fmt::format("[pod/app{}-5d8c9b7f6-x2x4q/daprd] {} {}", pick(40), iso(n), payload);
      default: return std::string(payload);
    }
  }

  // Docker's json-file envelope: the payload escaped as a JSON string.
  std::string docker_envelope(std::uint64_t n, std::string_view payload) {
    std::string out = R"({"log":")";
    for (char c : payload) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\t') {
        out += "\\t";
        continue;
      }
      out += c;
    }
    return out + fmt::format(R"(\n","stream":"{}","time":"{}"}})", pick(2) ? "stdout" : "stderr", iso(n));
  }

  unsigned pick(std::size_t n) { return static_cast<unsigned>(rng_() % n); }
  std::uint64_t random() { return rng_(); }

  // One line per millisecond from 2023-06-19T13:00:00Z.
  static std::string iso(std::uint64_t n) {
    const std::uint64_t s = n / 1000;
    return fmt::format("2023-06-19T{:02}:{:02}:{:02}.{:03}123456Z", 13 + s / 3600 % 10, s / 60 % 60, s % 60, n % 1000);
  }

 private:
  std::mt19937_64 rng_;
};

// The kubelet and pods of a node in trouble: containers that crash in a loop, probes that fail.
// Not the incident lines the packs are about (apart from Dapr's own), but they hold their words.
constexpr std::array<std::string_view, 8> kCrashingContainers = {"web", "api", "worker", "daprd", "redis",
                                                                  "orders", "linkerd-proxy", "envoy"};

std::string sick_line(Generator& g, std::uint64_t n) {
  const auto container = kCrashingContainers[g.pick(kCrashingContainers.size())];
  const unsigned pod = g.pick(30);
  const unsigned ms = unsigned(n % 1000000);
  switch (g.pick(4)) {
    case 0:
    case 1:
      return fmt::format(R"(E0619 13:{:02}:{:02}.{:06}    2345 pod_workers.go:1294] "Error syncing pod, skipping" err="failed to \"StartContainer\" for \"{}\" with CrashLoopBackOff: \"back-off {}s restarting failed container={} pod={}{}-7d9f8c6b5-k{:04}_default({:08x}-{:04x})\"" pod="default/{}{}-7d9f8c6b5-k{:04}" podUID={:08x}-{:04x})",
                         n / 60000 % 60, n / 1000 % 60, ms, container, 10 << g.pick(5), container, container, pod, pod * 37,
                         pod * 7919u, pod, container, pod, pod * 37, pod * 7919u, pod);
    case 2:
      return fmt::format(R"(I0619 13:{:02}:{:02}.{:06}    2345 prober.go:107] "Probe failed" probeType="{}" pod="default/{}{}-7d9f8c6b5-k{:04}" podUID={:08x}-{:04x} containerName="{}" probeResult="failure" output="Get \"http://10.244.{}.{}:8080/healthz\": dial tcp 10.244.{}.{}:8080: connect: connection refused")",
                         n / 60000 % 60, n / 1000 % 60, ms, g.pick(2) ? "Readiness" : "Liveness", container, pod, pod * 37,
                         pod * 7919u, pod, container, pod % 4, pod, pod % 4, pod);
    default:
      return fmt::format(R"x(I0619 13:{:02}:{:02}.{:06}    2345 event.go:294] "Event occurred" object="default/{}{}-7d9f8c6b5-k{:04}" kind="Pod" apiVersion="v1" type="Warning" reason="BackOff" message="Back-off restarting failed container {} in pod {}{}-7d9f8c6b5-k{:04}_default({:08x}-{:04x})")x",
                         n / 60000 % 60, n / 1000 % 60, ms, container, pod, pod * 37, container, container, pod, pod * 37,
                         pod * 7919u, pod);
  }
}

// The incident archive: the components of samples/timelines/ and what they print, healthy or
// failing, from many pods, time advancing a fifth of a second a line from 2023-06-12 (the
// root certificate expired on the 16th).
class Archive {
 public:
  explicit Archive(Generator& g) : g_(g) {}

  std::string line(std::uint64_t n) {
    const std::uint64_t ms = kStartMs + n * 200;
    const unsigned app = g_.pick(120);
    const std::string pod = pod_name(app, ms);
    const unsigned roll = g_.pick(1000);
    // ~8% of lines are classified: the failing components' own words.
    if (roll < 30)
      return daprd(pod, app, ms, "error",
                   fmt::format(R"(error starting server: error from authenticator CreateSignedWorkloadCert: error from sentry SignCertificate: rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time {} is after 2023-06-16T12:31:17Z\")",
                               rfc3339(ms, false)));
    if (roll < 50) return kubelet_crashloop(pod, ms);
    if (roll < 60) return linkerd(pod, ms, fmt::format("WARN ThreadId(01) identity:identity{{server.addr=linkerd-identity-headless.linkerd.svc.cluster.local:8080}}:controller{{addr=linkerd-identity-headless.linkerd.svc.cluster.local:8080}}:endpoint{{addr=10.244.1.{}:8080}}: linkerd_reconnect: Failed to connect error=endpoint 10.244.1.{}:8080: invalid peer certificate: BadSignature error.sources=[invalid peer certificate: BadSignature]", 100 + app % 20, 100 + app % 20));
    if (roll < 68) {
      const std::uint64_t unix = ms / 1000;
      return linkerd(pod, ms, fmt::format("WARN ThreadId(01) outbound:proxy{{addr=10.96.0.{}:80}}:service{{ns=default name=app{} port=80}}:endpoint{{addr=10.244.2.{}:80}}: linkerd_reconnect: Failed to connect error=invalid peer certificate: certificate expired: verification time {} (UNIX), but certificate is not valid after 1686918677 ({} seconds ago)", app % 250, app, app % 250, unix, unix > 1686918677 ? unix - 1686918677 : 0));
    }
    if (roll < 72) return sentry(ms);
    if (roll < 76)
      return operator_line(ms, fmt::format(R"(W{} {}       1 reflector.go:347] pkg/mod/k8s.io/client-go@v0.26.1/tools/cache/reflector.go:169: watch of *{} ended with: an error on the server ("unable to decode an event from the watch stream: http2: client connection lost") has prevented the request from succeeding)",
                                           klog_date(ms), klog_time(ms), g_.pick(2) ? "v1.Secret" : "v1alpha1.Configuration"));
    if (roll < 80)
      return kubelet(ms, fmt::format(R"(I{} {}    2345 prober.go:107] "Probe failed" probeType="Readiness" pod="default/{}" podUID={:08x} containerName="daprd" probeResult="failure" output="Get \"http://10.244.{}.{}:3501/v1.0/healthz\": dial tcp 10.244.{}.{}:3501: connect: connection refused")",
                                     klog_date(ms), klog_time(ms), pod, app * 7919u, app % 4, app, app % 4, app));
    // The rest: what the same components print when nothing is wrong.
    if (roll < 330)
      return operator_line(ms, json_log("dapr-operator-6d8f7c9b4-abcd1", "info",
                                        fmt::format(R"(Conversion webhook for \"{}.dapr.io\" is up to date)", kCrds[g_.pick(kCrds.size())]),
                                        "dapr.operator", ms));
    if (roll < 560) return daprd(pod, app, ms, "info", std::string(kDaprdHealthy[g_.pick(kDaprdHealthy.size())]));
    if (roll < 770)
      return linkerd(pod, ms, fmt::format("INFO ThreadId(0{}) inbound:server{{port=4143}}: linkerd_app_inbound::detect: Handling connection from 10.244.{}.{}:{}",
                                          1 + g_.pick(2), g_.pick(4), g_.pick(255), 30000 + g_.pick(30000)));
    if (roll < 870)
      return operator_line(ms, fmt::format("I{} {}       1 {}", klog_date(ms), klog_time(ms), kOperatorKlog[g_.pick(kOperatorKlog.size())]));
    return kubelet(ms, fmt::format(R"(I{} {}    2345 kubelet.go:2457] "SyncLoop (PLEG): event for pod" pod="default/{}" event={{"ID":"{:08x}","Type":"{}","Data":"{:016x}"}})",
                                   klog_date(ms), klog_time(ms), pod, app * 7919u, g_.pick(2) ? "ContainerStarted" : "ContainerDied",
                                   g_.random()));
  }

 private:
  static constexpr std::uint64_t kStartMs = 1686528000000;  // 2023-06-12T00:00:00Z
  static constexpr std::array<std::string_view, 5> kCrds = {"components", "configurations", "subscriptions",
                                                            "resiliencies", "httpendpoints"};
  static constexpr std::array<std::string_view, 8> kDaprdHealthy = {
      "sending workload csr request to sentry",
      "renewing certificate: requesting new cert and restarting gRPC server",
      "component loaded. name: statestore, type: state.redis/v1",
      "app max concurrency set to unlimited",
      "mTLS enabled. creating sidecar authenticator",
      "API gRPC server is running on port 50001",
      "placement tables updated, version: 3",
      "dapr initialized. Status: Running. Init Elapsed 412ms",
  };
  static constexpr std::array<std::string_view, 4> kOperatorKlog = {
      "leaderelection.go:258] successfully acquired lease dapr-system/operator.dapr.io",
      "reflector.go:255] Listing and watching *v1.Secret from pkg/mod/k8s.io/client-go@v0.26.1/tools/cache/reflector.go:169",
      "shared_informer.go:280] Caches are synced for dapr-operator",
      "reflector.go:536] Watch close - *v1alpha1.Component total 12 items received",
  };

  // A pod of `app` lives about six hours, then its replica set makes a new one.
  static std::string pod_name(unsigned app, std::uint64_t ms) {
    const std::uint64_t generation = (ms / 1000 + app * 911) / 21600;
    std::uint64_t h = (generation * 1000003 + app) * 0x9E3779B97F4A7C15ULL;
    std::string suffix;
    for (int i = 0; i < 5; ++i, h >>= 5) suffix += "bcdfghjklmnpqrstvwxz2456789"[h % 27];
    return fmt::format("app{}-5d8c9b7f6-{}", app, suffix);
  }
  // Year, month and day of a count of days since 1970-01-01 (H. Hinnant's civil_from_days).
  static std::array<unsigned, 3> civil(std::uint64_t days) {
    const std::uint64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    const std::uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    const std::uint64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    return {unsigned(yoe + era * 400 + (m <= 2)), unsigned(m), unsigned(d)};
  }
  static std::string rfc3339(std::uint64_t ms, bool nanos) {
    const std::uint64_t s = ms / 1000;
    const auto [y, m, d] = civil(s / 86400);
    return nanos ? fmt::format("{}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}341000Z", y, m, d, s / 3600 % 24, s / 60 % 60, s % 60, ms % 1000)
                 : fmt::format("{}-{:02}-{:02}T{:02}:{:02}:{:02}Z", y, m, d, s / 3600 % 24, s / 60 % 60, s % 60);
  }
  static std::string klog_date(std::uint64_t ms) {
    const auto [y, m, d] = civil(ms / 1000 / 86400);
    return fmt::format("{:02}{:02}", m, d);
  }
  static std::string klog_time(std::uint64_t ms) {
    const std::uint64_t s = ms / 1000;
    return fmt::format("{:02}:{:02}:{:02}.{:03}341", s / 3600 % 24, s / 60 % 60, s % 60, ms % 1000);
  }
  static std::string json_log(std::string_view instance, std::string_view level, std::string_view msg, std::string_view scope,
                              std::uint64_t ms) {
    return fmt::format(R"({{"instance":"{}","level":"{}","msg":"{}","scope":"{}","time":"{}","type":"log","ver":"1.10.4"}})",
                       instance, level, msg, scope, rfc3339(ms, true));
  }
  std::string daprd(const std::string& pod, unsigned app, std::uint64_t ms, std::string_view level, const std::string& msg) {
    return fmt::format(R"([pod/{}/daprd] {} {{"app_id":"app{}","instance":"{}","level":"{}","msg":"{}","scope":"dapr.runtime.grpc.internal","time":"{}","type":"log","ver":"1.10.4"}})",
                       pod, rfc3339(ms, true), app, pod, level, msg, rfc3339(ms, true));
  }
  static std::string operator_line(std::uint64_t ms, const std::string& payload) {
    return fmt::format("[pod/dapr-operator-6d8f7c9b4-abcd1/dapr-operator] {} {}", rfc3339(ms, true), payload);
  }
  std::string sentry(std::uint64_t ms) {
    const std::int64_t left = (1686918677000 - std::int64_t(ms)) / 3600000;  // hours to expiry
    const std::string msg = left > 0 ? fmt::format("Dapr root certificate expiration warning: certificate expires in {} days and {} hours",
                                                   left / 24, left % 24)
                                     : "Dapr root certificate expiration warning: certificate has expired.";
    return fmt::format("[pod/dapr-sentry-7c8d9f6b5-x2x4q/dapr-sentry] {} {}", rfc3339(ms, true),
                       json_log("dapr-sentry-7c8d9f6b5-x2x4q", "warning", msg, "dapr.sentry", ms));
  }
  std::string linkerd(const std::string& pod, std::uint64_t ms, const std::string& text) {
    return fmt::format("[pod/{}/linkerd-proxy] {} [{:>6}.{:06}s]  {}", pod, rfc3339(ms, true), ms / 1000 % 100000, ms % 1000 * 997, text);
  }
  std::string kubelet(std::uint64_t ms, const std::string& text) {
    const std::string t = rfc3339(ms, true);
    return fmt::format("{}+00:00 node-{} kubelet[2345]: {}", t.substr(0, t.size() - 4), g_.pick(12), text);
  }
  std::string kubelet_crashloop(const std::string& pod, std::uint64_t ms) {
    return kubelet(ms, fmt::format(R"(E{} {}    2345 pod_workers.go:1294] "Error syncing pod, skipping" err="failed to \"StartContainer\" for \"daprd\" with CrashLoopBackOff: \"back-off {}s restarting failed container=daprd pod={}_default({:08x})\"" pod="default/{}" podUID={:08x})",
                                   klog_date(ms), klog_time(ms), 10 << g_.pick(5), pod, ms / 1000 % 0xffffffff, pod, ms / 1000 % 0xffffffff));
  }

  Generator& g_;
};

}  // namespace

std::optional<CorpusKind> corpus_kind(std::string_view name) {
  if (name == "quiet") return CorpusKind::quiet;
  if (name == "sick") return CorpusKind::sick;
  if (name == "archive") return CorpusKind::archive;
  if (name == "json") return CorpusKind::json;
  if (name == "text") return CorpusKind::text;
  return std::nullopt;
}

void generate_corpus(const CorpusOptions& options, std::string& out) {
  Generator g(options.seed);
  Archive archive(g);
  out.reserve(out.size() + options.bytes + 4096);
  const std::uint64_t every = options.incident_every;
  for (std::uint64_t n = options.first_line; out.size() < options.bytes; ++n) {
    switch (options.kind) {
      case CorpusKind::quiet:
        out += every && g.pick(every) == 0 ? g.envelope(n, kIncidents[g.pick(kIncidents.size())]) : g.envelope(n, g.payload(n));
        break;
      case CorpusKind::sick:  // 4% of lines from crash-looping pods
        if (every && g.pick(every) == 0)
          out += g.envelope(n, kIncidents[g.pick(kIncidents.size())]);
        else
          out += g.pick(25) == 0 ? g.envelope(n, sick_line(g, n)) : g.envelope(n, g.payload(n));
        break;
      case CorpusKind::archive: out += archive.line(n); break;
      case CorpusKind::json: {
        const std::string payload = every && g.pick(every) == 0 ? std::string(kIncidents[g.pick(2)])
                                                                : g.payload_of_kind(g.pick(4) == 3 ? 9 : g.pick(3), n);
        out += g.pick(4) == 0 ? g.docker_envelope(n, payload) : g.envelope(n, payload);
        break;
      }
      case CorpusKind::text:
        out += every && g.pick(every) == 0 ? g.envelope(n, kIncidents[2 + g.pick(kIncidents.size() - 2)])
                                           : g.envelope(n, g.payload_of_kind(3 + g.pick(6), n));
        break;
    }
    out += '\n';
  }
}

}  // namespace klaxon::bench
