#include "adapters/sinks/delivery.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>

#include "adapters/net/asio.hpp"
#include "adapters/net/http_client.hpp"
#include "adapters/net/retry.hpp"
#include "engine/printable.hpp"

namespace klaxon::sinks {

std::optional<Endpoint> parse_endpoint(std::string_view url, std::string& error) {
  auto e = net::parse_url(url, {"http", "https"}, error);
  if (e && e->has_credentials) {
    error = "credentials in the URL are not supported (use --webhook-header 'Authorization: ...')";
    return std::nullopt;
  }
  return e;
}

struct DeliveryQueue::State {
  explicit State(asio::any_io_executor ex) : executor(ex), wake(ex) {}

  std::string name;
  Endpoint endpoint;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type;
  RetryPolicy policy;

  std::unique_ptr<net::HttpClient> client;
  asio::any_io_executor executor;  // the delivery thread's
  asio::steady_timer wake;         // the queue's coroutine waits on it when there is nothing to send

  mutable std::mutex mu;
  std::deque<std::string> waiting;
  bool in_flight = false;
  bool failing = false;   // trouble was said; say when it ends
  bool gave_up_said = false;
  DeliveryStats stats;
};

void DeliveryQueue::post(std::string body, bool supersede) {
  {
    std::lock_guard lock(state_->mu);
    if (supersede) state_->waiting.clear();
    if (state_->waiting.size() >= state_->policy.capacity) {
      state_->waiting.pop_front();
      ++state_->stats.dropped;
    }
    state_->waiting.push_back(std::move(body));
  }
  // The coroutine runs on the delivery thread; wake it there (timers are not thread-safe).
  asio::post(state_->executor, [s = state_] { s->wake.cancel(); });
}

DeliveryStats DeliveryQueue::stats() const {
  std::lock_guard lock(state_->mu);
  DeliveryStats s = state_->stats;
  s.queue_depth = state_->waiting.size() + (state_->in_flight ? 1 : 0);
  return s;
}

namespace {

struct Outcome {
  bool ok = false;
  bool permanent = false;  // retrying will not help (net::permanent_status)
  std::string error;
};

Outcome judge(const net::HttpResult& r) {
  if (!r.answered()) return {false, false, r.why()};
  if (r.status >= 200 && r.status < 300) return {true, false, {}};
  std::string body = r.body.substr(0, 200);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  return {false, net::permanent_status(r.status), "answered HTTP " + std::to_string(r.status) + (body.empty() ? "" : ": " + printable(body))};
}

}  // namespace

struct DeliveryWorker::Impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  std::shared_ptr<const net::TlsClient> tls;
  std::vector<std::unique_ptr<DeliveryQueue>> queues;
  std::vector<std::shared_ptr<DeliveryQueue::State>> states;
  std::thread thread;
  // flush() waits here; a queue that has nothing left to send says so.
  std::mutex idle_mu;
  std::condition_variable idle_cv;

  void said_idle() {
    { std::lock_guard lock(idle_mu); }  // a flush() between its check and its wait sees the change
    idle_cv.notify_all();
  }

  static asio::awaitable<Outcome> post_once(DeliveryQueue::State& s, const std::string& body) {
    net::HttpRequest req;
    req.method = net::HttpRequest::Method::post;
    req.target = s.endpoint.target;
    req.headers.emplace_back("Content-Type", s.content_type);
    for (const auto& h : s.headers) req.headers.push_back(h);
    req.body = body;
    co_return judge(co_await s.client->request(std::move(req), s.policy.request_timeout));
  }

  asio::awaitable<void> run_queue(std::shared_ptr<DeliveryQueue::State> s) {
    for (;;) {
      std::string body;
      bool have = false;
      {
        std::lock_guard lock(s->mu);
        if (!s->waiting.empty()) {
          body = std::move(s->waiting.front());
          s->waiting.pop_front();
          have = true;
        }
        s->in_flight = have;
      }
      if (!have) {
        said_idle();
        boost::system::error_code ec;
        s->wake.expires_at(asio::steady_timer::time_point::max());
        co_await s->wake.async_wait(net::into(ec));
        continue;
      }
      net::Backoff backoff(s->policy.first_backoff, s->policy.max_backoff);
      for (int attempt = 1;; ++attempt) {
        Outcome r = co_await post_once(*s, body);
        if (!settle(*s, r, attempt)) break;
        co_await net::sleep_for(backoff.next());
      }
      std::lock_guard lock(s->mu);
      s->in_flight = false;
    }
  }

  // Counts the outcome of one attempt and says what the operator must know. True: try again.
  static bool settle(DeliveryQueue::State& s, const Outcome& r, int attempt) {
    std::lock_guard lock(s.mu);
    if (r.ok) {
      ++s.stats.sent;
      if (s.failing) std::fprintf(stderr, "klaxon: %s: delivering again\n", s.name.c_str());
      s.failing = s.gave_up_said = false;
      return false;
    }
    if (!s.failing) {
      std::fprintf(stderr, "klaxon: warning: %s: %s; retrying (up to %zu posts are kept meanwhile)\n", s.name.c_str(),
                   r.error.c_str(), s.policy.capacity);
      s.failing = true;
    }
    if (r.permanent || attempt >= s.policy.max_attempts) {
      ++s.stats.failed;
      if (!s.gave_up_said) {
        std::fprintf(stderr, "klaxon: error: %s: a post was not delivered (%s%s); counted as failed\n", s.name.c_str(),
                     r.permanent ? "" : "retry budget spent: ", r.error.c_str());
        s.gave_up_said = true;
      }
      return false;
    }
    ++s.stats.retries;
    return true;
  }

  bool idle() const {
    for (const auto& s : states) {
      std::lock_guard lock(s->mu);
      if (!s->waiting.empty() || s->in_flight) return false;
    }
    return true;
  }
};

DeliveryWorker::DeliveryWorker(const TlsOptions& tls) : impl_(std::make_unique<Impl>()) {
  impl_->tls = std::make_shared<const net::TlsClient>(tls);  // throws for an unusable --ca-file
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

DeliveryWorker::~DeliveryWorker() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

DeliveryQueue& DeliveryWorker::add_queue(std::string name, Endpoint endpoint,
                                         std::vector<std::pair<std::string, std::string>> headers,
                                         std::string content_type, RetryPolicy policy) {
  auto state = std::make_shared<DeliveryQueue::State>(impl_->io.get_executor());
  state->name = name;
  state->endpoint = std::move(endpoint);
  state->headers = std::move(headers);
  state->content_type = std::move(content_type);
  state->policy = policy;
  state->client = std::make_unique<net::HttpClient>(state->endpoint, impl_->tls);
  state->stats.sink = std::move(name);
  impl_->states.push_back(state);
  impl_->queues.push_back(std::make_unique<DeliveryQueue>(state));
  asio::co_spawn(impl_->io, impl_->run_queue(state), asio::detached);
  return *impl_->queues.back();
}

asio::any_io_executor DeliveryWorker::executor() { return impl_->io.get_executor(); }

bool DeliveryWorker::flush(std::chrono::milliseconds limit) {
  {
    std::unique_lock lock(impl_->idle_mu);
    impl_->idle_cv.wait_for(lock, limit, [&] { return impl_->idle(); });
  }
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  bool all = true;
  for (const auto& s : impl_->states) {
    std::lock_guard lock(s->mu);
    const std::size_t left = s->waiting.size() + (s->in_flight ? 1 : 0);
    s->stats.dropped += left;
    s->stats.left_at_exit += left;
    s->waiting.clear();
    s->in_flight = false;
    all &= left == 0;
  }
  return all;
}

std::vector<DeliveryStats> DeliveryWorker::stats() const {
  std::vector<DeliveryStats> out;
  for (const auto& q : impl_->queues) out.push_back(q->stats());
  return out;
}

}  // namespace klaxon::sinks
