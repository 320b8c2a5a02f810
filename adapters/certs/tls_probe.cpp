// adapters/certs/tls_probe.cpp — see the header.
#include "adapters/certs/tls_probe.hpp"

#include <functional>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <fmt/format.h>
#include <openssl/x509.h>

#include "adapters/net/asio.hpp"

namespace klaxon::certs {
namespace {

namespace ssl = asio::ssl;

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string describe(const boost::system::error_code& ec, const char* step) {
  if (ec == asio::error::operation_aborted) return fmt::format("no answer in time ({})", step);
  if (ec.category() == asio::error::get_ssl_category() || ec == ssl::error::stream_truncated)
    return fmt::format("TLS handshake failed (is it TLS?): {}", ec.message());
  return fmt::format("{}: {}", step, ec.message());
}

}  // namespace

std::optional<ProbeTarget> parse_probe_target(std::string_view text, std::string& error) {
  ProbeTarget t;
  std::string_view rest = text;
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    t.server_name = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (t.server_name.empty()) {
      error = "nothing after @ (write HOST:PORT@SERVER-NAME)";
      return std::nullopt;
    }
  }
  std::string_view host, port;
  if (rest.starts_with('[')) {
    const auto close = rest.find("]:");
    if (close == std::string_view::npos) {
      error = "write [IPv6]:PORT";
      return std::nullopt;
    }
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
      error = "no port (write HOST:PORT)";
      return std::nullopt;
    }
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  const bool numeric = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string_view::npos;
  if (host.empty() || !numeric || std::stoi(std::string(port)) == 0 || std::stoi(std::string(port)) > 65535) {
    error = "write HOST:PORT (a port from 1 to 65535)";
    return std::nullopt;
  }
  t.host = std::string(host);
  t.port = std::string(port);
  t.source = fmt::format("endpoint:{}:{}", t.host, t.port);
  if (!t.server_name.empty()) t.source += "@" + t.server_name;
  else if (!is_ip_literal(t.host)) t.server_name = t.host;  // SNI carries names only
  return t;
}

void probe_endpoint(const ProbeTarget& target, std::chrono::milliseconds timeout, Inventory& out,
                    const std::function<bool()>& cancelled) {
  asio::io_context io;
  ssl::context context(ssl::context::tls_client);
  context.set_verify_mode(ssl::verify_none);  // we record what is served, trusted or not
  ssl::stream<tcp::socket> stream(io, context);
  if (!target.server_name.empty()) SSL_set_tlsext_host_name(stream.native_handle(), target.server_name.c_str());
  tcp::resolver resolver(io);
  asio::steady_timer deadline(io, timeout), poll(io);
  boost::system::error_code result;
  const char* step = "resolving";
  bool stopped = false;  // `cancelled` said so: nothing to report
  auto abort = [&] {
    resolver.cancel();
    boost::system::error_code ignored;
    stream.lowest_layer().close(ignored);  // aborts the connect or the handshake
    result = asio::error::operation_aborted;
  };
  deadline.async_wait([&](boost::system::error_code ec) {
    if (ec) return;  // cancelled: the probe ended first
    abort();
    poll.cancel();
  });
  std::function<void(boost::system::error_code)> ask = [&](boost::system::error_code ec) {
    if (ec) return;
    if (cancelled()) {
      stopped = true;
      abort();
      deadline.cancel();
      return;
    }
    poll.expires_after(std::chrono::milliseconds(100));
    poll.async_wait(ask);
  };
  if (cancelled) ask({});
  auto finish = [&](boost::system::error_code ec) {
    if (!result) result = ec;
    deadline.cancel();
    poll.cancel();
  };
  resolver.async_resolve(target.host, target.port, [&](boost::system::error_code ec, tcp::resolver::results_type endpoints) {
    if (ec) return finish(ec);
    step = "connecting";
    asio::async_connect(stream.lowest_layer(), endpoints, [&](boost::system::error_code ec, const tcp::endpoint&) {
      if (ec) return finish(ec);
      step = "handshake";
      stream.async_handshake(ssl::stream_base::client, [&](boost::system::error_code ec) { finish(ec); });
    });
  });
  io.run();
  if (stopped) return;
  if (result) {
    out.errors.push_back({target.source, describe(result, step)});
    return;
  }
  // The chain as served: on a client, SSL_get_peer_cert_chain starts with the leaf.
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(stream.native_handle());
  const int served = chain ? sk_X509_num(chain) : 0;
  if (served == 0) out.errors.push_back({target.source, "the server sent no certificate"});
  for (int i = 0; i < served; ++i) {
    unsigned char* der = nullptr;
    const int size = i2d_X509(sk_X509_value(chain, i), &der);
    if (size <= 0) continue;
    const std::string source = served > 1 ? fmt::format("{}#{}", target.source, i + 1) : target.source;
    read_certificates(std::string_view(reinterpret_cast<const char*>(der), std::size_t(size)), source, out);
    OPENSSL_free(der);
  }
  boost::system::error_code ignored;
  stream.lowest_layer().close(ignored);  // no close_notify: an endpoint that stalls it would cost the timeout
}

}  // namespace klaxon::certs
