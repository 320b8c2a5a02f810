// adapters/certs/kubernetes_certificates.cpp — see the header.
#include "adapters/certs/kubernetes_certificates.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <simdjson.h>

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

std::string read_secret_page(std::string_view page, Inventory& out) {
  simdjson::dom::parser parser;
  bool ok = false;
  const auto items = items_of(parser, page, ok);
  if (!ok) {
    out.errors.push_back({"kubernetes:secrets", "the API server's answer is not a list"});
    return "";
  }
  for (element secret : items) {
    const std::string_view ns = text_at(secret, "/metadata/namespace"), name = text_at(secret, "/metadata/name");
    const bool tls = text_at(secret, "/type") == "kubernetes.io/tls";
    object data;
    if (secret["data"].get(data) != simdjson::SUCCESS) continue;
    for (auto [key, value] : data) {
      std::string_view encoded;
      if (is_key_name(key) || value.get(encoded) != simdjson::SUCCESS) continue;
      read_base64_value(encoded, fmt::format("secret:{}/{}/{}", ns, name, key), tls && key == "tls.crt", out);
    }
  }
  element root;
  if (parser.parse(page.data(), page.size()).get(root) != simdjson::SUCCESS) return "";
  return continue_token(root);
}

std::string read_configmap_page(std::string_view page, Inventory& out) {
  simdjson::dom::parser parser;
  bool ok = false;
  const auto items = items_of(parser, page, ok);
  if (!ok) {
    out.errors.push_back({"kubernetes:configmaps", "the API server's answer is not a list"});
    return "";
  }
  for (element map : items) {
    const std::string_view ns = text_at(map, "/metadata/namespace"), name = text_at(map, "/metadata/name");
    object data;
    if (map["data"].get(data) == simdjson::SUCCESS) {
      for (auto [key, value] : data) {
        std::string_view text;
        if (value.get(text) != simdjson::SUCCESS || !holds_pem_certificate(text)) continue;
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
  element root;
  if (parser.parse(page.data(), page.size()).get(root) != simdjson::SUCCESS) return "";
  return continue_token(root);
}

std::string read_webhook_page(std::string_view page, std::string_view kind, Inventory& out) {
  simdjson::dom::parser parser;
  bool ok = false;
  const auto items = items_of(parser, page, ok);
  if (!ok) {
    out.errors.push_back({fmt::format("kubernetes:{}", kind), "the API server's answer is not a list"});
    return "";
  }
  for (element configuration : items) {
    const std::string_view name = text_at(configuration, "/metadata/name");
    simdjson::dom::array webhooks;
    if (configuration["webhooks"].get(webhooks) != simdjson::SUCCESS) continue;
    std::size_t index = 0;
    for (element webhook : webhooks) {
      const std::string_view bundle = text_at(webhook, "/clientConfig/caBundle");
      if (!bundle.empty()) read_base64_value(bundle, fmt::format("webhook:{}/{}/{}", kind, name, index), true, out);
      ++index;
    }
  }
  element root;
  if (parser.parse(page.data(), page.size()).get(root) != simdjson::SUCCESS) return "";
  return continue_token(root);
}

namespace {

// CRDs and APIServices: one caBundle per object, at `pointer`.
std::string read_bundle_per_object(std::string_view page, const char* word, const char* pointer, Inventory& out) {
  simdjson::dom::parser parser;
  bool ok = false;
  const auto items = items_of(parser, page, ok);
  if (!ok) {
    out.errors.push_back({fmt::format("kubernetes:{}", word), "the API server's answer is not a list"});
    return "";
  }
  for (element item : items) {
    const std::string_view bundle = text_at(item, pointer);
    if (!bundle.empty())
      read_base64_value(bundle, fmt::format("{}:{}", word, text_at(item, "/metadata/name")), true, out);
  }
  element root;
  if (parser.parse(page.data(), page.size()).get(root) != simdjson::SUCCESS) return "";
  return continue_token(root);
}

}  // namespace

std::string read_crd_page(std::string_view page, Inventory& out) {
  return read_bundle_per_object(page, "crd", "/spec/conversion/webhook/clientConfig/caBundle", out);
}

std::string read_apiservice_page(std::string_view page, Inventory& out) {
  return read_bundle_per_object(page, "apiservice", "/spec/caBundle", out);
}

namespace {

struct Kind {
  std::string resource;
  std::string path;  // without the query
  std::string (*read)(std::string_view, Inventory&);
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
      {"secrets", "/api/v1" + scope + "/secrets", &read_secret_page, "secret", true},
      {"configmaps", "/api/v1" + scope + "/configmaps", &read_configmap_page, "configmap", true},
      {"mutatingwebhookconfigurations", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
       [](std::string_view page, Inventory& inventory) {
         return read_webhook_page(page, "MutatingWebhookConfiguration", inventory);
       },
       "webhook:MutatingWebhookConfiguration", false},
      {"validatingwebhookconfigurations", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
       [](std::string_view page, Inventory& inventory) {
         return read_webhook_page(page, "ValidatingWebhookConfiguration", inventory);
       },
       "webhook:ValidatingWebhookConfiguration", false},
      {"customresourcedefinitions", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", &read_crd_page, "crd",
       false},
      {"apiservices", "/apis/apiregistration.k8s.io/v1/apiservices", &read_apiservice_page, "apiservice", false},
  };
  return cluster;
}

}  // namespace

void read_kubernetes(const KubernetesOptions& options, Inventory& out) {
  const std::optional<Cluster> cluster = cluster_of(options, out);
  if (!cluster) return;
  for (const Kind& kind : cluster->kinds) {
    std::string token;
    do {
      std::string path = fmt::format("{}?limit={}", kind.path, options.page_size);
      if (!token.empty()) path += "&continue=" + token;  // opaque base64url: no escaping needed
      Captured c = run_kubectl(cluster->with({"get", "--raw", path, "--request-timeout=60s"}));
      if (c.status != 0) {
        out.errors.push_back({"kubernetes:" + kind.resource, list_error(kind.resource, c.err)});
        wipe(c.out);
        break;
      }
      token = kind.read(c.out, out);
      wipe(c.out);  // Secret values that are not certificates leave memory with their page
    } while (!token.empty());
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
// `webhook:KIND/NAME/0` -> `webhook:KIND/NAME`; `crd:NAME` stays.
std::string object_of(std::string source) {
  if (const auto hash = source.rfind('#'); hash != std::string::npos) source.resize(hash);
  if (source.starts_with("secret:") || source.starts_with("configmap:") || source.starts_with("webhook:"))
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

asio::awaitable<Captured> run_async(const std::vector<std::string>& argv) {
  Captured c;
  const auto executor = co_await asio::this_coro::executor;
  std::unique_ptr<sources::ChildProcess> child;
  try {
    child = std::make_unique<sources::ChildProcess>(executor, argv);
  } catch (const std::system_error& e) {
    c.err = fmt::format("cannot run {}: {}", argv[0], e.what());
    co_return c;
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
  co_return c;
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
  bool gone = false, any = false;
  while (!gone) {
    boost::system::error_code ec;
    const std::size_t n =
        co_await child->out().async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    pending.append(buf.data(), n);
    OPENSSL_cleanse(buf.data(), n);
    std::size_t at = 0;
    for (std::size_t end; !gone && (end = pending.find('\n', at)) != std::string::npos; at = end + 1) {
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
        std::string one = "{\"items\":[" + simdjson::minify(object) + "]}";
        Inventory reading;
        kind.read(one, reading);
        wipe(one);
        add_reading(state.objects, std::move(reading));
      }
      dirty = true;
    }
    OPENSSL_cleanse(pending.data(), at);
    pending.erase(0, at);
  }
  wipe(pending);
  if (gone) {
    child->terminate();
    co_return WatchEnd::gone;
  }
  const int status = co_await child->wait(std::chrono::milliseconds(2000));
  co_return status != 0 && !any ? WatchEnd::failed : WatchEnd::dropped;
}

// Lists the kind (a page at a time), then watches from the list's resourceVersion, resuming a
// watch that ends from the last version seen, until one says 410 Gone; then lists again.
// `state` holds what it knows; `dirty` says it changed.
asio::awaitable<void> follow_kind(const Cluster& cluster, const Kind& kind, std::size_t page_size,
                                  std::chrono::milliseconds retry, Followed& state, bool& dirty) {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  simdjson::dom::parser parser;
  for (;;) {
    std::map<std::string, ObjectReading> objects;
    std::string version, token;
    std::optional<ReadError> error;
    do {
      std::string path = fmt::format("{}?limit={}", kind.path, page_size);
      if (!token.empty()) path += "&continue=" + token;
      // (argv apart from the co_await: GCC 12 cannot keep an initializer list of literals across one)
      const std::vector<std::string> argv = cluster.with({"get", "--raw", path, "--request-timeout=60s"});
      Captured c = co_await run_async(argv);
      if (c.status != 0) {
        error = ReadError{"kubernetes:" + kind.resource, list_error(kind.resource, c.err)};
        wipe(c.out);
        break;
      }
      Inventory page;
      token = kind.read(c.out, page);
      if (element root; parser.parse(c.out.data(), c.out.size()).get(root) == simdjson::SUCCESS)
        version = std::string(text_at(root, "/metadata/resourceVersion"));
      wipe(c.out);
      add_reading(objects, std::move(page));
    } while (!token.empty());
    state.listed = true;
    dirty = true;
    if (error) {  // what was known stays known: a failed list is not a removal
      state.error = std::move(error);
      pause.expires_after(retry);
      co_await pause.async_wait(asio::use_awaitable);
      continue;
    }
    state.objects = std::move(objects);
    state.error.reset();

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
