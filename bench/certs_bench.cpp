// bench/certs_bench.cpp — the certificate inventory on a big cluster: 10,000 TLS Secrets (a
// certificate and a key each), read as `klaxon certs --kubernetes` reads them, in list pages of
// 200. Reports the time for all of them and the peak RSS (which must not grow with the count:
// one page at a time, keys dropped, leaves' DER not kept).
//
//   build/bench/certs_bench                          10,000 certificates
//   build/bench/certs_bench --benchmark_filter=Page  one page, per certificate
#include <fstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "adapters/certs/certificate_inventory.hpp"
#include "adapters/certs/kubernetes_certificates.hpp"

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

// Pages of the API server's JSON, kPageSize Secrets each, every certificate different (its
// serial and name), all signed with one P-256 key so that making them takes a second.
const std::vector<std::string>& pages() {
  static const std::vector<std::string> made = [] {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    const std::string key_pem = base64(bio_text([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); }));
    std::vector<std::string> out;
    std::string items;
    for (int i = 0; i < kCertificates; ++i) {
      X509* cert = X509_new();
      X509_set_version(cert, 2);
      ASN1_INTEGER_set(X509_get_serialNumber(cert), i + 1);
      X509_gmtime_adj(X509_getm_notBefore(cert), 0);
      X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * (1 + i % 400));
      X509_set_pubkey(cert, key);
      const std::string cn = fmt::format("svc-{}.ns-{}.svc.cluster.local", i, i % 50);
      X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
      X509_set_issuer_name(cert, X509_get_subject_name(cert));
      X509_sign(cert, key, EVP_sha256());
      const std::string pem = bio_text([&](BIO* b) { PEM_write_bio_X509(b, cert); });
      X509_free(cert);
      items += fmt::format(R"({}{{"metadata":{{"name":"tls-{}","namespace":"ns-{}"}},"type":"kubernetes.io/tls",)"
                           R"("data":{{"tls.crt":"{}","tls.key":"{}"}}}})",
                           items.empty() ? "" : ",", i, i % 50, base64(pem), key_pem);
      if ((i + 1) % kPageSize == 0) {
        out.push_back(fmt::format(R"({{"kind":"SecretList","apiVersion":"v1","metadata":{{"continue":"{}"}},"items":[{}]}})",
                                  i + 1 < kCertificates ? std::to_string(i + 1) : "", items));
        items.clear();
      }
    }
    EVP_PKEY_free(key);
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
