// adapters/certs/kubernetes_certificates.cpp — see the header.
#include "adapters/certs/kubernetes_certificates.hpp"

#include <chrono>
#include <utility>  // Boost 1.74's Asio uses std::exchange without including it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <simdjson.h>

#include "adapters/sources/child_process.hpp"

namespace klaxon::certs {
namespace {

namespace asio = boost::asio;
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

void read_kubernetes(const KubernetesOptions& options, Inventory& out) {
  const std::string kubectl = sources::find_on_path(options.kubectl);
  if (kubectl.empty()) {
    out.errors.push_back({"kubernetes", fmt::format("{} is not on PATH: install kubectl, or add its directory to PATH",
                                                    options.kubectl)});
    return;
  }
  std::vector<std::string> base{kubectl};
  if (!options.kubeconfig.empty()) base.push_back("--kubeconfig=" + options.kubeconfig);
  if (!options.context.empty()) base.push_back("--context=" + options.context);
  auto with = [&](std::vector<std::string> words) {
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), words.begin(), words.end());
    return argv;
  };

  std::string ns = options.namespace_;
  if (ns.empty() && !options.all_namespaces) {
    const Captured c = run_kubectl(with({"config", "view", "--minify", "-o", "jsonpath={..namespace}"}));
    ns = c.status == 0 && !c.out.empty() ? c.out.substr(0, c.out.find_first_of(" \n")) : "default";
  }
  const std::string scope = options.all_namespaces ? "" : "/namespaces/" + ns;

  struct Kind {
    std::string resource;
    std::string path;  // without the query
    std::string (*read)(std::string_view, Inventory&);
  };
  const std::vector<Kind> kinds{
      {"secrets", "/api/v1" + scope + "/secrets", &read_secret_page},
      {"configmaps", "/api/v1" + scope + "/configmaps", &read_configmap_page},
      {"mutatingwebhookconfigurations", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
       [](std::string_view page, Inventory& inventory) {
         return read_webhook_page(page, "MutatingWebhookConfiguration", inventory);
       }},
      {"validatingwebhookconfigurations", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
       [](std::string_view page, Inventory& inventory) {
         return read_webhook_page(page, "ValidatingWebhookConfiguration", inventory);
       }},
      {"customresourcedefinitions", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", &read_crd_page},
      {"apiservices", "/apis/apiregistration.k8s.io/v1/apiservices", &read_apiservice_page},
  };
  for (const Kind& kind : kinds) {
    std::string token;
    do {
      std::string path = fmt::format("{}?limit={}", kind.path, options.page_size);
      if (!token.empty()) path += "&continue=" + token;  // opaque base64url: no escaping needed
      Captured c = run_kubectl(with({"get", "--raw", path, "--request-timeout=60s"}));
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
