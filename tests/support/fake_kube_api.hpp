// tests/support/fake_kube_api.hpp — a small Kubernetes API server on 127.0.0.1 for tests that
// run the real `kubectl` binary.
//
// It answers what `kubectl get pods` and `kubectl logs -f` ask (legacy discovery, pods list with
// label selectors, one pod, namespaces, deployments, `pods/NAME/log` with follow, timestamps, sinceTime,
// tailLines, container), in the shapes the real API server uses. The test drives it: add and
// delete pods, append log lines, end the open log streams of a pod midway (as an API server
// restart or a kubelet does), stall them, or refuse everything with 403. Thread per connection, blocking
// Beast: simple, and the tests' counts are small.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "engine/civil_time.hpp"

namespace klaxon::test {

class FakeKubeApi {
 public:
  using Labels = std::map<std::string, std::string>;

  FakeKubeApi();  ///< listens on 127.0.0.1, a free port
  ~FakeKubeApi();
  FakeKubeApi(const FakeKubeApi&) = delete;
  FakeKubeApi& operator=(const FakeKubeApi&) = delete;

  std::string url() const;

  void add_namespace(const std::string& ns);
  void add_pod(const std::string& ns, const std::string& name, const Labels& labels,
               const std::vector<std::string>& containers);
  /// A Deployment whose spec.selector.matchLabels is `selector` (for `deploy/NAME`).
  void add_deployment(const std::string& ns, const std::string& name, const Labels& selector);
  /// The pod leaves the list; its open log streams end.
  void delete_pod(const std::string& ns, const std::string& name);
  /// One log line; served as `<RFC3339Nano time> <text>` when timestamps are asked for.
  void append_log(const std::string& ns, const std::string& pod, const std::string& container, Nanos time,
                  const std::string& text);
  /// Ends every open log stream of the pod, as the API server does when it drops a stream.
  void cut_log_streams(const std::string& ns, const std::string& pod);
  /// The open log streams of the pod stop sending but stay open: a stalled connection.
  void stall_log_streams(const std::string& ns, const std::string& pod);
  /// How many follow streams of the pod are open now (to wait until kubectl is attached).
  int open_follows(const std::string& ns, const std::string& pod) const;
  /// Every request is answered 403 Forbidden.
  void forbid(bool on) { forbidden_ = on; }
  /// Any other kind of object, listed as the API server lists it (`GET /api/v1/secrets`,
  /// `/api/v1/namespaces/NS/configmaps`, `/apis/GROUP/VERSION/KIND`, with `limit` and
  /// `continue`): `group_version` is `v1` for the core group, else `GROUP/VERSION`; `resource`
  /// the plural (`secrets`); `ns` empty for a cluster-scoped object; `object` its whole JSON.
  /// Adding it again replaces it. Items are listed by namespace, then name.
  void put_object(const std::string& group_version, const std::string& resource, const std::string& ns,
                  const std::string& name, const std::string& object);
  /// Removes an object put before (watchers see DELETED).
  void delete_object(const std::string& group_version, const std::string& resource, const std::string& ns,
                     const std::string& name);
  /// Watches (`?watch=1&resourceVersion=RV`) of put_object's kinds stream ADDED, MODIFIED and
  /// DELETED events after RV, one JSON object a line, as the API server does; lists carry the
  /// current resourceVersion. This ends every open watch with an ERROR event 410 Gone and makes
  /// every resourceVersion so far too old, as etcd compaction does: the client must list again.
  void expire_watches();
  /// Ends every open watch mid-stream without a word (no ERROR event), as a dropped connection
  /// or the API server's own watch timeout does: the client resumes from the last version it saw.
  /// Returns once they are closed (bounded), so a change made next reaches no cut watch.
  void cut_watches();
  /// Watches open now.
  int open_watches() const;
  /// Lists of `resource` are answered 403 Forbidden (an account without that RBAC).
  void forbid_resource(const std::string& resource);
  /// Requests served so far, as "GET /path?query".
  std::vector<std::string> requests() const;

 private:
  struct Pod {
    Labels labels;
    std::vector<std::string> containers;
    std::string uid;
    std::map<std::string, std::vector<std::pair<Nanos, std::string>>> logs;  // by container
    unsigned cut_generation = 0;
    unsigned stall_generation = 0;
    bool deleted = false;
    int follows = 0;
  };
  using Socket = boost::asio::ip::tcp::socket;

  void accept_loop();
  void serve(std::shared_ptr<Socket> socket);
  std::string pod_json(const std::string& ns, const std::string& name, const Pod& pod) const;
  // Answers one request; returns false when the connection must be closed (a log stream ended).
  bool answer(Socket& socket, const std::string& method, const std::string& target);
  void stream_log(Socket& socket, const std::string& ns, const std::string& name, const std::string& container,
                  bool follow, bool timestamps, Nanos since, long tail);

  boost::asio::io_context io_;  // only for the sockets' executor; blocking calls
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> forbidden_{false};

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::set<std::string> namespaces_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<Pod>> pods_;  // (ns, name)
  std::map<std::pair<std::string, std::string>, Labels> deployments_;         // (ns, name) -> selector
  unsigned next_uid_ = 1;
  // put_object: (group_version, resource) -> (ns, name) -> JSON
  std::map<std::pair<std::string, std::string>, std::map<std::pair<std::string, std::string>, std::string>> objects_;
  std::set<std::string> forbidden_resources_;
  // Answers a list of put_object's objects; false when `parts` name none of them.
  bool list_objects(const std::vector<std::string>& parts, const std::map<std::string, std::string>& query,
                    int& status, std::string& body);
  struct WatchEvent {
    unsigned long version;
    std::string type, group_version, resource, ns, object;
  };
  std::vector<WatchEvent> events_;  // every change, in order
  unsigned long version_ = 7;       // the resourceVersion of the latest change
  unsigned long oldest_version_ = 0;  // older ones are 410 Gone
  unsigned expiry_generation_ = 0;
  unsigned cut_generation_ = 0;
  std::map<unsigned, int> open_by_cut_;  // watches open, by the cut generation they began in
  int watches_ = 0;
  void stream_watch(Socket& socket, const std::string& group_version, const std::string& resource, const std::string& ns,
                    unsigned long from);
  std::vector<std::string> requests_;
  std::vector<std::thread> threads_;
  std::vector<std::weak_ptr<Socket>> sockets_;
};

}  // namespace klaxon::test
