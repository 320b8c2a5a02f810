// adapters/certs/kubernetes_certificates.cpp — see the header.
#include "adapters/certs/kubernetes_certificates.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <simdjson.h>

#include "adapters/certs/list_items.hpp"
#include "adapters/net/asio.hpp"
#include "adapters/sources/child_process.hpp"

namespace klaxon::certs {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

std::string_view text_at(element e, std::string_view pointer) {
  std::string_view out;
  if (e.at_pointer(pointer).get(out) != simdjson::SUCCESS) return {};
  return out;
}

// Wipes a decoded value that may be a secret before its memory is given back.
void wipe(std::string& bytes) {
  if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
  bytes.clear();
}

// A base64 value (a Secret's data, a caBundle) read as certificates from `source`.
// `must_hold`: say so when it holds none (a caBundle, a TLS Secret's tls.crt); otherwise a value
// without a certificate is dropped without a word (passwords, tokens, keys).
void read_base64_value(std::string_view value, const std::string& source, bool must_hold, Inventory& out) {
  if (value.size() / 4 * 3 > kMaxSourceBytes) {
    out.errors.push_back({source, fmt::format("{:.1f} MiB, more than the {} MiB a certificate source may be; not read",
                                              double(value.size()) / 4 * 3 / (1 << 20), kMaxSourceBytes >> 20)});
    return;
  }
  auto bytes = decode_base64(value);
  if (!bytes) {
    if (must_hold) out.errors.push_back({source, "not base64"});
    return;
  }
  if (holds_pem_certificate(*bytes)) read_certificates(*bytes, source, out);
  else if (must_hold) out.errors.push_back({source, "holds no PEM certificate"});
  wipe(*bytes);
}

std::string continue_token(element page) { return std::string(text_at(page, "/metadata/continue")); }

bool is_key_name(std::string_view key) { return key.ends_with(".key") || key == "key.pem" || key.ends_with("-key.pem"); }

simdjson::dom::array items_of(simdjson::dom::parser& parser, std::string_view page, bool& ok) {
  simdjson::dom::array items;
  element root;
  ok = parser.parse(page.data(), page.size()).get(root) == simdjson::SUCCESS &&
       root["items"].get(items) == simdjson::SUCCESS;
  return items;
}

// ---- kubectl ------------------------------------------------------------------------------------------

struct Captured {
  int status = -1;
  std::string out, err;
};

// Runs kubectl to its end on a private loop (klaxon certs is one-shot; a page is bounded).
Captured run_kubectl(const std::vector<std::string>& argv) {
  asio::io_context io;
  Captured c;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::unique_ptr<sources::ChildProcess> child;
        try {
          child = std::make_unique<sources::ChildProcess>(io.get_executor(), argv);
        } catch (const std::system_error& e) {
          c.err = fmt::format("cannot run {}: {}", argv[0], e.what());
          co_return;
        }
        std::vector<char> buf(65536);
        for (;;) {
          boost::system::error_code ec;
          const std::size_t n =
              co_await child->out().async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
          if (ec) break;
          c.out.append(buf.data(), n);
        }
        c.status = co_await child->wait(std::chrono::milliseconds(5000));
        c.err = child->error_text();
      },
      asio::detached);
  io.run();
  return c;
}

std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  if (line.size() > 300) line.resize(300);
  return line;
}

// What a failed list says to an operator: RBAC spelt out when forbidden.
std::string list_error(const std::string& resource, const std::string& err) {
  if (err.find("orbidden") != std::string::npos)
    return fmt::format("forbidden: the account needs get, list and watch on {} ({})", resource, first_line(err));
  return err.empty() ? "kubectl failed without a word" : first_line(err);
}

}  // namespace

namespace {

// ---- one object of each kind -----------------------------------------------------------------------

void read_secret(element secret, Inventory& out) {
  const std::string_view ns = text_at(secret, "/metadata/namespace"), name = text_at(secret, "/metadata/name");
  const bool tls = text_at(secret, "/type") == "kubernetes.io/tls";
  object data;
  if (secret["data"].get(data) != simdjson::SUCCESS) return;
  for (auto [key, value] : data) {
    std::string_view encoded;
    if (is_key_name(key) || value.get(encoded) != simdjson::SUCCESS) continue;
    read_base64_value(encoded, fmt::format("secret:{}/{}/{}", ns, name, key), tls && key == "tls.crt", out);
  }
}

void read_configmap(element map, Inventory& out) {
  const std::string_view ns = text_at(map, "/metadata/namespace"), name = text_at(map, "/metadata/name");
  object data;
  if (map["data"].get(data) == simdjson::SUCCESS) {
    for (auto [key, value] : data) {
      std::string_view text;
      if (value.get(text) != simdjson::SUCCESS || !holds_pem_certificate(text)) continue;
      if (text.size() > kMaxSourceBytes) {
        out.errors.push_back({fmt::format("configmap:{}/{}/{}", ns, name, key),
                              fmt::format("{:.1f} MiB, more than the {} MiB a certificate source may be; not read",
                                          double(text.size()) / (1 << 20), kMaxSourceBytes >> 20)});
        continue;
      }
      read_certificates(text, fmt::format("configmap:{}/{}/{}", ns, name, key), out);
    }
  }
  if (map["binaryData"].get(data) == simdjson::SUCCESS) {
    for (auto [key, value] : data) {
      std::string_view encoded;
      if (value.get(encoded) == simdjson::SUCCESS)
        read_base64_value(encoded, fmt::format("configmap:{}/{}/{}", ns, name, key), false, out);
    }
  }
}

void read_webhooks(element configuration, std::string_view kind, Inventory& out) {
  const std::string_view name = text_at(configuration, "/metadata/name");
  simdjson::dom::array webhooks;
  if (configuration["webhooks"].get(webhooks) != simdjson::SUCCESS) return;
  std::size_t index = 0;
  for (element webhook : webhooks) {
    const std::string_view bundle = text_at(webhook, "/clientConfig/caBundle");
    if (!bundle.empty()) read_base64_value(bundle, fmt::format("webhook:{}/{}/{}", kind, name, index), true, out);
    ++index;
  }
}

// CRDs and APIServices: one caBundle per object, at `pointer`.
void read_bundle_of(element item, const char* word, const char* pointer, Inventory& out) {
  const std::string_view bundle = text_at(item, pointer);
  if (!bundle.empty()) read_base64_value(bundle, fmt::format("{}:{}", word, text_at(item, "/metadata/name")), true, out);
}

constexpr const char* kCrdBundle = "/spec/conversion/webhook/clientConfig/caBundle";
constexpr const char* kApiServiceBundle = "/spec/caBundle";

// A whole page (the tests' and the benchmark's way in): each item read by `read`.
template <typename Read>
std::string read_page(std::string_view page, std::string_view resource, Read read, Inventory& out) {
  simdjson::dom::parser parser;
  bool ok = false;
  const auto items = items_of(parser, page, ok);
  if (!ok) {
    out.errors.push_back({fmt::format("kubernetes:{}", resource), "the API server's answer is not a list"});
    return "";
  }
  for (element item : items) read(item, out);
  element root;
  if (parser.parse(page.data(), page.size()).get(root) != simdjson::SUCCESS) return "";
  return continue_token(root);
}

}  // namespace

std::string read_secret_page(std::string_view page, Inventory& out) {
  return read_page(page, "secrets", read_secret, out);
}

std::string read_configmap_page(std::string_view page, Inventory& out) {
  return read_page(page, "configmaps", read_configmap, out);
}

std::string read_webhook_page(std::string_view page, std::string_view kind, Inventory& out) {
  return read_page(page, kind, [&](element e, Inventory& o) { read_webhooks(e, kind, o); }, out);
}

std::string read_crd_page(std::string_view page, Inventory& out) {
  return read_page(page, "crd", [](element e, Inventory& o) { read_bundle_of(e, "crd", kCrdBundle, o); }, out);
}

std::string read_apiservice_page(std::string_view page, Inventory& out) {
  return read_page(page, "apiservice", [](element e, Inventory& o) { read_bundle_of(e, "apiservice", kApiServiceBundle, o); },
                   out);
}

namespace {

struct Kind {
  std::string resource;
  std::string path;  // without the query
  std::function<void(element, Inventory&)> read;  // one object
  std::string object_word;  // how its objects' sources begin: secret, webhook:MutatingWebhookConfiguration, crd
  bool namespaced;
};

// kubectl with the user's kubeconfig and context, the namespace to read, and the kinds.
struct Cluster {
  std::vector<std::string> base;
  std::vector<Kind> kinds;
  std::vector<std::string> with(const std::vector<std::string>& words) const {
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), words.begin(), words.end());
    return argv;
  }
};

std::optional<Cluster> cluster_of(const KubernetesOptions& options, Inventory& out) {
  const std::string kubectl = sources::find_on_path(options.kubectl);
  if (kubectl.empty()) {
    out.errors.push_back({"kubernetes", fmt::format("{} is not on PATH: install kubectl, or add its directory to PATH",
                                                    options.kubectl)});
    return std::nullopt;
  }
  Cluster cluster;
  cluster.base = {kubectl};
  if (!options.kubeconfig.empty()) cluster.base.push_back("--kubeconfig=" + options.kubeconfig);
  if (!options.context.empty()) cluster.base.push_back("--context=" + options.context);

  std::string ns = options.namespace_;
  if (ns.empty() && !options.all_namespaces) {
    const Captured c = run_kubectl(cluster.with({"config", "view", "--minify", "-o", "jsonpath={..namespace}"}));
    ns = c.status == 0 && !c.out.empty() ? c.out.substr(0, c.out.find_first_of(" \n")) : "default";
  }
  const std::string scope = options.all_namespaces ? "" : "/namespaces/" + ns;
  cluster.kinds = {
      {"secrets", "/api/v1" + scope + "/secrets", read_secret, "secret", true},
      {"configmaps", "/api/v1" + scope + "/configmaps", read_configmap, "configmap", true},
      {"mutatingwebhookconfigurations", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
       [](element e, Inventory& inventory) { read_webhooks(e, "MutatingWebhookConfiguration", inventory); },
       "webhook:MutatingWebhookConfiguration", false},
      {"validatingwebhookconfigurations", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
       [](element e, Inventory& inventory) { read_webhooks(e, "ValidatingWebhookConfiguration", inventory); },
       "webhook:ValidatingWebhookConfiguration", false},
      {"customresourcedefinitions", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
       [](element e, Inventory& inventory) { read_bundle_of(e, "crd", kCrdBundle, inventory); }, "crd", false},
      {"apiservices", "/apis/apiregistration.k8s.io/v1/apiservices",
       [](element e, Inventory& inventory) { read_bundle_of(e, "apiservice", kApiServiceBundle, inventory); },
       "apiservice", false},
  };
  return cluster;
}

// The largest object read (its JSON): a 16 MiB value in base64 and then some. The API server
// keeps objects under 1.5 MiB (etcd's limit), so this bounds only what a hostile or broken
// server could send.
constexpr std::size_t kMaxObjectBytes = 2 * kMaxSourceBytes;
static_assert(ListItems::kPadding >= simdjson::SIMDJSON_PADDING);

// `"name":"VALUE"` in the first bytes of an object too large to parse (its metadata comes first).
std::string_view field_in_head(std::string_view head, std::string_view name) {
  const std::string needle = fmt::format(R"("{}":")", name);
  const std::size_t at = head.find(needle);
  if (at == std::string_view::npos) return {};
  const std::size_t from = at + needle.size(), to = head.find('"', from);
  if (to == std::string_view::npos || to - from > 253) return {};
  return head.substr(from, to - from);
}

// One object larger than kMaxObjectBytes: an error naming it, if its head names it.
ReadError oversized_object(const Kind& kind, std::string_view head, std::size_t size) {
  const std::size_t meta = head.find(R"("metadata":{)");
  const std::string_view metadata = meta == std::string_view::npos ? std::string_view{} : head.substr(meta);
  const std::string_view name = field_in_head(metadata, "name"), ns = field_in_head(metadata, "namespace");
  std::string source = "kubernetes:" + kind.resource;
  if (!name.empty()) {
    if (kind.namespaced) source = fmt::format("{}:{}/{}", kind.object_word, ns, name);
    else if (kind.object_word.starts_with("webhook:")) source = fmt::format("{}/{}", kind.object_word, name);
    else source = fmt::format("{}:{}", kind.object_word, name);
  }
  return {source, fmt::format("an object of {:.1f} MiB, more than the {} MiB one may be; not read", double(size) / (1 << 20),
                              kMaxObjectBytes >> 20)};
}

// What listing a kind gave: its objects' certificates and errors, the list's resourceVersion (to
// watch from), or why it could not be listed.
struct Listed {
  Inventory inventory;
  std::string version;
  std::optional<ReadError> error;
};

// Lists `kind`, `page_size` objects a request, each page read as kubectl writes it (ListItems):
// one object at a time is held, whatever the page size, so pages can be large and kubectl,
// whose start is what a page costs, starts a few times rather than once per 500 objects.
asio::awaitable<Listed> list_kind(const Cluster& cluster, const Kind& kind, std::size_t page_size,
                                  simdjson::dom::parser& parser) {
  Listed listed;
  Inventory& out = listed.inventory;
  const auto executor = co_await asio::this_coro::executor;
  std::string token;
  do {
    std::string path = fmt::format("{}?limit={}", kind.path, page_size);
    if (!token.empty()) path += "&continue=" + token;  // opaque base64url: no escaping needed
    const std::vector<std::string> argv = cluster.with({"get", "--raw", path, "--request-timeout=60s"});
    std::unique_ptr<sources::ChildProcess> child;
    try {
      child = std::make_unique<sources::ChildProcess>(executor, argv);
    } catch (const std::system_error& e) {
      listed.error = ReadError{"kubernetes:" + kind.resource, fmt::format("cannot run {}: {}", argv[0], e.what())};
      co_return listed;
    }
    bool unreadable = false;
    ListItems items(
        kMaxObjectBytes,
        [&](std::string_view item) {
          element e;
          if (parser.parse(item.data(), item.size(), false).get(e) != simdjson::SUCCESS) {
            unreadable = true;
            return;
          }
          kind.read(e, out);
        },
        [&](std::string_view head, std::size_t size) { out.errors.push_back(oversized_object(kind, head, size)); });
    std::vector<char> buf(65536);
    bool list = true;
    for (;;) {
      boost::system::error_code ec;
      const std::size_t n =
          co_await child->out().async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      if (list) list = items.feed({buf.data(), n});
      OPENSSL_cleanse(buf.data(), n);
      if (!list) child->kill();  // the rest of a page that is not a list is not worth reading
    }
    const int status = co_await child->wait(std::chrono::milliseconds(5000));
    if (status != 0 && list) {
      listed.error = ReadError{"kubernetes:" + kind.resource, list_error(kind.resource, child->error_text())};
      co_return listed;
    }
    const std::string rest = items.finish();
    element root;
    if (rest.empty() || parser.parse(rest).get(root) != simdjson::SUCCESS) {
      listed.error = ReadError{"kubernetes:" + kind.resource,
                               fmt::format("the API server's answer is not a list ({})",
                                           items.error().empty() ? "not JSON" : items.error())};
      co_return listed;
    }
    if (unreadable) out.errors.push_back({"kubernetes:" + kind.resource, "an object in the API server's answer is not JSON"});
    token = continue_token(root);
    listed.version = std::string(text_at(root, "/metadata/resourceVersion"));
  } while (!token.empty());
  co_return listed;
}

}  // namespace

void read_kubernetes(const KubernetesOptions& options, Inventory& out) {
  const std::optional<Cluster> cluster = cluster_of(options, out);
  if (!cluster) return;
  // Every kind at once: the wall time is the slowest kind's, not the sum of six.
  asio::io_context io;
  std::vector<Listed> listed(cluster->kinds.size());
  for (std::size_t k = 0; k < cluster->kinds.size(); ++k)
    asio::co_spawn(
        io,
        [&, k]() -> asio::awaitable<void> {
          simdjson::dom::parser parser;
          listed[k] = co_await list_kind(*cluster, cluster->kinds[k], options.page_size, parser);
        },
        asio::detached);
  io.run();
  for (Listed& l : listed) {  // in the kinds' order, whatever order they finished in
    for (Certificate& c : l.inventory.certificates) out.certificates.push_back(std::move(c));
    for (ReadError& e : l.inventory.errors) out.errors.push_back(std::move(e));
    if (l.error) out.errors.push_back(std::move(*l.error));
  }
}

}  // namespace klaxon::certs

// ---- list, then watch ----------------------------------------------------------------------------------

namespace klaxon::certs {
namespace {

// What one object holds.
struct ObjectReading {
  std::vector<Certificate> certificates;
  std::vector<ReadError> errors;
};

// One kind followed: its objects as last listed or watched, and why its list failed, if it did.
struct Followed {
  std::map<std::string, ObjectReading> objects;
  std::optional<ReadError> error;
  bool listed = false;
};

// The object a certificate's source belongs to: `secret:NS/NAME/KEY#2` -> `secret:NS/NAME`,
// `webhook:KIND/NAME/0` -> `webhook:KIND/NAME`; `crd:NAME` and an object named whole
// (`secret:NS/NAME`, an object too large to read) stay.
std::string object_of(std::string source) {
  if (const auto hash = source.rfind('#'); hash != std::string::npos) source.resize(hash);
  if ((source.starts_with("secret:") || source.starts_with("configmap:") || source.starts_with("webhook:")) &&
      std::count(source.begin(), source.end(), '/') >= 2)
    source.resize(source.rfind('/'));
  return source;
}

// The same name for an object of a watch event.
std::string object_key(const Kind& kind, std::string_view ns, std::string_view name) {
  if (kind.namespaced) return fmt::format("{}:{}/{}", kind.object_word, ns, name);
  if (kind.object_word.starts_with("webhook:")) return fmt::format("{}/{}", kind.object_word, name);
  return fmt::format("{}:{}", kind.object_word, name);
}

void add_reading(std::map<std::string, ObjectReading>& objects, Inventory&& reading) {
  for (Certificate& c : reading.certificates) objects[object_of(c.source)].certificates.push_back(std::move(c));
  for (ReadError& e : reading.errors) objects[object_of(e.source)].errors.push_back(std::move(e));
}

enum class WatchEnd { dropped, gone, failed };

// One watch of `kind` from `version`, until it ends: each event read into `state`, `version`
// moved to the newest resourceVersion seen (bookmarks too). Returns why it ended.
asio::awaitable<WatchEnd> watch_from(const Cluster& cluster, const Kind& kind, std::string& version,
                                     simdjson::dom::parser& parser, Followed& state, bool& dirty) {
  const std::vector<std::string> argv = cluster.with(
      {"get", "--raw", fmt::format("{}?watch=1&allowWatchBookmarks=true&resourceVersion={}", kind.path, version),
       "--request-timeout=0"});
  const auto executor = co_await asio::this_coro::executor;
  std::unique_ptr<sources::ChildProcess> child;
  try {
    child = std::make_unique<sources::ChildProcess>(executor, argv);
  } catch (const std::system_error&) {
    co_return WatchEnd::failed;
  }
  std::string pending;
  std::vector<char> buf(65536);
  bool gone = false, any = false, skipping = false;
  while (!gone) {
    boost::system::error_code ec;
    const std::size_t n =
        co_await child->out().async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    pending.append(buf.data(), n);
    OPENSSL_cleanse(buf.data(), n);
    std::size_t at = 0;
    for (std::size_t end; !gone && (end = pending.find('\n', at)) != std::string::npos; at = end + 1) {
      if (skipping) {  // the end of an event too large to read
        skipping = false;
        continue;
      }
      element event;
      if (parser.parse(pending.data() + at, end - at).get(event) != simdjson::SUCCESS) continue;
      any = true;
      const std::string_view type = text_at(event, "/type");
      if (type == "ERROR") {  // 410 Gone (too old a version) or another failure: list again
        gone = true;
        break;
      }
      element object;
      if (event["object"].get(object) != simdjson::SUCCESS) continue;
      if (const std::string_view v = text_at(object, "/metadata/resourceVersion"); !v.empty()) version = std::string(v);
      if (type == "BOOKMARK") continue;
      const std::string key = object_key(kind, text_at(object, "/metadata/namespace"), text_at(object, "/metadata/name"));
      state.objects.erase(key);
      if (type != "DELETED") {
        Inventory reading;
        kind.read(object, reading);
        add_reading(state.objects, std::move(reading));
      }
      dirty = true;
    }
    OPENSSL_cleanse(pending.data(), at);
    pending.erase(0, at);
    if (pending.size() > kMaxObjectBytes) {  // one event larger than any object may be: passed over
      if (!skipping) {
        Inventory reading;
        reading.errors.push_back(oversized_object(kind, pending, pending.size()));
        add_reading(state.objects, std::move(reading));
        dirty = true;
      }
      skipping = true;
      wipe(pending);
    }
  }
  wipe(pending);
  if (gone) {
    child->terminate();
    co_return WatchEnd::gone;
  }
  const int status = co_await child->wait(std::chrono::milliseconds(2000));
  co_return status != 0 && !any ? WatchEnd::failed : WatchEnd::dropped;
}

// Lists the kind, then watches from the list's resourceVersion, resuming a watch that ends
// from the last version seen, until one says 410 Gone; then lists again. `state` holds what it
// knows; `dirty` says it changed.
asio::awaitable<void> follow_kind(const Cluster& cluster, const Kind& kind, std::size_t page_size,
                                  std::chrono::milliseconds retry, Followed& state, bool& dirty) {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  simdjson::dom::parser parser;
  for (;;) {
    Listed listed = co_await list_kind(cluster, kind, page_size, parser);
    state.listed = true;
    dirty = true;
    if (listed.error) {  // what was known stays known: a failed list is not a removal
      state.error = std::move(listed.error);
      pause.expires_after(retry);
      co_await pause.async_wait(asio::use_awaitable);
      continue;
    }
    std::map<std::string, ObjectReading> objects;
    add_reading(objects, std::move(listed.inventory));
    state.objects = std::move(objects);
    state.error.reset();
    std::string version = std::move(listed.version);

    // Watch: one JSON event a line. Only what changed is read; memory holds certificates only.
    // A watch that ends (the API server's timeout, a dropped connection) is resumed from the
    // last resourceVersion it carried, without a new list; only a watch that says ERROR (410
    // Gone: that version was compacted away) or fails at once is followed by a new list.
    for (;;) {
      const WatchEnd end = co_await watch_from(cluster, kind, version, parser, state, dirty);
      if (end == WatchEnd::gone) break;
      if (end == WatchEnd::failed) {  // kubectl could not watch (RBAC, the server is away): list again later
        pause.expires_after(retry);
        co_await pause.async_wait(asio::use_awaitable);
        break;
      }
      pause.expires_after(std::chrono::milliseconds(200));  // dropped: resume, not in a tight loop
      co_await pause.async_wait(asio::use_awaitable);
    }
  }
}

}  // namespace

void watch_kubernetes(const KubernetesOptions& options, std::chrono::milliseconds retry,
                      const std::function<bool()>& stopping, const std::function<void(Inventory)>& reading) {
  Inventory none;
  const std::optional<Cluster> cluster = cluster_of(options, none);
  if (!cluster) {
    reading(std::move(none));
    return;
  }
  asio::io_context io;
  std::vector<Followed> states(cluster->kinds.size());
  bool dirty = false;
  for (std::size_t k = 0; k < cluster->kinds.size(); ++k)
    asio::co_spawn(io, follow_kind(*cluster, cluster->kinds[k], options.page_size, retry, states[k], dirty), asio::detached);
  // Every 200 ms: stop when asked; hand on the whole inventory when something changed, once
  // every kind was listed (a kind not yet listed is not a kind without certificates).
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer tick(co_await asio::this_coro::executor);
        for (;;) {
          tick.expires_after(std::chrono::milliseconds(200));
          co_await tick.async_wait(asio::use_awaitable);
          if (stopping()) {
            io.stop();
            co_return;
          }
          if (!dirty || !std::all_of(states.begin(), states.end(), [](const Followed& f) { return f.listed; })) continue;
          dirty = false;
          Inventory inventory;
          for (const Followed& f : states) {
            for (const auto& [key, o] : f.objects) {
              inventory.certificates.insert(inventory.certificates.end(), o.certificates.begin(), o.certificates.end());
              inventory.errors.insert(inventory.errors.end(), o.errors.begin(), o.errors.end());
            }
            if (f.error) inventory.errors.push_back(*f.error);
          }
          reading(std::move(inventory));
        }
      },
      asio::detached);
  io.run();
}

}  // namespace klaxon::certs
