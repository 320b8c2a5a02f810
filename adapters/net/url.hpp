// adapters/net/url.hpp — the one URL parser: what an operator wrote after --alertmanager,
// --webhook or --url, taken apart for a client.
//
// Boost.URL does the reading (RFC 3986: IPv6 literals, percent-encoding, ports); this file
// adds what a client of ours needs and says what is wrong in an operator's words: only the
// schemes the flag allows, a host, a port that is a number from 1 to 65535 (or the scheme's
// default), the target sent on the request line (path and query, at least "/"; a #fragment is
// never sent), and `shown`, the form every message and metric label uses. `shown` never holds
// credentials (user:password@), and no path or query either (a Slack webhook's path is its
// secret). Whether credentials in the URL are refused is the caller's choice: each flag has
// its own place for them (--webhook-header, --user/--password), so `has_credentials` is set
// and the caller says where they belong.
// Errors: parse_url returns nullopt and sets `error` (no secret in it). A URL that did not
// parse is named in messages with redact_url (engine/printable.hpp).
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace klaxon::net {

struct Url {
  std::string scheme;   // lower case: http, https, ws, wss
  bool tls = false;     // https or wss
  std::string host;     // a name, or an IP address without brackets ("::1")
  bool ip_literal = false;
  std::string port;     // as given, or 80/443 by the scheme
  std::string target;   // path and query as written (percent-encoded), at least "/"
  std::string shown;    // scheme://host[:port] and "/…" when there is more: for messages
  bool has_credentials = false;

  /// The Host header: the host (IPv6 in brackets), with ":port" unless the scheme's default.
  std::string host_header() const;
  bool default_port() const { return port == (tls ? "443" : "80"); }
};

/// Parses `text` as an absolute URL with one of `schemes` (lower case; http/ws are plain,
/// https/wss are TLS). nullopt with `error` set when it is not one.
std::optional<Url> parse_url(std::string_view text, std::initializer_list<std::string_view> schemes, std::string& error);

}  // namespace klaxon::net
