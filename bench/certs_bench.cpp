// bench/certs_bench.cpp — the certificate inventory on a big cluster: 10,000 TLS Secrets (a
// certificate and a key each). BM_TenThousandSecrets parses them as 50 list pages of 200, as
// the API server writes them, without kubectl: the time for all of them and the peak RSS
// (which must not grow with the count: keys dropped, leaves' DER not kept).
//
// Through the real kubectl against the test API server (tests/support/fake_kube_api.hpp, run
// in a process of its own so that its objects are not counted here), in pages of PAGE objects:
// BM_ListTenThousandSecrets/PAGE is `klaxon certs --kubernetes -A`'s one list of every kind;
// BM_WatchTenThousandSecrets/PAGE the streaming modes' (`--certs-kubernetes`): the time until
// the whole inventory is handed on, then the time for 100 Secrets replaced while it watches to
// be seen.
//
//   build/bench/certs_bench                          10,000 certificates (every way)
//   build/bench/certs_bench --benchmark_filter=Page  one page, per certificate
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "adapters/certs/certificate_inventory.hpp"
#include "adapters/certs/kubernetes_certificates.hpp"
#include "adapters/sources/child_process.hpp"
#include "tests/support/fake_kube_api.hpp"

namespace {

constexpr int kCertificates = 10'000;
constexpr int kPageSize = 200;

std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  out.resize(std::size_t(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                         reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()))));
  return out;
}

template <typename Write>
std::string bio_text(Write write) {
  BIO* bio = BIO_new(BIO_s_mem());
  write(bio);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, std::size_t(n));
  BIO_free(bio);
  return out;
}

// A self-signed certificate ending in `days`, for `cn`, signed with `key`.
std::string make_pem(EVP_PKEY* key, long serial, long days, const std::string& cn) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * days);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509_sign(cert, key, EVP_sha256());
  std::string pem = bio_text([&](BIO* b) { PEM_write_bio_X509(b, cert); });
  X509_free(cert);
  return pem;
}

EVP_PKEY* the_key() {
  static EVP_PKEY* key = EVP_EC_gen("P-256");
  return key;
}

std::string secret_json(int i, const std::string& pem, const std::string& key_pem) {
  return fmt::format(R"({{"metadata":{{"name":"tls-{}","namespace":"ns-{}"}},"type":"kubernetes.io/tls",)"
                     R"("data":{{"tls.crt":"{}","tls.key":"{}"}}}})",
                     i, i % 50, base64(pem), key_pem);
}

// Pages of the API server's JSON, kPageSize Secrets each, every certificate different (its
// serial and name), all signed with one P-256 key so that making them takes a second.
const std::vector<std::string>& pages() {
  static const std::vector<std::string> made = [] {
    EVP_PKEY* key = the_key();
    const std::string key_pem = base64(bio_text([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); }));
    std::vector<std::string> out;
    std::string items;
    for (int i = 0; i < kCertificates; ++i) {
      const std::string pem = make_pem(key, i + 1, 1 + i % 400, fmt::format("svc-{}.ns-{}.svc.cluster.local", i, i % 50));
      items += (items.empty() ? "" : ",") + secret_json(i, pem, key_pem);
      if ((i + 1) % kPageSize == 0) {
        out.push_back(fmt::format(R"({{"kind":"SecretList","apiVersion":"v1","metadata":{{"continue":"{}"}},"items":[{}]}})",
                                  i + 1 < kCertificates ? std::to_string(i + 1) : "", items));
        items.clear();
      }
    }
    return out;
  }();
  return made;
}

long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
  return 0;
}

// The whole cluster: 50 pages, as read_kubernetes does them (kubectl's own time is not here).
void BM_TenThousandSecrets(benchmark::State& state) {
  const auto& all = pages();
  const long rss_before = peak_rss_kib();
  std::size_t read = 0;
  for (auto _ : state) {
    klaxon::certs::Inventory inventory;
    for (const std::string& page : all) klaxon::certs::read_secret_page(page, inventory);
    read = inventory.certificates.size();
    benchmark::DoNotOptimize(inventory);
  }
  if (read != std::size_t(kCertificates)) state.SkipWithError("not every certificate was read");
  state.counters["certificates"] = double(read);
  state.counters["certs/s"] = benchmark::Counter(double(read) * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["peak_rss_MiB"] = double(peak_rss_kib()) / 1024;
  state.counters["rss_growth_MiB"] = double(peak_rss_kib() - rss_before) / 1024;
}
BENCHMARK(BM_TenThousandSecrets)->Unit(benchmark::kMillisecond);

// Peak RSS from now on: the high-water mark is reset to what is resident now (Linux 4.0+), so a
// phase is measured by itself, not against an earlier phase's peak.
long reset_peak_rss_kib() {
  std::ofstream("/proc/self/clear_refs") << "5";
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  return 0;
}

std::filesystem::path kubectl_home() {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("klaxon-certs-bench-{}", ::getpid());
  std::filesystem::create_directories(dir);
  ::setenv("HOME", dir.c_str(), 1);
  ::setenv("KUBECACHEDIR", (dir / "cache").c_str(), 1);
  return dir;
}

// The test API server holding 10,000 TLS Secrets, in a process of its own so that its objects
// and the pages it builds are not counted in this one's RSS; a kubeconfig for it in `dir`.
// replace() has it replace 100 Secrets by later certificates (serials 0x100000 and up: 6 hex digits).
class SecretServer {
 public:
  explicit SecretServer(const std::filesystem::path& dir) {
    int to_child[2], to_parent[2];
    if (::pipe(to_child) != 0 || ::pipe(to_parent) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(to_child[1]);
      ::close(to_parent[0]);
      serve(dir, to_child[0], to_parent[1]);
      ::_exit(0);
    }
    ::close(to_child[0]);
    ::close(to_parent[1]);
    command_ = to_child[1];
    answer_ = to_parent[0];
    ready_ = wait_answer();
  }
  ~SecretServer() {
    ::close(command_);  // the child ends at the end of its commands
    ::close(answer_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  bool ready() const { return ready_; }
  bool replace() { return ::write(command_, "r", 1) == 1 && wait_answer(); }

 private:
  bool wait_answer() {
    char c = 0;
    return ::read(answer_, &c, 1) == 1;
  }
  static void serve(const std::filesystem::path& dir, int commands, int answers) {
    EVP_PKEY* key = the_key();
    const std::string key_pem = base64(bio_text([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); }));
    klaxon::test::FakeKubeApi api;
    for (int i = 0; i < kCertificates; ++i)
      api.put_object("v1", "secrets", fmt::format("ns-{}", i % 50), fmt::format("tls-{}", i),
                     secret_json(i, make_pem(key, i + 1, 1 + i % 400, fmt::format("svc-{}", i)), key_pem));
    std::ofstream(dir / "kubeconfig") << "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {server: '" << api.url()
                                       << "'}\n  name: b\ncontexts:\n- context: {cluster: b, user: b}\n  name: b\n"
                                          "current-context: b\nusers:\n- name: b\n  user: {}\n";
    if (::write(answers, "k", 1) != 1) return;
    for (char c; ::read(commands, &c, 1) == 1;) {
      for (int i = 0; i < 100; ++i)
        api.put_object("v1", "secrets", fmt::format("ns-{}", i % 50), fmt::format("tls-{}", i),
                       secret_json(i, make_pem(key, 0x100000 + i, 800, fmt::format("svc-{}", i)), key_pem));
      if (::write(answers, "k", 1) != 1) return;
    }
  }
  pid_t pid_ = -1;
  int command_ = -1, answer_ = -1;
  bool ready_ = false;
};

// `klaxon certs --kubernetes -A`: every kind listed once through the real kubectl, in pages of
// state.range(0) objects. Wall time and this process's RSS growth (the API server is another).
void BM_ListTenThousandSecrets(benchmark::State& state) {
  if (klaxon::sources::find_on_path("kubectl").empty()) {
    state.SkipWithError("kubectl is not on PATH");
    return;
  }
  const auto dir = kubectl_home();
  std::size_t read = 0, errors = 0;
  long rss_before = 0;
  {
    SecretServer server(dir);
    if (!server.ready()) {
      state.SkipWithError("the test API server did not start");
      return;
    }
    rss_before = reset_peak_rss_kib();
    for (auto _ : state) {
      klaxon::certs::KubernetesOptions options;
      options.kubeconfig = (dir / "kubeconfig").string();
      options.all_namespaces = true;
      options.page_size = std::size_t(state.range(0));
      klaxon::certs::Inventory inventory;
      klaxon::certs::read_kubernetes(options, inventory);
      read = inventory.certificates.size();
      errors = inventory.errors.size();
    }
  }
  std::filesystem::remove_all(dir);
  // (The test API server serves Secrets only: the other five kinds are five NotFound errors.)
  if (read != std::size_t(kCertificates) || errors != 5) state.SkipWithError("not every certificate was read");
  state.counters["certificates"] = double(read);
  state.counters["rss_growth_MiB"] = double(peak_rss_kib() - rss_before) / 1024;
}
BENCHMARK(BM_ListTenThousandSecrets)->Arg(500)->Arg(5000)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

// The streaming modes' way (`--certs-kubernetes`): list every kind through the real kubectl,
// then watch. Time to the first whole inventory (10,000 certificates), then to seeing 100
// Secrets replaced through the watch; this process's RSS growth (the API server is another).
void BM_WatchTenThousandSecrets(benchmark::State& state) {
  if (klaxon::sources::find_on_path("kubectl").empty()) {
    state.SkipWithError("kubectl is not on PATH");
    return;
  }
  const auto dir = kubectl_home();
  double list_s = 0, watch_ms = 0;
  long rss_before = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto server = std::make_unique<SecretServer>(dir);
    if (!server->ready()) {
      state.SkipWithError("the test API server did not start");
      break;
    }
    rss_before = reset_peak_rss_kib();
    klaxon::certs::KubernetesOptions options;
    options.kubeconfig = (dir / "kubeconfig").string();
    options.all_namespaces = true;
    options.page_size = std::size_t(state.range(0));
    std::mutex mutex;
    std::size_t held = 0, renewed = 0;
    std::atomic<bool> stop{false};
    state.ResumeTiming();
    const auto start = std::chrono::steady_clock::now();
    std::thread watcher([&] {
      klaxon::certs::watch_kubernetes(options, std::chrono::seconds(5), [&] { return stop.load(); },
                                      [&](klaxon::certs::Inventory reading) {
                                        std::size_t later = 0;
                                        for (const auto& c : reading.certificates) later += c.serial.size() >= 6;
                                        std::lock_guard lock(mutex);
                                        held = reading.certificates.size();
                                        renewed = later;
                                      });
    });
    auto wait_until = [&](auto done) {
      for (int i = 0; i < 30000; ++i) {  // 5 minutes at most
        {
          std::lock_guard lock(mutex);
          if (done()) return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return false;
    };
    const bool listed = wait_until([&] { return held == std::size_t(kCertificates); });
    const auto listed_at = std::chrono::steady_clock::now();
    const bool replaced = server->replace();
    const auto put_at = std::chrono::steady_clock::now();
    const bool watched = replaced && wait_until([&] { return renewed == 100; });
    const auto seen_at = std::chrono::steady_clock::now();
    stop = true;
    watcher.join();
    if (!listed || !watched) {
      std::fprintf(stderr, "held %zu of %d certificates, %zu of 100 replaced seen\n", held, kCertificates, renewed);
      state.SkipWithError("the inventory never reached what the API server holds");
      break;
    }
    list_s = std::chrono::duration<double>(listed_at - start).count();
    watch_ms = std::chrono::duration<double, std::milli>(seen_at - put_at).count();
    state.PauseTiming();
    server.reset();
    state.ResumeTiming();
  }
  std::filesystem::remove_all(dir);
  state.counters["certificates"] = kCertificates;
  state.counters["inventory_s"] = list_s;
  state.counters["100_replaced_seen_ms"] = watch_ms;
  state.counters["rss_growth_MiB"] = double(peak_rss_kib() - rss_before) / 1024;
}
BENCHMARK(BM_WatchTenThousandSecrets)->Arg(500)->Arg(5000)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

// One page of 200: the cost per certificate.
void BM_OneSecretPage(benchmark::State& state) {
  const std::string& page = pages().front();
  for (auto _ : state) {
    klaxon::certs::Inventory inventory;
    klaxon::certs::read_secret_page(page, inventory);
    benchmark::DoNotOptimize(inventory);
  }
  state.SetItemsProcessed(state.iterations() * kPageSize);
  state.SetBytesProcessed(state.iterations() * std::int64_t(page.size()));
}
BENCHMARK(BM_OneSecretPage)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
