// adapters/certs/certificate_inventory.hpp — every certificate klaxon can find, before it expires.
//
// Logs say a certificate expired once it has; almost no program warns before (25 programs given
// a certificate 3 days from its end: none logged a word). So klaxon also reads certificates
// where they are kept: PEM files and bundles, DER files, kubeconfigs (embedded `*-data` and the
// files they name), Kubernetes objects (adapters/certs/kubernetes_certificates.hpp) and live
// endpoints (adapters/certs/tls_probe.hpp). Each becomes one `Certificate`: plain data, named by
// a source string that says exactly which object to renew (`file:PATH#N`,
// `kubeconfig:PATH:user/NAME`, `secret:NS/NAME/KEY`, ...).
//
// Parsing is OpenSSL's X509 API on DER that we cut out of PEM ourselves: only blocks headed
// `-----BEGIN CERTIFICATE-----` are decoded. **Private keys are never parsed, kept, printed or
// exported**: a key block is skipped by its header, a `*.key` file met while walking a
// directory is not opened, and no error message quotes a byte of its input. Bad input (garbage,
// truncated DER, a huge file) is one ReadError naming its source; everything else goes on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/printable.hpp"

namespace klaxon::certs {

/// Unix seconds, UTC. Seconds rather than klaxon's nanoseconds: a certificate may end in 9999
/// (RFC 5280's "no well-defined expiration"), past what int64 nanoseconds hold (2262).
using Seconds = std::int64_t;

struct Certificate {
  std::string source;           // file:PATH[#N], kubeconfig:PATH:user/NAME, secret:NS/NAME/KEY, ...
  std::string subject, issuer;  // RFC 2253 (`CN=dapr-trust-domain,O=dapr`); control bytes escaped
  std::string serial;           // hex, upper case, as `openssl x509 -serial` prints it; `-` first if negative
  std::string sha256;           // of the DER, lower-case hex (as `sha256sum` of the .der prints it)
  Seconds not_before = 0, not_after = 0;
  std::vector<std::string> dns_names, ip_addresses;
  bool is_ca = false;  // basicConstraints CA:TRUE
  // The DER, kept for CA certificates only: the consistency checks verify signatures with it
  // (a leaf's DER would only cost memory on a cluster with thousands of secrets).
  std::string der;
};

/// A source that could not be read, or a part of one (the 3rd block of a bundle). The message
/// never quotes the input.
struct ReadError {
  std::string source;
  std::string message;
};

/// What was found, in the order it was read.
struct Inventory {
  std::vector<Certificate> certificates;
  std::vector<ReadError> errors;
};

/// The largest single source read (a file, a Secret's value): a CA bundle is a few hundred KiB.
inline constexpr std::size_t kMaxSourceBytes = std::size_t{16} << 20;

// ---- Status -------------------------------------------------------------------------------------

struct Thresholds {
  Seconds warn_before = 30 * 86400;     // --warn-before
  Seconds critical_before = 7 * 86400;  // --critical-before
  /// A not_before this little ahead of our clock is still valid: clocks differ by a little, and
  /// issuers back-date by about that much (cert-manager, Linkerd and Dapr alike).
  Seconds clock_skew = 300;
};

enum class Status { ok, expiring_soon, expired, not_yet_valid };
/// How loud: none (ok), warning (expiring within warn_before), critical (within critical_before,
/// expired, or not yet valid: the last two fail handshakes now).
enum class Level { none, warning, critical };

struct Assessment {
  Status status = Status::ok;
  Level level = Level::none;
};

Assessment assess(const Certificate& certificate, Seconds now, const Thresholds& thresholds);
const char* status_name(Status status);  // ok, expiring_soon, expired, not_yet_valid
const char* level_name(Level level);     // none, warning, critical

// ---- Reading -------------------------------------------------------------------------------------

/// Reads the certificates in `bytes` (PEM, a bundle of them, or one DER certificate) as from
/// `source`: one certificate keeps `source`, several are `source#1`, `source#2`, ... in order.
/// Returns how many were read; each block that cannot be is a ReadError (`source#N`), and
/// bytes that hold no certificate at all are one ReadError for `source`.
std::size_t read_certificates(std::string_view bytes, const std::string& source, Inventory& out);

/// Reads a kubeconfig's certificates: each cluster's certificate-authority(-data) as
/// `kubeconfig:PATH:cluster/NAME`, each user's client-certificate(-data) as
/// `kubeconfig:PATH:user/NAME`. File references are relative to the kubeconfig's directory.
/// client-key(-data) is never looked at. Returns false when `text` is not a kubeconfig.
bool read_kubeconfig(std::string_view text, const std::string& path, Inventory& out);

/// Reads a file (PEM, DER or kubeconfig, by content) or, recursively, a directory's files.
/// In a directory, `*.key` files, files holding only keys or requests, and Kubernetes'
/// `..data` volume links (the same files twice) are passed over without a word; a named file
/// that holds no certificate is an error.
void read_path(const std::string& path, Inventory& out);

/// Base64 as PEM bodies and Kubernetes `data` values hold it (blanks and line breaks skipped);
/// nullopt when it is not base64.
std::optional<std::string> decode_base64(std::string_view text);

/// True when `bytes` look like PEM holding at least one certificate block.
bool holds_pem_certificate(std::string_view bytes);

// ---- Output ----------------------------------------------------------------------------------------

/// Sorts soonest not_after first (then by source, so the order is stable).
void sort_soonest_first(std::vector<Certificate>& certificates);

/// Text from a certificate or a file name made safe for a terminal: klaxon's one printable().
using klaxon::printable;

/// `2026-12-07T13:06:25Z`, for any year 0-9999.
std::string format_seconds_rfc3339(Seconds t);

/// One JSON line (no newline) in the shape of issue 23's interface:
/// {"type":"certificate","source":..,"subject":..,"issuer":..,"serial":..,"sha256":..,
///  "not_before":..,"not_after":..,"dns_names":[..],"ip_addresses":[..],"is_ca":..,"status":..}
std::string to_json_line(const Certificate& certificate, Status status);

}  // namespace klaxon::certs
