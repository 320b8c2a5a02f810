// adapters/net/tls_server.cpp — server TLS contexts built from files, rebuilt when they change.
#include "adapters/net/tls_server.hpp"

#include <array>
#include <tuple>

#include <boost/asio/ssl/error.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "adapters/net/file_stamp.hpp"
#include "adapters/sources/live_source.hpp"
#include "engine/printable.hpp"

namespace klaxon::net {
namespace {

namespace ssl = boost::asio::ssl;

// OpenSSL's reason for the last failure ("no certificate or crl found", "key values mismatch"),
// rather than asio's "asio.ssl error"; the queue is cleared so the next failure starts afresh.
std::string openssl_reason(const boost::system::error_code& ec) {
  std::string reason;
  if (unsigned long e = ERR_peek_last_error(); e != 0) {
    if (const char* r = ERR_reason_error_string(e)) reason = r;
  }
  ERR_clear_error();
  return reason.empty() ? ec.message() : reason;
}

class LoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::shared_ptr<ssl::context> load(const ServerTlsFiles& files) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                   ec);
  auto fail = [&](std::string_view flag, const std::string& path, std::string_view what) {
    return LoadError(fmt::format("{} {} {}: {}: {}", files.owner, flag, printable(path), what, openssl_reason(ec)));
  };
  ctx->use_certificate_chain_file(files.cert_file, ec);
  if (ec) throw fail("--tls-cert-file", files.cert_file, "not a PEM certificate (chain) that can be read");
  ctx->use_private_key_file(files.key_file, ssl::context::pem, ec);
  // OpenSSL checks the key against the certificate as it loads it ("key values mismatch").
  // asio takes the error off OpenSSL's queue into `ec`, whose value is OpenSSL's error code.
  const bool mismatch = ec && ec.category() == boost::asio::error::get_ssl_category() &&
                        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH;
  if (mismatch || (!ec && SSL_CTX_check_private_key(ctx->native_handle()) != 1))
    throw fail("--tls-key-file", files.key_file, "is not the key of the certificate in --tls-cert-file");
  if (ec) throw fail("--tls-key-file", files.key_file, "not a PEM private key that can be read");
  if (!files.client_ca_file.empty()) {
    ctx->load_verify_file(files.client_ca_file, ec);
    if (ec) throw fail("--client-ca-file", files.client_ca_file, "not a PEM CA certificate that can be read");
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
    // Named in the handshake, so a client holding several certificates picks the right one.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca_file.c_str()))
      SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
  }
  return ctx;
}

}  // namespace

struct ServerTls::Impl {
  ServerTlsFiles files;
  std::array<FileStamp, 3> loaded;     // the stamps the current context was built from
  std::array<FileStamp, 3> refused{};  // the stamps of the last set that failed (said once)
  std::shared_ptr<ssl::context> current;

  std::array<FileStamp, 3> stamps() const {
    return {stamp_of(files.cert_file), stamp_of(files.key_file), stamp_of(files.client_ca_file)};
  }
};

ServerTls::ServerTls(ServerTlsFiles files) : impl_(std::make_unique<Impl>()) {
  impl_->files = std::move(files);
  impl_->loaded = impl_->stamps();
  try {
    impl_->current = load(impl_->files);
  } catch (const LoadError& e) {
    throw sources::FatalSourceError(e.what());
  }
}

ServerTls::~ServerTls() = default;

std::shared_ptr<ssl::context> ServerTls::context(std::string* said) {
  const auto now = impl_->stamps();
  if (now == impl_->loaded || now == impl_->refused) return impl_->current;
  try {
    impl_->current = load(impl_->files);
    impl_->loaded = now;
    if (said) *said = fmt::format("{}: TLS certificate reloaded from {}", impl_->files.owner, printable(impl_->files.cert_file));
  } catch (const LoadError& e) {
    impl_->refused = now;
    if (said) *said = fmt::format("{}; still serving the previous certificate (said once per change)", e.what());
  }
  return impl_->current;
}

std::string ServerTls::describe() const {
  return impl_->files.client_ca_file.empty() ? "TLS" : "TLS, client certificates required";
}

}  // namespace klaxon::net
