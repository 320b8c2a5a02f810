// adapters/certs/kubernetes_certificates.hpp — the certificates a cluster keeps in its objects.
//
// Mesh and operator certificates live in Secrets (`kubernetes.io/tls`, and Opaque ones such as
// `dapr-trust-bundle` or `linkerd-identity-issuer` with `ca.crt`, `issuer.crt`, `crt.pem`),
// ConfigMaps (`linkerd-identity-trust-roots`, `istio-ca-root-cert`), and the `caBundle` of
// webhook configurations, CRD conversion webhooks and APIServices. They are read through the
// real kubectl (`kubectl get --raw`, so the user's kubeconfig, context, credentials plugins and
// proxies all apply, as with `klaxon kubectl`), in pages of `limit` objects, every kind at once.
// A page is read as kubectl writes it, one object at a time (adapters/certs/list_items.hpp):
// memory holds one object, however many Secrets the cluster has, so pages are large and
// kubectl (whose start, a second on a busy machine, is what a page costs) starts twice for
// 10,000 Secrets rather than twenty times.
//
// Secret values are looked at only for a `-----BEGIN CERTIFICATE-----` header; anything else
// (keys, passwords, tokens) is dropped as soon as its page is read, its bytes wiped, and never
// printed. Keys named `*.key` are not even decoded.
//
// Minimal RBAC (docs in README): get, list, watch on secrets and configmaps (in the namespaces
// read), mutatingwebhookconfigurations and validatingwebhookconfigurations
// (admissionregistration.k8s.io), customresourcedefinitions (apiextensions.k8s.io) and
// apiservices (apiregistration.k8s.io). A kind the account may not list is one ReadError; the
// other kinds are still read.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "adapters/certs/certificate_inventory.hpp"

namespace klaxon::certs {

struct KubernetesOptions {
  std::string kubectl = "kubectl";  // program, found on PATH
  std::string kubeconfig, context;  // --kubeconfig, --context
  std::string namespace_;           // -n; empty: the context's namespace
  bool all_namespaces = false;      // -A
  std::size_t page_size = 5000;     // objects per list request (kubectl get's own is 500)
};

/// Follows the cluster: lists every kind once, then watches each from the list's
/// resourceVersion (`kubectl get --raw PATH?watch=1&resourceVersion=V`), reading only the
/// objects that change. A watch that ends (a dropped connection, the server's timeout) is
/// resumed from the last resourceVersion its events carried; one that says 410 Gone (or fails
/// at once) is followed by a new list. After the
/// first lists, and at most every 200 ms after a change, `reading` gets the whole inventory
/// (certificates only: memory holds no Secret values). A kind that cannot be listed is a
/// ReadError and is listed again after `retry`. Blocks until `stopping()` (asked every 200 ms).
void watch_kubernetes(const KubernetesOptions& options, std::chrono::milliseconds retry,
                      const std::function<bool()>& stopping, const std::function<void(Inventory)>& reading);

/// Lists every kind above once and adds what it holds to `out`. A missing kubectl, an
/// unreachable cluster or a forbidden kind are ReadErrors (`kubernetes:secrets`, ...).
void read_kubernetes(const KubernetesOptions& options, Inventory& out);

/// The pieces, for tests: one list page (the API server's JSON) of each kind. Each returns the
/// page's `continue` token ("" on the last page) and wipes nothing: the caller owns `page`.
std::string read_secret_page(std::string_view page, Inventory& out);
std::string read_configmap_page(std::string_view page, Inventory& out);
/// `kind`: MutatingWebhookConfiguration or ValidatingWebhookConfiguration.
std::string read_webhook_page(std::string_view page, std::string_view kind, Inventory& out);
std::string read_crd_page(std::string_view page, Inventory& out);
std::string read_apiservice_page(std::string_view page, Inventory& out);

}  // namespace klaxon::certs
