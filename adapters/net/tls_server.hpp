// adapters/net/tls_server.hpp — the server side of TLS: a certificate and key from files,
// picked up again when the files change, and optionally client certificates required.
//
// In Kubernetes the certificate of a receiver is a Secret that cert-manager renews: the files
// under the mounted directory are swapped (a symlink flip) weeks before the old pair expires.
// A receiver that read them once at start would serve the old certificate until it expired —
// the very outage klaxon exists to warn about. So each new connection first checks whether the
// files changed (a stat of each, cheap next to a handshake) and, if so, builds a new context
// from them. Connections already open keep the context they started with.
//
// A new pair that does not load (the key written before the certificate, a key that does not
// match) keeps the old context serving and is said once per change, so a half-written rotation
// neither takes the receiver down nor floods the log. At start there is no old pair: a bad one
// is a startup error (FatalSourceError) that names the file and what is wrong with it.
//
// With a client CA file (mutual TLS) a client must present a certificate signed by that CA, or
// the handshake fails before a byte of HTTP is read.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

namespace klaxon::net {

struct ServerTlsFiles {
  std::string cert_file;       // PEM: the certificate, then any intermediates
  std::string key_file;        // PEM: its private key (unencrypted)
  std::string client_ca_file;  // PEM: CAs a client certificate must chain to; "" = none asked
  std::string owner = "serve";  // who has the flags, in messages: "serve", "--listen"
};

class ServerTls {
 public:
  /// Loads the files now; throws FatalSourceError naming the file and the fault.
  explicit ServerTls(ServerTlsFiles files);
  ~ServerTls();

  /// The context a new connection should use: rebuilt first if a file changed since the last
  /// call. When a changed set does not load, the previous context is returned and `said` (if
  /// not null) receives the one message about it, once per change; otherwise it is left empty.
  std::shared_ptr<boost::asio::ssl::context> context(std::string* said = nullptr);

  /// What the receiver says it does at start: "TLS" or "TLS, client certificates required".
  std::string describe() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace klaxon::net
