// adapters/certs/certificate_inventory.cpp — see the header.
#include "adapters/certs/certificate_inventory.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <system_error>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "engine/json_text.hpp"
#include "rules/yaml_document.hpp"

namespace klaxon::certs {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kBeginCertificate = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view kEndCertificate = "-----END CERTIFICATE-----";

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;
using BasicConstraintsPtr = std::unique_ptr<BASIC_CONSTRAINTS, Deleter<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  static const auto table = [] {
    std::array<signed char, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
    return t;
  }();
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t bits = 0;
  int have = 0, padding = 0;
  for (const char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    const int v = table[static_cast<unsigned char>(c)];
    if (v < 0 || padding > 0) return std::nullopt;
    bits = (bits << 6) | std::uint32_t(v);
    have += 6;
    if (have >= 8) {
      have -= 8;
      out.push_back(static_cast<char>((bits >> have) & 0xFF));
    }
  }
  if (padding > 2 || have >= 6) return std::nullopt;
  return out;
}

namespace {

std::string hex(const unsigned char* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xF]);
  }
  return out;
}

std::string name_text(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !name) return "";
  // RFC 2253 order and escaping; bytes above 0x7F are escaped too (ESC_MSB), as Go prints them.
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return printable(std::string_view(data, n > 0 ? std::size_t(n) : 0));
}

std::optional<Seconds> asn1_seconds(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return std::nullopt;
  return Seconds(timegm(&tm));
}

std::string serial_text(const X509* cert) {
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) return "";
  char* text = BN_bn2hex(bn.get());
  std::string out = text ? text : "";
  OPENSSL_free(text);
  return out;
}

void add_sans(const X509* cert, Certificate& out) {
  NamesPtr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return;  // no SAN: a CA, or an old-style leaf named by its CN only
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* s = name->d.dNSName;
      out.dns_names.push_back(printable(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                                         std::size_t(ASN1_STRING_length(s)))));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* s = name->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {};
      const int length = ASN1_STRING_length(s);
      const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : 0;
      if (family != 0 && inet_ntop(family, ASN1_STRING_get0_data(s), text, sizeof text)) out.ip_addresses.push_back(text);
    }
  }
}

// One DER certificate, or why not. The whole of `der` must be the certificate.
std::optional<Certificate> parse_der(std::string_view der, std::string& error) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509Ptr cert(d2i_X509(nullptr, &p, long(der.size())));
  ERR_clear_error();  // OpenSSL's queue is per thread; leave nothing for the next caller to read
  if (!cert) {
    error = "not a valid X.509 certificate (truncated or damaged DER)";
    return std::nullopt;
  }
  if (p != reinterpret_cast<const unsigned char*>(der.data() + der.size())) {
    error = "bytes after the end of the certificate (damaged DER)";
    return std::nullopt;
  }
  Certificate c;
  const auto not_before = asn1_seconds(X509_get0_notBefore(cert.get()));
  const auto not_after = asn1_seconds(X509_get0_notAfter(cert.get()));
  if (!not_before || !not_after) {
    error = "its validity dates cannot be read";
    return std::nullopt;
  }
  c.not_before = *not_before;
  c.not_after = *not_after;
  c.subject = name_text(X509_get_subject_name(cert.get()));
  c.issuer = name_text(X509_get_issuer_name(cert.get()));
  c.serial = serial_text(cert.get());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (X509_digest(cert.get(), EVP_sha256(), digest, &digest_size) == 1) c.sha256 = hex(digest, digest_size);
  add_sans(cert.get(), c);
  BasicConstraintsPtr constraints(
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(cert.get(), NID_basic_constraints, nullptr, nullptr)));
  c.is_ca = constraints && constraints->ca;
  if (c.is_ca) c.der = std::string(der);
  ERR_clear_error();
  return c;
}

std::string numbered(const std::string& source, std::size_t n, std::size_t of) {
  return of > 1 ? fmt::format("{}#{}", source, n) : source;
}

bool looks_like_der(std::string_view bytes) {
  // A certificate is a SEQUENCE with a long-form length (it is always longer than 127 bytes).
  return bytes.size() >= 4 && static_cast<unsigned char>(bytes[0]) == 0x30 &&
         (static_cast<unsigned char>(bytes[1]) == 0x82 || static_cast<unsigned char>(bytes[1]) == 0x83 ||
          static_cast<unsigned char>(bytes[1]) == 0x81);
}

std::optional<std::string> read_file(const std::string& path, std::string& error) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) {
    error = ec.message();
    return std::nullopt;
  }
  if (size > kMaxSourceBytes) {
    error = fmt::format("{:.1f} MiB, more than the {} MiB a certificate source may be; not read",
                        double(size) / (1 << 20), kMaxSourceBytes >> 20);
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes(size, '\0');
  if (!in || !in.read(bytes.data(), std::streamsize(size))) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  return bytes;
}

// PEM that holds only keys, requests or parameters: nothing of ours, and not an error in a
// directory (tls.key beside tls.crt). Only the block headers are looked at.
bool holds_only_other_pem(std::string_view bytes) {
  return bytes.find("-----BEGIN ") != std::string_view::npos && !holds_pem_certificate(bytes);
}

bool looks_like_kubeconfig(std::string_view bytes) {
  return bytes.find("clusters:") != std::string_view::npos || bytes.find("users:") != std::string_view::npos ||
         bytes.find("\"clusters\"") != std::string_view::npos;
}

// A file as a source: a kubeconfig, else PEM or DER. `in_directory`: quiet about files that
// are keys.
void read_file_source(const std::string& path, bool in_directory, Inventory& out) {
  const std::string source = "file:" + path;
  std::string error;
  const auto bytes = read_file(path, error);
  if (!bytes) {
    out.errors.push_back({source, error});
    return;
  }
  if (holds_only_other_pem(*bytes)) {
    if (!in_directory) out.errors.push_back({source, "holds no certificate (a key or a request: not read)"});
    return;
  }
  if (!holds_pem_certificate(*bytes) && !looks_like_der(*bytes) && looks_like_kubeconfig(*bytes) &&
      read_kubeconfig(*bytes, path, out))
    return;
  read_certificates(*bytes, source, out);
}

bool passed_over(const fs::path& p) {
  const std::string name = p.filename().string();
  // Kubernetes volumes hold each file twice: `tls.crt` -> `..data/tls.crt` -> `..2024_.../tls.crt`.
  if (name.starts_with("..")) return true;
  return p.extension() == ".key";
}

}  // namespace

bool holds_pem_certificate(std::string_view bytes) { return bytes.find(kBeginCertificate) != std::string_view::npos; }

std::size_t read_certificates(std::string_view bytes, const std::string& source, Inventory& out) {
  if (bytes.size() > kMaxSourceBytes) {
    out.errors.push_back({source, fmt::format("{:.1f} MiB, more than the {} MiB a certificate source may be; not read",
                                              double(bytes.size()) / (1 << 20), kMaxSourceBytes >> 20)});
    return 0;
  }
  std::string error;
  if (!holds_pem_certificate(bytes)) {
    if (looks_like_der(bytes)) {
      if (auto c = parse_der(bytes, error)) {
        c->source = source;
        out.certificates.push_back(std::move(*c));
        return 1;
      }
      out.errors.push_back({source, error});
      return 0;
    }
    out.errors.push_back({source, bytes.find("-----BEGIN ") != std::string_view::npos
                                      ? "holds no certificate (a key or a request: not read)"
                                      : "holds no certificate (not PEM, DER or a kubeconfig)"});
    return 0;
  }
  // The certificate blocks' bodies; every other block (a key beside a certificate) is skipped
  // by its header and never decoded.
  std::vector<std::string_view> bodies;
  for (std::size_t at = 0; (at = bytes.find(kBeginCertificate, at)) != std::string_view::npos;) {
    const std::size_t body = at + kBeginCertificate.size();
    const std::size_t end = bytes.find(kEndCertificate, body);
    const std::size_t next = bytes.find("-----BEGIN ", body);
    if (end == std::string_view::npos || (next != std::string_view::npos && next < end)) {
      bodies.push_back({});
      at = body;
      continue;
    }
    bodies.push_back(bytes.substr(body, end - body));
    at = end + kEndCertificate.size();
  }
  std::size_t read = 0;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    const std::string name = numbered(source, i + 1, bodies.size());
    if (bodies[i].data() == nullptr) {
      out.errors.push_back({name, "a certificate block with no END line (truncated PEM)"});
      continue;
    }
    const auto der = decode_base64(bodies[i]);
    if (!der) {
      out.errors.push_back({name, "a certificate block that is not base64 (damaged PEM)"});
      continue;
    }
    if (auto c = parse_der(*der, error)) {
      c->source = name;
      out.certificates.push_back(std::move(*c));
      ++read;
    } else {
      out.errors.push_back({name, error});
    }
  }
  return read;
}

bool read_kubeconfig(std::string_view text, const std::string& path, Inventory& out) {
  rules::YamlDocument document(text);
  const rules::YamlNode root = document.root();
  if (!root || !root.is_map() || (!root["clusters"] && !root["users"])) return false;
  const fs::path directory = fs::path(path).parent_path();
  // kind: the entries' list key, the map that holds the data, its embedded and file keys.
  struct Kind {
    const char* list;
    const char* inner;
    const char* data_key;
    const char* file_key;
    const char* word;
  };
  for (const Kind kind : {Kind{"clusters", "cluster", "certificate-authority-data", "certificate-authority", "cluster"},
                          Kind{"users", "user", "client-certificate-data", "client-certificate", "user"}}) {
    for (const rules::YamlNode& entry : root[kind.list].items()) {
      const std::string name = entry["name"].text();
      const rules::YamlNode inner = entry[kind.inner];
      const std::string source = fmt::format("kubeconfig:{}:{}/{}", path, kind.word, printable(name));
      if (const rules::YamlNode data = inner[kind.data_key]; data && data.is_scalar()) {
        const auto bytes = decode_base64(data.text());
        if (!bytes) out.errors.push_back({source, fmt::format("{} is not base64", kind.data_key)});
        else read_certificates(*bytes, source, out);
      } else if (const rules::YamlNode file = inner[kind.file_key]; file && file.is_scalar()) {
        fs::path referenced = file.text();
        if (referenced.is_relative()) referenced = directory / referenced;
        std::string error;
        if (const auto bytes = read_file(referenced.string(), error)) read_certificates(*bytes, source, out);
        else out.errors.push_back({source, fmt::format("{} {}: {}", kind.file_key, referenced.string(), error)});
      }
    }
  }
  return true;
}

void read_path(const std::string& path, Inventory& out) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) {
    const bool missing = !ec || ec == std::errc::no_such_file_or_directory;
    out.errors.push_back({"file:" + path, missing ? "no such file or directory" : ec.message()});
    return;
  }
  if (!fs::is_directory(status)) {
    read_file_source(path, false, out);
    return;
  }
  std::vector<std::string> files;
  // Links to files are read (Kubernetes volumes are made of them); links to directories are not
  // followed, so that a link to `.` cannot make the walk endless.
  fs::recursive_directory_iterator it(path, fs::directory_options::none, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (passed_over(it->path())) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec)) files.push_back(it->path().string());
  }
  if (ec) out.errors.push_back({"file:" + path, fmt::format("listing the directory: {}", ec.message())});
  std::sort(files.begin(), files.end());  // the same order on every run
  for (const std::string& file : files) read_file_source(file, true, out);
}

Assessment assess(const Certificate& c, Seconds now, const Thresholds& thresholds) {
  if (now + thresholds.clock_skew < c.not_before) return {Status::not_yet_valid, Level::critical};
  if (now >= c.not_after) return {Status::expired, Level::critical};
  const Seconds left = c.not_after - now;
  if (left <= thresholds.critical_before) return {Status::expiring_soon, Level::critical};
  if (left <= thresholds.warn_before) return {Status::expiring_soon, Level::warning};
  return {Status::ok, Level::none};
}

const char* status_name(Status status) {
  switch (status) {
    case Status::ok: return "ok";
    case Status::expiring_soon: return "expiring_soon";
    case Status::expired: return "expired";
    case Status::not_yet_valid: return "not_yet_valid";
  }
  return "ok";
}

const char* level_name(Level level) {
  switch (level) {
    case Level::none: return "none";
    case Level::warning: return "warning";
    case Level::critical: return "critical";
  }
  return "none";
}

void sort_soonest_first(std::vector<Certificate>& certificates) {
  std::stable_sort(certificates.begin(), certificates.end(), [](const Certificate& a, const Certificate& b) {
    return a.not_after != b.not_after ? a.not_after < b.not_after : a.source < b.source;
  });
}

std::string format_seconds_rfc3339(Seconds t) {
  const std::time_t time = t;
  std::tm tm{};
  if (gmtime_r(&time, &tm) == nullptr) return "";
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string to_json_line(const Certificate& c, Status status) {
  std::string out = R"({"type":"certificate","source":)";
  auto field = [&](const char* key, std::string_view value) {
    out += fmt::format(R"(,"{}":)", key);
    append_json_string(out, value);
  };
  append_json_string(out, c.source);
  field("subject", c.subject);
  field("issuer", c.issuer);
  field("serial", c.serial);
  field("sha256", c.sha256);
  field("not_before", format_seconds_rfc3339(c.not_before));
  field("not_after", format_seconds_rfc3339(c.not_after));
  auto list = [&](const char* key, const std::vector<std::string>& values) {
    out += fmt::format(R"(,"{}":[)", key);
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out += ',';
      append_json_string(out, values[i]);
    }
    out += ']';
  };
  list("dns_names", c.dns_names);
  list("ip_addresses", c.ip_addresses);
  out += c.is_ca ? R"(,"is_ca":true)" : R"(,"is_ca":false)";
  field("status", status_name(status));
  out += '}';
  return out;
}

}  // namespace klaxon::certs
