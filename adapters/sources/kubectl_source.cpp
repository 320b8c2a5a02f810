// adapters/sources/kubectl_source.cpp — see kubectl_source.hpp.
#include "adapters/sources/kubectl_source.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <system_error>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <fmt/format.h>
#include <simdjson.h>

#include "adapters/net/asio.hpp"
#include "adapters/sources/child_process.hpp"
#include "adapters/sources/log_resume.hpp"
#include "engine/civil_time.hpp"
#include "engine/envelope.hpp"

namespace klaxon::sources {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t kMaxPendingBytes = 16 << 20;  // a "line" longer than this is passed on as it is
constexpr milliseconds kFirstBackoff{1000}, kMaxBackoff{30000};

std::string first_line(const std::string& text) {
  const std::string line = text.substr(0, text.find('\n'));
  return line.empty() ? "no message" : line;
}

// What kubectl's stderr says about whether trying again can help. An unknown --context is
// "context was not found": not a missing namespace or pod.
enum class Verdict { retry, not_found, fatal };
Verdict judge(const std::string& err) {
  for (const char* fatal : {"context was not found", "no such file or directory", "Forbidden", "forbidden", "Unauthorized", "does not exist", "invalid configuration",
                            "error loading config", "unknown flag", "unknown shorthand", "invalid argument",
                            "cannot execute the program"})
    if (err.find(fatal) != std::string::npos) return Verdict::fatal;
  if (err.find("NotFound") != std::string::npos || err.find("not found") != std::string::npos) return Verdict::not_found;
  return Verdict::retry;
}

// `kubectl get TYPE/NAME` words for the workloads whose pods `kubectl logs TYPE/NAME` means.
std::optional<std::string> workload_kind(std::string_view type) {
  if (type == "deploy" || type == "deployment" || type == "deployments") return "deployment";
  if (type == "sts" || type == "statefulset" || type == "statefulsets") return "statefulset";
  if (type == "ds" || type == "daemonset" || type == "daemonsets") return "daemonset";
  if (type == "rs" || type == "replicaset" || type == "replicasets") return "replicaset";
  if (type == "job" || type == "jobs") return "job";
  return std::nullopt;
}

bool is_pod_type(std::string_view type) { return type == "pod" || type == "pods" || type == "po"; }

// What to say when kubectl failed for good.
std::string kubectl_failure(const std::string& err, const KubectlOptions& o) {
  if (err.find("context was not found") != std::string::npos)
    return fmt::format("--context {}: the kubeconfig has no such context (kubectl config get-contexts lists them)",
                       o.context.empty() ? "(current)" : o.context);
  return fmt::format("kubectl: {}", first_line(err));
}

struct Captured {
  int status = -1;
  std::string out, err;
};

}  // namespace

struct KubectlSource::Pod {
  std::string ns, name, uid;
  std::vector<std::string> containers;  // the ones to follow
  bool pending = false;                 // not started: no logs yet
  bool finished = false;                // Succeeded/Failed: its logs end, no restarts
};

struct KubectlSource::Stream {
  std::string key, ns, pod, container, uid;
  Labels labels;
  bool existed_at_start = false;  // then the user's --tail/--since apply; a new pod is read from its first line
  bool finished = false;
  int unlisted = 0;  // consecutive listings without its pod
  bool stalled = false;
  bool said_stall = false;  // a stall restart was said for this container (later ones are only counted)
  ResumeFilter resume;
  std::shared_ptr<ChildProcess> child;
  Clock::time_point last_output;
};

struct KubectlSource::Listing {
  bool ok = false;
  std::vector<Pod> pods;
  std::string error;
};

// ---- arguments ----------------------------------------------------------------------------

void check_kubectl_options(const KubectlOptions& o) {
  if (!o.resource.empty()) {
    if (!o.selector.empty()) throw FatalSourceError("give either -l SELECTOR or a pod/workload name, not both");
    const auto slash = o.resource.find('/');
    if (slash != std::string::npos) {
      const std::string type = o.resource.substr(0, slash);
      if (!is_pod_type(type) && !workload_kind(type))
        throw FatalSourceError(fmt::format("{}: use pod/NAME, deploy/NAME, sts/NAME, ds/NAME, rs/NAME or job/NAME", o.resource));
      if (slash + 1 >= o.resource.size()) throw FatalSourceError(fmt::format("{}: the name is missing", o.resource));
    }
  }
  if (o.selector.empty() && o.resource.empty())
    throw FatalSourceError("say which pods: -l SELECTOR or pod/NAME (as for kubectl logs); see klaxon kubectl --help");
  if (o.all_namespaces && !o.resource.empty()) throw FatalSourceError("-A goes with -l SELECTOR, not with a pod name");
  if (!o.container.empty() && o.all_containers) throw FatalSourceError("give either -c NAME or --all-containers");
  // kubectl says "no such file" for a missing kubeconfig, which reads like a passing fault:
  // without this, klaxon would try again forever.
  if (!o.kubeconfig.empty()) {
    std::FILE* f = std::fopen(o.kubeconfig.c_str(), "r");
    if (!f) throw FatalSourceError(fmt::format("--kubeconfig {}: cannot be read ({})", o.kubeconfig, std::strerror(errno)));
    std::fclose(f);
  }
}

// ---- the source ---------------------------------------------------------------------------

KubectlSource::KubectlSource(asio::any_io_executor executor, KubectlOptions options)
    : executor_(std::move(executor)), options_(std::move(options)), poll_timer_(executor_) {
  kubectl_path_ = find_on_path(options_.kubectl);
  if (kubectl_path_.empty())
    throw FatalSourceError(fmt::format("{} is not on PATH: install kubectl, or add its directory to PATH", options_.kubectl));
  selector_ = options_.selector;
}

KubectlSource::~KubectlSource() {
  // Stop every child now (the summary follows); their coroutines never run again.
  for (auto& [key, stream] : streams_)
    if (stream->child) stream->child->terminate();
  if (lister_) lister_->terminate();
}

void KubectlSource::fail(std::string message) {
  if (!fatal_) fatal_ = std::move(message);
  poll_timer_.cancel();
}

std::vector<std::string> KubectlSource::kubectl_args(std::vector<std::string> words) const {
  std::vector<std::string> argv{kubectl_path_};
  if (!options_.kubeconfig.empty()) argv.push_back("--kubeconfig=" + options_.kubeconfig);
  if (!options_.context.empty()) argv.push_back("--context=" + options_.context);
  argv.insert(argv.end(), words.begin(), words.end());
  return argv;
}

// Runs a short kubectl command to its end (list, get); the child is held where the destructor finds it.
static asio::awaitable<Captured> capture(const asio::any_io_executor& executor, std::vector<std::string> argv,
                                         std::shared_ptr<ChildProcess>& holder) {
  Captured c;
  try {
    holder = std::make_shared<ChildProcess>(executor, argv);
  } catch (const std::system_error& e) {
    c.err = fmt::format("cannot execute the program {}: {}", argv[0], e.what());
    co_return c;
  }
  auto child = holder;
  std::vector<char> buf(65536);  // not an array: GCC 12 cannot keep one in a coroutine frame
  for (;;) {
    boost::system::error_code ec;
    const std::size_t n = co_await child->out().async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    c.out.append(buf.data(), n);
  }
  c.status = co_await child->wait(milliseconds(5000));
  c.err = child->error_text();
  holder.reset();
  co_return c;
}

asio::awaitable<void> KubectlSource::check_namespace() {
  if (options_.namespace_.empty() || options_.all_namespaces) co_return;
  // (The argument list is built before co_await: GCC 12 cannot hold an initializer list across one.)
  auto argv = kubectl_args(std::vector<std::string>{"get", "namespace", options_.namespace_, "-o", "name", "--request-timeout=30s"});
  Captured c = co_await capture(executor_, std::move(argv), lister_);
  if (c.status == 0) co_return;
  const Verdict v = judge(c.err);
  // Many accounts may read pods but not namespaces: then the pod listing tells.
  if (v == Verdict::fatal && c.err.find("orbidden") != std::string::npos) co_return;
  if (v == Verdict::not_found)
    throw FatalSourceError(fmt::format("namespace \"{}\" not found ({}); check -n and --context", options_.namespace_,
                                       first_line(c.err)));
  if (v == Verdict::fatal) throw FatalSourceError(kubectl_failure(c.err, options_));
}

asio::awaitable<void> KubectlSource::resolve_workload() {
  const auto slash = options_.resource.find('/');
  if (slash == std::string::npos) co_return;
  auto kind = workload_kind(options_.resource.substr(0, slash));
  if (!kind) co_return;
  const std::string name = options_.resource.substr(slash + 1);
  std::vector<std::string> words{"get", *kind, name, "-o", "json", "--request-timeout=30s"};
  if (!options_.namespace_.empty()) words.insert(words.end(), {"-n", options_.namespace_});
  for (;;) {
    Captured c = co_await capture(executor_, kubectl_args(words), lister_);
    if (c.status == 0) {
      simdjson::dom::parser parser;
      simdjson::dom::object labels;
      if (parser.parse(c.out).at_pointer("/spec/selector/matchLabels").get(labels) == simdjson::SUCCESS) {
        for (auto [k, v] : labels) {
          std::string_view value;
          if (v.get(value) != simdjson::SUCCESS) continue;
          selector_ += fmt::format("{}{}={}", selector_.empty() ? "" : ",", k, value);
        }
      }
      if (selector_.empty())
        throw FatalSourceError(fmt::format("{} has no spec.selector.matchLabels; use -l SELECTOR", options_.resource));
      co_return;
    }
    const Verdict v = judge(c.err);
    if (v != Verdict::retry) throw FatalSourceError(kubectl_failure(c.err, options_));
    asio::steady_timer wait(executor_, options_.poll_interval);
    co_await wait.async_wait(asio::use_awaitable);
  }
}

asio::awaitable<KubectlSource::Listing> KubectlSource::list_pods() {
  std::vector<std::string> words{"get", "pods", "-o", "json", "--request-timeout=30s"};
  const bool one_pod = selector_.empty();
  if (one_pod) {
    const auto slash = options_.resource.find('/');
    words[1] = "pod";
    words.insert(words.begin() + 2, slash == std::string::npos ? options_.resource : options_.resource.substr(slash + 1));
    words.push_back("--ignore-not-found");
  } else {
    words.insert(words.end(), {"-l", selector_});
  }
  if (options_.all_namespaces) words.push_back("-A");
  else if (!options_.namespace_.empty()) words.insert(words.end(), {"-n", options_.namespace_});

  Listing listing;
  Captured c = co_await capture(executor_, kubectl_args(words), lister_);
  if (c.status != 0) {
    listing.error = c.err.empty() ? fmt::format("kubectl exited with status {}", c.status) : c.err;
    if (judge(c.err) == Verdict::fatal) fail(kubectl_failure(c.err, options_));
    co_return listing;
  }
  listing.ok = true;
  if (c.out.find_first_not_of(" \n") == std::string::npos) co_return listing;  // --ignore-not-found: no such pod

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(c.out).get(doc) != simdjson::SUCCESS) {
    listing.ok = false;
    listing.error = "kubectl get pods printed something that is not JSON";
    co_return listing;
  }
  auto add = [&](simdjson::dom::element item) {
    Pod pod;
    std::string_view s;
    if (item.at_pointer("/metadata/name").get(s) == simdjson::SUCCESS) pod.name = s;
    if (item.at_pointer("/metadata/namespace").get(s) == simdjson::SUCCESS) pod.ns = s;
    if (item.at_pointer("/metadata/uid").get(s) == simdjson::SUCCESS) pod.uid = s;
    std::string_view phase;
    if (item.at_pointer("/status/phase").get(phase) != simdjson::SUCCESS) phase = {};
    pod.pending = phase == "Pending" || phase.empty();
    pod.finished = phase == "Succeeded" || phase == "Failed";
    std::vector<std::string> all;
    simdjson::dom::array containers;
    if (item.at_pointer("/spec/containers").get(containers) == simdjson::SUCCESS)
      for (auto c : containers)
        if (c["name"].get(s) == simdjson::SUCCESS) all.emplace_back(s);
    if (pod.name.empty() || all.empty()) return;
    if (options_.all_containers) {
      pod.containers = all;
    } else if (!options_.container.empty()) {
      if (std::find(all.begin(), all.end(), options_.container) == all.end()) return;  // not in this pod
      pod.containers = {options_.container};
    } else {
      std::string_view preferred;  // as kubectl: the annotated default, else the first
      if (item.at_pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container").get(preferred) ==
              simdjson::SUCCESS &&
          std::find(all.begin(), all.end(), preferred) != all.end())
        pod.containers = {std::string(preferred)};
      else
        pod.containers = {all.front()};
    }
    listing.pods.push_back(std::move(pod));
  };
  std::string_view kind;
  simdjson::dom::array items;
  if (doc["kind"].get(kind) == simdjson::SUCCESS && kind == "Pod") add(doc);
  else if (doc["items"].get(items) == simdjson::SUCCESS)
    for (auto item : items) add(item);
  co_return listing;
}

void KubectlSource::reconcile(const std::vector<Pod>& pods, Intake& out) {
  struct Wanted {
    const Pod* pod;
    std::string container;
  };
  std::map<std::string, Wanted> wanted;
  for (const Pod& pod : pods) {
    if (first_listing_) initial_uids_.insert(pod.uid);
    if (pod.pending) continue;
    for (const auto& c : pod.containers) {
      if (done_.contains(pod.uid + "/" + c)) continue;
      wanted[fmt::format("{}/{}/{}", pod.ns.empty() ? options_.namespace_ : pod.ns, pod.name, c)] = {&pod, c};
    }
  }
  // Pods that are gone (or no longer match): their streams end on their own; a child still
  // running at the second listing without its pod is stopped.
  for (auto& [key, stream] : streams_) {
    auto it = wanted.find(key);
    if (it != wanted.end() && it->second.pod->uid == stream->uid) {
      stream->unlisted = 0;
      stream->finished = it->second.pod->finished;
      continue;
    }
    if (++stream->unlisted >= 2 && stream->child) stream->child->kill();
  }
  std::size_t skipped = 0;
  for (const auto& [key, w] : wanted) {
    if (streams_.contains(key)) continue;
    if (streams_.size() >= options_.max_streams) {
      ++skipped;
      continue;
    }
    auto s = std::make_shared<Stream>();
    s->key = key;
    s->ns = w.pod->ns.empty() ? options_.namespace_ : w.pod->ns;
    s->pod = w.pod->name;
    s->container = w.container;
    s->uid = w.pod->uid;
    s->labels = {{"namespace", s->ns}};
    s->existed_at_start = initial_uids_.contains(s->uid);
    s->finished = w.pod->finished;
    streams_.emplace(key, s);
    // A stream's unexpected error must not vanish with its coroutine: it ends the run, said.
    asio::co_spawn(executor_, follow(s, out), [this, key](std::exception_ptr error) {
      if (!error) return;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        fail(fmt::format("following {} failed: {}", key, e.what()));
      }
    });
  }
  if (skipped != said_skipped_) {
    said_skipped_ = skipped;
    if (skipped > 0)
      out.notice("kubectl_streams_over_limit",
                 fmt::format("following {} of {} containers (--max-streams {}); narrow the selector or raise --max-streams",
                             options_.max_streams, options_.max_streams + skipped, options_.max_streams));
  }
}

std::vector<std::string> KubectlSource::logs_args(const Stream& s) const {
  std::vector<std::string> words{"logs", "-f", "--prefix", "--timestamps", "-n", s.ns, "pod/" + s.pod, "-c", s.container};
  if (s.resume.newest() != 0) {
    words.push_back("--since-time=" + format_rfc3339_nano(s.resume.newest()));
  } else if (s.existed_at_start) {
    if (!options_.since.empty()) words.push_back("--since=" + options_.since);
    if (!options_.since_time.empty()) words.push_back("--since-time=" + options_.since_time);
    if (options_.tail) words.push_back(fmt::format("--tail={}", *options_.tail));
    else if (!selector_.empty() && options_.since.empty() && options_.since_time.empty()) words.push_back("--tail=10");
  }
  return kubectl_args(std::move(words));
}

asio::awaitable<void> KubectlSource::follow(std::shared_ptr<Stream> s, Intake& out) {
  milliseconds backoff = kFirstBackoff;
  std::vector<char> buf(65536);
  for (;;) {
    try {
      s->child = std::make_shared<ChildProcess>(executor_, logs_args(*s));
    } catch (const std::system_error& e) {
      fail(fmt::format("cannot start {}: {}", kubectl_path_, e.what()));
      co_return;
    }
    auto child = s->child;
    const auto started = Clock::now();
    s->last_output = started;
    s->stalled = false;
    std::string pending;
    std::size_t delivered = 0;
    auto deliver = [&](std::string_view line) {
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      const Nanos time = peel_envelope(line).time;
      if (!s->resume.admit(line, time)) return;
      out.line(s->key, line, time, s->labels);
      ++delivered;
    };
    for (;;) {
      boost::system::error_code ec;
      const std::size_t n =
          co_await child->out().async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      s->last_output = Clock::now();
      pending.append(buf.data(), n);
      std::size_t start = 0;
      for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
        deliver(std::string_view(pending).substr(start, nl - start));
      pending.erase(0, start);
      if (pending.size() > kMaxPendingBytes) {
        deliver(pending);
        pending.clear();
      }
    }
    // A piece of a line without its newline is not passed on: the next child repeats it whole.
    const int status = co_await child->wait(milliseconds(2000));
    const std::string err = child->error_text();
    s->child.reset();
    if (fatal_) co_return;
    const Verdict verdict = status == 0 ? Verdict::retry : judge(err);
    if (verdict == Verdict::fatal) {
      fail(fmt::format("kubectl logs {}: {}", s->key, first_line(err)));
      co_return;
    }
    if (s->unlisted > 0 || s->finished || verdict == Verdict::not_found) break;

    if (delivered > 0 || Clock::now() - started > kMaxBackoff) backoff = kFirstBackoff;
    s->resume.restart();
    const std::string why = s->stalled         ? fmt::format("silent for {}s, stopped", options_.stall_timeout.count() / 1000)
                            : status == 0      ? std::string("the API server closed the stream")
                                               : fmt::format("status {}: {}", status, first_line(err));
    // A quiet container is restarted every --stall-timeout (a dead connection looks the same),
    // hour after hour: said once per container, every restart counted.
    const bool routine = s->stalled && s->said_stall;
    s->said_stall = s->said_stall || s->stalled;
    out.notice("kubectl_restarts",
               routine ? std::string()
                       : fmt::format("kubectl logs {} ended ({}); restarting in {}s from {}{}", s->key, why,
                                     backoff.count() / 1000.0,
                                     s->resume.newest() ? format_rfc3339_nano(s->resume.newest()) : std::string("the start"),
                                     s->stalled ? fmt::format(" (while it stays quiet it is restarted every {}s: counted, not said again)",
                                                              options_.stall_timeout.count() / 1000)
                                                : std::string()));
    asio::steady_timer wait(executor_, backoff);
    co_await wait.async_wait(asio::use_awaitable);
    backoff = std::min(backoff * 2, kMaxBackoff);
    if (fatal_) co_return;
    if (s->unlisted > 0) break;
  }
  if (s->finished) done_.insert(s->uid + "/" + s->container);
  out.end(s->key);
  auto it = streams_.find(s->key);
  if (it != streams_.end() && it->second == s) streams_.erase(it);
}

void KubectlSource::watch_for_stalls() {
  if (options_.stall_timeout.count() <= 0) return;
  const auto now = Clock::now();
  for (auto& [key, s] : streams_)
    if (s->child && s->child->running() && now - s->last_output > options_.stall_timeout) {
      s->stalled = true;
      s->child->kill();  // its reader sees the end and restarts it from the newest timestamp
    }
}

asio::awaitable<void> KubectlSource::run(Intake& out) {
  co_await check_namespace();
  co_await resolve_workload();
  for (;;) {
    Listing listing = co_await list_pods();
    if (fatal_) throw FatalSourceError(*fatal_);
    if (listing.ok) {
      if (listing_failing_) out.notice("kubectl_list_failures", "kubectl lists pods again", 0);
      listing_failing_ = false;
      out.connected("kubectl", true);
      reconcile(listing.pods, out);
      if (first_listing_ && listing.pods.empty())
        out.notice("kubectl_no_pods", fmt::format("no pods match yet; klaxon keeps looking every {}s",
                                                  options_.poll_interval.count() / 1000.0),
                   0);
      first_listing_ = false;
    } else {
      out.notice("kubectl_list_failures",
                 listing_failing_ ? std::string()
                                  : fmt::format("kubectl get pods failed ({}); retrying every {}s",
                                                first_line(listing.error), options_.poll_interval.count() / 1000.0));
      listing_failing_ = true;
      out.connected("kubectl", false);
    }
    watch_for_stalls();
    poll_timer_.expires_after(options_.poll_interval);
    boost::system::error_code ec;
    co_await poll_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (fatal_) throw FatalSourceError(*fatal_);
  }
}

}  // namespace klaxon::sources
