// adapters/sinks/status_server.hpp — `--listen`: /metrics, /healthz, /readyz and a status page.
//
// Reading and matching must never wait for a scraper, and the replay path has no event loop,
// so the status server runs its own io_context on its own thread and only serves what the
// pipeline last published on a StatusBoard (rendered text, swapped under a mutex every second
// and after incident events). The board also answers for `klaxon serve`'s push listener, so
// /metrics is on Loki's port too.
//
//   /metrics  Prometheus text (render_prometheus)     /healthz  200 while the process runs
//   /readyz   200 when every source is connected, else 503 and why
//   /  /incident/ID  /api/incidents  /api/certificates   pages of the published StatusPages
//
// Pages are rendered on the HTTP thread from what was published last (an immutable picture,
// adapters/sinks/run_picture.hpp), so a page per incident costs nothing until someone asks.
//
// The port can face a network (a status page behind an ingress, Prometheus scraping across
// nodes): a ListenGuard adds TLS (certificate re-read when it changes, client certificates
// optional) and credentials (bearer token or basic auth, re-read when their files change), the
// same adapters/net/ pieces as serve's push port. /healthz and /readyz stay open: a kubelet
// probe carries no credential. A refused client gets a failed handshake or a 401 before any
// page is rendered; the first ten refusals are said, all are counted.
//
// Thread safety: StatusBoard is safe from any thread; StatusServer owns its thread and stops
// and joins it in its destructor. The guard's objects are used on that thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <boost/asio/ip/tcp.hpp>

namespace klaxon::net {
class ServerTls;
class HttpAuth;
}  // namespace klaxon::net

namespace klaxon::sinks {

struct StatusAnswer {
  unsigned status = 200;
  std::string content_type;
  std::string body;
};

/// The pages beyond /metrics, /healthz and /readyz; immutable once published.
class StatusPages {
 public:
  virtual ~StatusPages() = default;
  /// The answer for `path` (query string removed), or nullopt when there is no such page.
  virtual std::optional<StatusAnswer> page(std::string_view path) const = 0;
};

class StatusBoard {
 public:
  /// What the pipeline shows now. `not_ready` empty means ready.
  void publish(std::string metrics, std::shared_ptr<const StatusPages> pages, std::string not_ready);
  /// The same with one fixed page at `/`.
  void publish(std::string metrics, std::string page, std::string not_ready);
  /// The answer for a GET of `target`, or nullopt when the path is not ours.
  std::optional<StatusAnswer> answer(std::string_view target) const;

 private:
  mutable std::mutex mutex_;
  std::string metrics_;
  std::shared_ptr<const StatusPages> pages_;
  std::string not_ready_ = "starting";
};

/// What guards the status port; either may be null (plain HTTP, no credential asked).
struct ListenGuard {
  std::shared_ptr<net::ServerTls> tls;
  std::shared_ptr<net::HttpAuth> auth;
  /// Where the guard's few messages go (a reload, the first refusals); stderr when empty.
  std::function<void(const std::string&)> say;
};

class StatusServer {
 public:
  /// Binds `at` (port 0 picks one) and starts serving. Throws std::runtime_error with the
  /// operator's fix when the address is taken.
  StatusServer(std::shared_ptr<const StatusBoard> board, const boost::asio::ip::tcp::endpoint& at,
               ListenGuard guard = {});
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  /// "127.0.0.1:9095", the real port when 0 was asked.
  std::string address() const;

  /// Clients turned away so far: failed TLS handshakes, requests without the credential.
  struct Refusals {
    std::uint64_t tls = 0, credentials = 0;
  };
  Refusals refusals() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace klaxon::sinks
