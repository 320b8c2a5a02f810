#include "adapters/net/tls_client.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "engine/printable.hpp"

namespace klaxon::net {

namespace ssl = boost::asio::ssl;

TlsClient::TlsClient(const TlsClientOptions& options)
    : context_(std::make_shared<ssl::context>(ssl::context::tls_client)), verify_(!options.insecure_skip_verify) {
  boost::system::error_code ec;
  if (!options.ca_file.empty()) {
    // OpenSSL says only "asio.ssl error" for a file it cannot open: ask the file system first.
    if (std::FILE* f = std::fopen(options.ca_file.c_str(), "rb")) std::fclose(f);
    else throw std::runtime_error("--ca-file " + printable(options.ca_file) + ": cannot be read (" + std::strerror(errno) + ")");
    context_->load_verify_file(options.ca_file, ec);
    if (ec)
      throw std::runtime_error("--ca-file " + printable(options.ca_file) + ": cannot load CA certificates (" + ec.message() + ")");
  } else {
    context_->set_default_verify_paths(ec);  // no store: every peer fails verification, said then
  }
  context_->set_verify_mode(verify_ ? ssl::verify_peer : ssl::verify_none);
}

void TlsClient::prepare(SSL* ssl, const Url& url) const {
  if (!url.ip_literal) SSL_set_tlsext_host_name(ssl, url.host.c_str());
  if (!verify_) return;
  if (url.ip_literal) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host.c_str());
  else SSL_set1_host(ssl, url.host.c_str());
}

}  // namespace klaxon::net
