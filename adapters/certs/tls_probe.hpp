// adapters/certs/tls_probe.hpp — the certificates a live endpoint serves, by shaking hands.
//
// A certificate can be renewed on disk and still not served (the process never reloaded it),
// or served from a place nobody inventories (a load balancer). Only asking the endpoint tells.
// One TLS handshake, no verification (we record what is served, trusted or not), the whole
// chain the server sent, then close; everything under one deadline, so an endpoint that
// accepts and never answers costs the timeout and nothing more.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/certs/certificate_inventory.hpp"

namespace klaxon::certs {

struct ProbeTarget {
  std::string host, port;
  std::string server_name;  // SNI; empty for none (the host is an IP and none was given)
  std::string source;       // endpoint:HOST:PORT (then @SNI when one was given)
};

/// Parses `HOST:PORT`, `[IPv6]:PORT`, optionally `@SNI` after it (`10.0.0.5:443@api.example`).
/// A host name is its own SNI. Returns nullopt and sets `error` when the text is not a target.
std::optional<ProbeTarget> parse_probe_target(std::string_view text, std::string& error);

/// Connects, shakes hands, and adds the served chain to `out` in the order served, numbered as
/// a bundle is (`source` alone, or `source#1` the leaf, `source#2`, ...). A refused connection, an endpoint that does not speak
/// TLS, or one silent past `timeout` is one ReadError naming the target.
/// `cancelled` (asked every 100 ms) ends a probe in flight at once, adding nothing: Ctrl-C must
/// not wait for a hanging endpoint's timeout.
void probe_endpoint(const ProbeTarget& target, std::chrono::milliseconds timeout, Inventory& out,
                    const std::function<bool()>& cancelled = {});

}  // namespace klaxon::certs
