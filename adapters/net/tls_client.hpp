// adapters/net/tls_client.hpp — the client side of TLS: whom klaxon trusts when it connects to
// Alertmanager, a webhook or Loki, and how it checks that it reached the host it was given.
//
// Trust is the CA file the operator gives (--ca-file: a private CA, as most clusters have) or
// else the system's store. Per connection, `prepare` sets SNI (host names only: RFC 6066 allows
// no IP address there) and, unless verification is off, asks OpenSSL to check the peer's
// certificate against the URL's host while it verifies the chain (X509_VERIFY_PARAM: a DNS
// name against the certificate's names, an IP literal against its IP SANs). A mismatch then
// fails the handshake as "certificate verify failed", like an unknown CA, before a byte of the
// request is sent. `insecure_skip_verify` accepts any certificate; the flag that sets it is
// warned about once by whoever reads it (the --alertmanager/--webhook set-up, the Loki source).
// Thread safety: const after construction; one TlsClient serves many connections.
#pragma once

#include <memory>
#include <string>

#include "adapters/net/url.hpp"

// Light: no OpenSSL or Asio SSL header here (delivery.hpp, and so every sink, includes this).
namespace boost::asio::ssl {
class context;
}
struct ssl_st;  // OpenSSL's SSL

namespace klaxon::net {

struct TlsClientOptions {
  std::string ca_file;                // PEM bundle to trust instead of the system's store
  bool insecure_skip_verify = false;  // accept any certificate (warned by the caller)
};

class TlsClient {
 public:
  /// Errors: std::runtime_error naming --ca-file and why, when the file cannot be read or holds
  /// no certificate OpenSSL can load.
  explicit TlsClient(const TlsClientOptions& options);

  boost::asio::ssl::context& context() const { return *context_; }
  bool verifies() const { return verify_; }

  /// Before the handshake of one connection to `url`: SNI and the host-name check.
  void prepare(ssl_st* ssl, const Url& url) const;

 private:
  std::shared_ptr<boost::asio::ssl::context> context_;
  bool verify_ = true;
};

}  // namespace klaxon::net
