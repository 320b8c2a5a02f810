// tests/support/fake_kube_api.cpp — see fake_kube_api.hpp.
#include "tests/support/fake_kube_api.hpp"

#include <chrono>
#include <cstdlib>

#include <sys/socket.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "adapters/net/asio.hpp"

namespace klaxon::test {
namespace {

namespace http = boost::beast::http;

std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::strtol(std::string(s.substr(i + 1, 2)).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> query_of(std::string_view target) {
  std::map<std::string, std::string> q;
  const auto at = target.find('?');
  if (at == std::string_view::npos) return q;
  std::string_view rest = target.substr(at + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    const auto eq = pair.find('=');
    q[url_decode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return q;
}

std::vector<std::string> path_parts(std::string_view target) {
  std::vector<std::string> parts;
  std::string_view path = target.substr(0, target.find('?'));
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const auto slash = path.find('/');
    parts.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return parts;
}

// Equality-based selectors: `a=b`, `a==b`, `a!=b`, `a` (exists), joined by commas.
bool selector_matches(const std::string& selector, const FakeKubeApi::Labels& labels) {
  std::string_view rest = selector;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::string_view term = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (term.empty()) continue;
    const auto ne = term.find("!=");
    const auto eq = term.find('=');
    if (ne != std::string_view::npos) {
      auto it = labels.find(std::string(term.substr(0, ne)));
      if (it != labels.end() && it->second == term.substr(ne + 2)) return false;
    } else if (eq != std::string_view::npos) {
      std::string_view value = term.substr(eq + 1);
      if (!value.empty() && value.front() == '=') value.remove_prefix(1);
      auto it = labels.find(std::string(term.substr(0, eq)));
      if (it == labels.end() || it->second != value) return false;
    } else if (!labels.contains(std::string(term))) {
      return false;
    }
  }
  return true;
}

std::string status_json(int code, const std::string& reason, const std::string& message) {
  std::string quoted;
  for (char c : message) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return fmt::format(R"({{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"{}","reason":"{}","code":{}}})",
                     quoted, reason, code);
}

}  // namespace

FakeKubeApi::FakeKubeApi() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
  port_ = acceptor_.local_endpoint().port();
  accept_thread_ = std::thread([this] { accept_loop(); });
}

FakeKubeApi::~FakeKubeApi() {
  stopping_ = true;
  changed_.notify_all();
  {
    // Wake the blocking accept with a connection of our own.
    boost::system::error_code ec;
    tcp::socket wake(io_);
    wake.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
  }
  accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    for (auto& weak : sockets_)
      if (auto s = weak.lock()) {
        boost::system::error_code ec;
        s->shutdown(tcp::socket::shutdown_both, ec);
      }
    threads.swap(threads_);
  }
  changed_.notify_all();
  for (auto& t : threads) t.join();
}

std::string FakeKubeApi::url() const { return fmt::format("http://127.0.0.1:{}", port_); }

void FakeKubeApi::add_namespace(const std::string& ns) {
  std::lock_guard lock(mutex_);
  namespaces_.insert(ns);
}

void FakeKubeApi::add_pod(const std::string& ns, const std::string& name, const Labels& labels,
                          const std::vector<std::string>& containers) {
  std::lock_guard lock(mutex_);
  namespaces_.insert(ns);
  auto pod = std::make_shared<Pod>();
  pod->labels = labels;
  pod->containers = containers;
  pod->uid = fmt::format("00000000-0000-4000-8000-{:012}", next_uid_++);
  pods_[{ns, name}] = pod;
  changed_.notify_all();
}

void FakeKubeApi::add_deployment(const std::string& ns, const std::string& name, const Labels& selector) {
  std::lock_guard lock(mutex_);
  namespaces_.insert(ns);
  deployments_[{ns, name}] = selector;
}

void FakeKubeApi::stall_log_streams(const std::string& ns, const std::string& pod) {
  std::lock_guard lock(mutex_);
  ++pods_.at({ns, pod})->stall_generation;
  changed_.notify_all();
}

void FakeKubeApi::delete_pod(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = pods_.find({ns, name});
  if (it == pods_.end()) return;
  it->second->deleted = true;
  pods_.erase(it);
  changed_.notify_all();
}

void FakeKubeApi::append_log(const std::string& ns, const std::string& pod, const std::string& container, Nanos time,
                             const std::string& text) {
  std::lock_guard lock(mutex_);
  pods_.at({ns, pod})->logs[container].emplace_back(time, text);
  changed_.notify_all();
}

void FakeKubeApi::cut_log_streams(const std::string& ns, const std::string& pod) {
  std::lock_guard lock(mutex_);
  ++pods_.at({ns, pod})->cut_generation;
  changed_.notify_all();
}

int FakeKubeApi::open_follows(const std::string& ns, const std::string& pod) const {
  std::lock_guard lock(mutex_);
  auto it = pods_.find({ns, pod});
  return it == pods_.end() ? 0 : it->second->follows;
}

std::vector<std::string> FakeKubeApi::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

void FakeKubeApi::accept_loop() {
  for (;;) {
    auto socket = std::make_shared<Socket>(io_);
    boost::system::error_code ec;
    acceptor_.accept(*socket, ec);
    if (stopping_) return;
    if (ec) continue;
    std::lock_guard lock(mutex_);
    sockets_.push_back(socket);
    threads_.emplace_back([this, socket] { serve(socket); });
  }
}

void FakeKubeApi::serve(std::shared_ptr<Socket> socket) {
  boost::beast::flat_buffer buffer;
  while (!stopping_) {
    http::request<http::string_body> request;
    boost::system::error_code ec;
    http::read(*socket, buffer, request, ec);
    if (ec) break;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(std::string(request.method_string()) + " " + std::string(request.target()));
    }
    if (!answer(*socket, std::string(request.method_string()), std::string(request.target()))) break;
  }
  boost::system::error_code ec;
  socket->shutdown(tcp::socket::shutdown_both, ec);
  socket->close(ec);
}

void FakeKubeApi::put_object(const std::string& group_version, const std::string& resource, const std::string& ns,
                             const std::string& name, const std::string& object) {
  {
    std::lock_guard lock(mutex_);
    auto& slot = objects_[{group_version, resource}][{ns, name}];
    events_.push_back({++version_, slot.empty() ? "ADDED" : "MODIFIED", group_version, resource, ns, object});
    slot = object;
  }
  changed_.notify_all();
}

void FakeKubeApi::delete_object(const std::string& group_version, const std::string& resource, const std::string& ns,
                                const std::string& name) {
  {
    std::lock_guard lock(mutex_);
    auto& kind = objects_[{group_version, resource}];
    auto it = kind.find({ns, name});
    if (it == kind.end()) return;
    events_.push_back({++version_, "DELETED", group_version, resource, ns, it->second});
    kind.erase(it);
  }
  changed_.notify_all();
}

void FakeKubeApi::expire_watches() {
  {
    std::lock_guard lock(mutex_);
    oldest_version_ = version_ + 1;
    ++expiry_generation_;
  }
  changed_.notify_all();
}

void FakeKubeApi::cut_watches() {
  std::unique_lock lock(mutex_);
  const unsigned cut = cut_generation_++;
  changed_.notify_all();
  // Returns once those watches are closed: what the test changes next, none of them sends.
  changed_.wait_for(lock, std::chrono::seconds(10), [&] { return open_by_cut_[cut] == 0; });
}

int FakeKubeApi::open_watches() const {
  std::lock_guard lock(mutex_);
  return watches_;
}

void FakeKubeApi::stream_watch(Socket& socket, const std::string& group_version, const std::string& resource,
                               const std::string& ns, unsigned long from) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
  boost::system::error_code ec;
  asio::write(socket, asio::buffer(head), ec);
  if (ec) return;
  std::unique_lock lock(mutex_);
  ++watches_;
  const unsigned generation = expiry_generation_, cut = cut_generation_;
  ++open_by_cut_[cut];
  std::size_t next = 0;
  bool gone = from < oldest_version_;
  for (;;) {
    std::string out;
    if (gone || expiry_generation_ != generation) {
      out = R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version","reason":"Expired","code":410}})"
            "\n";
    } else {
      for (; next < events_.size(); ++next) {
        const WatchEvent& e = events_[next];
        if (e.version <= from || e.group_version != group_version || e.resource != resource || (!ns.empty() && e.ns != ns))
          continue;
        // Each object carries its resourceVersion, as the API server's do: a client resumes from it.
        std::string object = e.object;
        if (const auto at = object.find(R"("metadata":{)"); at != std::string::npos)
          object.insert(at + 12, fmt::format(R"("resourceVersion":"{}"{})", e.version, object[at + 12] == '}' ? "" : ","));
        out += fmt::format(R"({{"type":"{}","object":{}}})", e.type, object) + "\n";
      }
    }
    if (!out.empty()) {
      lock.unlock();
      asio::write(socket, asio::buffer(out), ec);
      lock.lock();
      if (ec) break;
    }
    if (gone || expiry_generation_ != generation || cut_generation_ != cut || stopping_) break;
    changed_.wait_for(lock, std::chrono::milliseconds(200));
    char byte;  // the client went away: the watch is no longer open
    if (::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) break;
  }
  --watches_;
  --open_by_cut_[cut];
  changed_.notify_all();
}

void FakeKubeApi::forbid_resource(const std::string& resource) {
  std::lock_guard lock(mutex_);
  forbidden_resources_.insert(resource);
}

bool FakeKubeApi::list_objects(const std::vector<std::string>& parts, const std::map<std::string, std::string>& query,
                               int& status, std::string& body) {
  // /api/v1[/namespaces/NS]/RESOURCE or /apis/GROUP/VERSION[/namespaces/NS]/RESOURCE
  std::size_t at = 0;
  std::string group_version;
  if (parts.size() >= 3 && parts[0] == "api") {
    group_version = parts[1];
    at = 2;
  } else if (parts.size() >= 4 && parts[0] == "apis") {
    group_version = parts[1] + "/" + parts[2];
    at = 3;
  } else {
    return false;
  }
  std::string ns;
  if (parts.size() == at + 3 && parts[at] == "namespaces") {
    ns = parts[at + 1];
    at += 2;
  }
  if (parts.size() != at + 1) return false;
  const std::string& resource = parts[at];
  std::lock_guard lock(mutex_);
  const auto kind = objects_.find({group_version, resource});
  if (kind == objects_.end()) return false;
  if (forbidden_resources_.contains(resource)) {
    status = 403;
    body = status_json(403, "Forbidden",
                       fmt::format(R"({} is forbidden: User "system:serviceaccount:default:klaxon" cannot list resource "{}")",
                                   resource, resource));
    return true;
  }
  if (query.contains("watch") && (query.at("watch") == "1" || query.at("watch") == "true")) {
    status = -1;  // answer(): stream_watch(group_version, resource, ns), named in the body
    body = group_version + "\n" + resource + "\n" + ns;
    return true;
  }
  const std::size_t limit = query.contains("limit") ? std::stoul(query.at("limit")) : 0;
  const std::size_t from = query.contains("continue") && !query.at("continue").empty() ? std::stoul(query.at("continue")) : 0;
  std::string items;
  std::size_t index = 0, listed = 0;
  bool more = false;
  for (const auto& [key, object] : kind->second) {
    if (!ns.empty() && key.first != ns) continue;
    if (index++ < from) continue;
    if (limit > 0 && listed == limit) {
      more = true;
      break;
    }
    items += (listed++ == 0 ? "" : ",") + object;
  }
  status = 200;
  body = fmt::format(R"({{"kind":"List","apiVersion":"{}","metadata":{{"resourceVersion":"{}"{}}},"items":[{}]}})",
                     group_version, version_, more ? fmt::format(R"(,"continue":"{}")", from + listed) : "", items);
  return true;
}

std::string FakeKubeApi::pod_json(const std::string& ns, const std::string& name, const Pod& pod) const {
  std::string labels, containers, statuses;
  for (const auto& [k, v] : pod.labels) labels += fmt::format(R"({}"{}":"{}")", labels.empty() ? "" : ",", k, v);
  for (const auto& c : pod.containers) {
    containers += fmt::format(R"({}{{"name":"{}","image":"example/{}:1"}})", containers.empty() ? "" : ",", c, c);
    statuses += fmt::format(
        R"({}{{"name":"{}","ready":true,"restartCount":0,"image":"example/{}:1","imageID":"","state":{{"running":{{"startedAt":"2024-01-01T00:00:00Z"}}}}}})",
        statuses.empty() ? "" : ",", c, c);
  }
  return fmt::format(
      R"({{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{}","namespace":"{}","uid":"{}","resourceVersion":"1","creationTimestamp":"2024-01-01T00:00:00Z","labels":{{{}}}}},"spec":{{"containers":[{}]}},"status":{{"phase":"Running","containerStatuses":[{}]}}}})",
      name, ns, pod.uid, labels, containers, statuses);
}

bool FakeKubeApi::answer(Socket& socket, const std::string& method, const std::string& target) {
  const auto parts = path_parts(target);
  const auto query = query_of(target);
  auto reply = [&](http::status status, std::string body) {
    http::response<http::string_body> response{status, 11};
    response.set(http::field::content_type, "application/json");
    response.body() = std::move(body);
    response.prepare_payload();
    boost::system::error_code ec;
    http::write(socket, response, ec);
    return !ec;
  };
  if (method != "GET") return reply(http::status::method_not_allowed, status_json(405, "MethodNotAllowed", "only GET here"));

  if (parts.size() == 1 && parts[0] == "version")
    return reply(http::status::ok, R"({"major":"1","minor":"30","gitVersion":"v1.30.0","platform":"linux/amd64"})");
  if (parts.size() == 1 && parts[0] == "api")
    return reply(http::status::ok,
                 fmt::format(R"({{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:{}"}}]}})",
                             port_));
  if (parts.size() == 1 && parts[0] == "apis")
    return reply(http::status::ok,
                 R"({"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],)"
                 R"("preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}]})");
  if (parts.size() == 3 && parts[0] == "apis" && parts[1] == "apps" && parts[2] == "v1")
    return reply(http::status::ok,
                 R"({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"apps/v1","resources":[)"
                 R"({"name":"deployments","singularName":"deployment","namespaced":true,"kind":"Deployment","verbs":["get","list","watch"],"shortNames":["deploy"],"categories":["all"]}]})");
  if (parts.size() == 2 && parts[0] == "api" && parts[1] == "v1")
    return reply(http::status::ok,
                 R"({"kind":"APIResourceList","groupVersion":"v1","resources":[)"
                 R"({"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace","verbs":["get","list","watch"],"shortNames":["ns"]},)"
                 R"({"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list","watch"],"shortNames":["po"],"categories":["all"]},)"
                 R"({"name":"pods/log","singularName":"","namespaced":true,"kind":"Pod","verbs":["get"]}]})");

  if (int status = 0; !forbidden_) {
    std::string body;
    if (list_objects(parts, query, status, body)) {
      if (status != -1) return reply(http::status(status), std::move(body));
      const auto a = body.find('\n'), b = body.find('\n', a + 1);
      const unsigned long from = query.contains("resourceVersion") ? std::stoul("0" + query.at("resourceVersion")) : 0;
      stream_watch(socket, body.substr(0, a), body.substr(a + 1, b - a - 1), body.substr(b + 1), from);
      return false;
    }
  }

  if (forbidden_) {
    const std::string ns = parts.size() > 3 ? parts[3] : "default";
    return reply(http::status::forbidden,
                 status_json(403, "Forbidden",
                             fmt::format(R"(pods is forbidden: User "system:serviceaccount:{}:klaxon" cannot list resource "pods" in API group "" in the namespace "{}")",
                                         ns, ns)));
  }

  // /apis/apps/v1/namespaces/NS/deployments/NAME
  if (parts.size() == 7 && parts[0] == "apis" && parts[1] == "apps" && parts[5] == "deployments") {
    std::lock_guard lock(mutex_);
    auto it = deployments_.find({parts[4], parts[6]});
    if (it == deployments_.end())
      return reply(http::status::not_found,
                   status_json(404, "NotFound", fmt::format(R"(deployments.apps "{}" not found)", parts[6])));
    std::string labels;
    for (const auto& [k, v] : it->second) labels += fmt::format(R"({}"{}":"{}")", labels.empty() ? "" : ",", k, v);
    return reply(http::status::ok,
                 fmt::format(R"({{"kind":"Deployment","apiVersion":"apps/v1","metadata":{{"name":"{}","namespace":"{}"}},"spec":{{"selector":{{"matchLabels":{{{}}}}}}}}})",
                             parts[6], parts[4], labels));
  }

  // /api/v1/pods (all namespaces) and /api/v1/namespaces/NS/pods[/NAME[/log]]
  std::string ns;
  bool all_namespaces = false;
  std::size_t at = 2;
  if (parts.size() >= 3 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "pods") {
    all_namespaces = true;
  } else if (parts.size() >= 4 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "namespaces") {
    ns = parts[3];
    at = 4;
    if (parts.size() == 4) {
      std::lock_guard lock(mutex_);
      if (!namespaces_.contains(ns))
        return reply(http::status::not_found, status_json(404, "NotFound", fmt::format(R"(namespaces "{}" not found)", ns)));
      return reply(http::status::ok,
                   fmt::format(R"({{"kind":"Namespace","apiVersion":"v1","metadata":{{"name":"{}"}},"status":{{"phase":"Active"}}}})", ns));
    }
  } else {
    return reply(http::status::not_found, status_json(404, "NotFound", "the server could not find the requested resource"));
  }
  if (parts.size() <= at || parts[at] != "pods")
    return reply(http::status::not_found, status_json(404, "NotFound", "the server could not find the requested resource"));

  if (parts.size() == at + 1) {  // list
    std::string items;
    std::lock_guard lock(mutex_);
    auto selector = query.find("labelSelector");
    for (const auto& [key, pod] : pods_) {
      if (!all_namespaces && key.first != ns) continue;
      if (selector != query.end() && !selector_matches(selector->second, pod->labels)) continue;
      items += (items.empty() ? "" : ",") + pod_json(key.first, key.second, *pod);
    }
    return reply(http::status::ok,
                 fmt::format(R"({{"kind":"PodList","apiVersion":"v1","metadata":{{"resourceVersion":"{}"}},"items":[{}]}})",
                             requests_.size(), items));
  }
  const std::string name = parts[at + 1];
  std::shared_ptr<Pod> pod;
  {
    std::lock_guard lock(mutex_);
    auto it = pods_.find({ns, name});
    if (it != pods_.end()) pod = it->second;
  }
  if (!pod) return reply(http::status::not_found, status_json(404, "NotFound", fmt::format(R"(pods "{}" not found)", name)));
  if (parts.size() == at + 2) {
    std::lock_guard lock(mutex_);
    return reply(http::status::ok, pod_json(ns, name, *pod));
  }
  if (parts.size() == at + 3 && parts[at + 2] == "log") {
    std::string container = query.contains("container") ? query.at("container") : pod->containers.front();
    Nanos since = 0;
    if (query.contains("sinceTime")) since = parse_rfc3339_prefix(query.at("sinceTime")).value_or(0);
    const long tail = query.contains("tailLines") ? std::atol(query.at("tailLines").c_str()) : -1;
    stream_log(socket, ns, name, container, query.contains("follow") && query.at("follow") == "true",
               query.contains("timestamps") && query.at("timestamps") == "true", since, tail);
    return false;
  }
  return reply(http::status::not_found, status_json(404, "NotFound", "the server could not find the requested resource"));
}

void FakeKubeApi::stream_log(Socket& socket, const std::string& ns, const std::string& name,
                             const std::string& container, bool follow, bool timestamps, Nanos since, long tail) {
  // A body delimited by the connection's end: what ending a stream midway looks like to kubectl.
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n";
  boost::system::error_code ec;
  asio::write(socket, asio::buffer(head), ec);
  if (ec) return;

  std::unique_lock lock(mutex_);
  auto pod = pods_.at({ns, name});
  const unsigned generation = pod->cut_generation;
  const unsigned stall = pod->stall_generation;
  auto& lines = pod->logs[container];
  std::size_t next = 0;
  if (since > 0)
    while (next < lines.size() && lines[next].first < since) ++next;
  if (tail >= 0 && lines.size() - next > static_cast<std::size_t>(tail)) next = lines.size() - tail;
  ++pod->follows;
  for (;;) {
    std::string out;
    for (; pod->stall_generation == stall && next < lines.size(); ++next)
      out += (timestamps ? format_rfc3339_nano(lines[next].first) + " " : std::string()) + lines[next].second + "\n";
    if (!out.empty()) {
      lock.unlock();
      asio::write(socket, asio::buffer(out), ec);
      lock.lock();
      if (ec) break;
    }
    if (!follow || stopping_ || pod->deleted || pod->cut_generation != generation) break;
    changed_.wait_for(lock, std::chrono::milliseconds(200));
    char byte;  // the client went away (kubectl died): the stream is no longer open
    if (::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) break;
  }
  --pod->follows;
}

}  // namespace klaxon::test
