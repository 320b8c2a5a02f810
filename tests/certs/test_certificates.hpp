// tests/certs/test_certificates.hpp — certificates made at test time with OpenSSL's API: any
// dates (past 2049 too), serials (negative too), SANs, CA or leaf, self-signed or issued by
// another. P-256 keys: a thousand certificates take a moment, not a minute.
#pragma once

#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// Specs are written with designated initializers (`{.common_name = "ca", .ca = true}`): the
// fields left out keep their defaults, which is the point, not an oversight to warn about.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace klaxon::test {

struct MadeCertificate {
  std::shared_ptr<X509> cert;
  std::shared_ptr<EVP_PKEY> key;

  std::string pem() const {
    return bio_text([&](BIO* b) { PEM_write_bio_X509(b, cert.get()); });
  }
  std::string der() const {
    return bio_text([&](BIO* b) { i2d_X509_bio(b, cert.get()); });
  }
  std::string key_pem() const {
    return bio_text([&](BIO* b) { PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr); });
  }

  template <typename Write>
  static std::string bio_text(Write write) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    write(bio.get());
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, std::size_t(n));
  }
};

struct CertificateSpec {
  std::string common_name = "klaxon test";
  std::time_t not_before = std::time(nullptr) - 3600;
  std::time_t not_after = std::time(nullptr) + 365 * 86400;
  std::string subject_alt_names;  // "DNS:a.example,IP:10.0.0.1", or empty for none
  bool ca = false;
  long serial = 1;
  const MadeCertificate* issuer = nullptr;  // self-signed when null
  std::shared_ptr<EVP_PKEY> key;            // a new P-256 key when null
};

inline std::shared_ptr<EVP_PKEY> new_test_key() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) throw std::runtime_error("OpenSSL could not make a key");
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

inline MadeCertificate make_certificate(const CertificateSpec& spec) {
  MadeCertificate out;
  out.key = spec.key ? spec.key : new_test_key();
  out.cert = std::shared_ptr<X509>(X509_new(), X509_free);
  X509* cert = out.cert.get();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), spec.serial);
  ASN1_TIME_set(X509_getm_notBefore(cert), spec.not_before);
  ASN1_TIME_set(X509_getm_notAfter(cert), spec.not_after);
  X509_set_pubkey(cert, out.key.get());
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(spec.common_name.c_str()),
                             -1, -1, 0);
  X509* issuer_cert = spec.issuer ? spec.issuer->cert.get() : cert;
  EVP_PKEY* signing_key = spec.issuer ? spec.issuer->key.get() : out.key.get();
  X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer_cert, cert, nullptr, nullptr, 0);
  std::vector<std::pair<int, std::string>> extensions;
  if (!spec.subject_alt_names.empty()) extensions.emplace_back(NID_subject_alt_name, spec.subject_alt_names);
  extensions.emplace_back(NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "CA:FALSE");
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) throw std::runtime_error("OpenSSL could not add an extension");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert, signing_key, EVP_sha256()) == 0) throw std::runtime_error("OpenSSL could not sign");
  return out;
}

/// Writes `bytes` to `path`, making its folders.
inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

/// Base64 as Kubernetes `data` values and kubeconfig `*-data` fields hold it.
inline std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()));
  out.resize(std::size_t(n));
  return out;
}

}  // namespace klaxon::test
