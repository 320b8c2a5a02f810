// adapters/sinks/delivery.hpp — getting HTTP posts to receivers that may be down.
//
// Network sinks (Alertmanager, webhooks) must never slow reading or matching, and must not lose
// an alert because a receiver restarted. So a sink only hands a finished body to its
// DeliveryQueue, which returns at once; one DeliveryWorker thread (its own io_context) sends
// every queue's posts with the one HTTP client (adapters/net/http_client.hpp), over HTTP/1.1 or
// HTTPS. Each queue is bounded and sends in order, one post at a time; a post that fails is
// retried with the one backoff (adapters/net/retry.hpp: exponential, with jitter) until its
// retry budget is spent, then counted as failed. When a queue is full its oldest waiting post
// is dropped and counted. A sink that sends state rather than events (Alertmanager: the whole
// set of alerts) posts with `supersede`, so waiting posts that a newer one makes stale are let
// go instead of being sent.
//
// Shutdown: flush() is the second phase of a run's shutdown (after the source stopped and the
// pipeline finished, so every sink has queued its last post): it waits, without polling, until
// every queue is empty or the deadline passes, then stops the thread. What was still queued is
// counted (`left_at_exit`) so the operator hears how much was not delivered. The destructor only
// stops the thread and frees.
//
// Errors: a receiver's trouble is said once on stderr when it starts and once when it ends,
// counted in DeliveryStats, and never thrown. A permanent answer (net::permanent_status: a 4xx
// other than 408/429) is not retried: the receiver will not take that body, whatever we do.
// Thread safety: DeliveryQueue::post and stats, and DeliveryWorker::stats, may be called from
// any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "adapters/net/tls_client.hpp"
#include "adapters/net/url.hpp"

namespace klaxon::sinks {

/// An http(s) URL taken apart for a client (`shown` names it in messages and metric labels).
using Endpoint = net::Url;
/// Parses `http://host[:port][/path]` or `https://...`; nullopt with `error` set otherwise, and
/// for a URL with credentials in it (they belong in a header).
std::optional<Endpoint> parse_endpoint(std::string_view url, std::string& error);

/// Whom to trust: --ca-file or the system's store; --insecure-skip-verify.
using TlsOptions = net::TlsClientOptions;

struct RetryPolicy {
  std::chrono::milliseconds first_backoff{250};
  std::chrono::milliseconds max_backoff{30'000};
  int max_attempts = 6;  // the retry budget: attempts per post, the first included
  std::chrono::milliseconds request_timeout{10'000};
  std::size_t capacity = 1000;  // posts waiting at most
};

/// What a queue did so far (for the summary and /metrics).
struct DeliveryStats {
  std::string sink;  // e.g. "alertmanager http://am:9093"
  std::uint64_t sent = 0;
  std::uint64_t failed = 0;   // gave up after the retry budget, or refused (4xx)
  std::uint64_t dropped = 0;  // let go because the queue was full, or left at exit
  std::uint64_t left_at_exit = 0;  // of `dropped`: still queued or in flight when flush's deadline passed
  std::uint64_t retries = 0;
  std::size_t queue_depth = 0;  // waiting or in flight
};

class DeliveryWorker;

/// One receiver's bounded queue of posts. Made by DeliveryWorker::add_queue, owned by it.
class DeliveryQueue {
 public:
  /// Queues `body` (sent as `content_type`) and returns at once. With `supersede`, posts still
  /// waiting are replaced by this one (not counted as dropped: they were stale).
  void post(std::string body, bool supersede = false);
  DeliveryStats stats() const;

  struct State;
  explicit DeliveryQueue(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

class DeliveryWorker {
 public:
  /// Starts the delivery thread. Throws std::runtime_error when the TLS options cannot be used
  /// (an unreadable --ca-file), with a message for the operator.
  explicit DeliveryWorker(const TlsOptions& tls);
  ~DeliveryWorker();
  DeliveryWorker(const DeliveryWorker&) = delete;
  DeliveryWorker& operator=(const DeliveryWorker&) = delete;

  /// A queue posting to `endpoint` with extra `headers` ({"Authorization", "Bearer ..."}).
  /// `name` says which sink it is in messages and stats.
  DeliveryQueue& add_queue(std::string name, Endpoint endpoint, std::vector<std::pair<std::string, std::string>> headers,
                           std::string content_type, RetryPolicy policy = {});

  /// The delivery thread's executor, for sinks' own timers (Alertmanager's resend).
  boost::asio::any_io_executor executor();

  /// Waits at most `limit` for every queue to empty (sent, or given up on after its retries),
  /// then stops the thread. What was still queued is counted as dropped and left_at_exit.
  /// Returns true when nothing was left. Call once, from the thread that runs the pipeline.
  bool flush(std::chrono::milliseconds limit);

  std::vector<DeliveryStats> stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace klaxon::sinks
