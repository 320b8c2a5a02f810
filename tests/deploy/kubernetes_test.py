#!/usr/bin/env python3
"""deploy/kubernetes renders, and what it renders is what the README promises.

  kubernetes_test.py KLAXON_BINARY

Each overlay (kubectl, follow, loki, serve) is rendered with the real `kubectl kustomize`, alone
and with every optional component, and the objects are checked: each klaxon container listens
(--listen) on a named port that its readiness (/readyz) and liveness (/healthz) probes use; runs
as non-root with a read-only root filesystem, no privilege escalation and every capability
dropped; has CPU and memory requests and limits; gets its image through kustomize `images:`;
passes only flags that the klaxon binary's --help lists. Only the kubectl mode has RBAC, and it
is read-only on pods, pods/log and workloads. Selectors, named ports and volumes refer to things
that exist. Every built-in object decodes strictly against the Kubernetes API's own types
(tests/deploy/api_schema.py): no unknown field, no wrong type, no required field missing, which
is what an API server's strict field validation refuses.
Exits 1 and names every failure.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

import api_schema

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TREE = os.path.join(ROOT, "deploy", "kubernetes")
OVERLAYS = ["kubectl", "follow", "loki", "serve"]
COMPONENTS = ["servicemonitor", "prometheusrule", "alertmanager", "grafana-dashboard"]
SUBCOMMANDS = ("kubectl", "loki", "serve")
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*", "escalate", "bind", "impersonate"}
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL  " + what, flush=True)
    return ok


def render(path):
    r = subprocess.run(["kubectl", "kustomize", path], capture_output=True, text=True, timeout=120)
    if not check(r.returncode == 0, f"kubectl kustomize {os.path.relpath(path, ROOT)}: {r.stderr.strip()[:500]}"):
        return []
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def with_components(overlay):
    """An overlay plus every component, in a throwaway kustomization (paths must be relative)."""
    scratch = tempfile.mkdtemp(prefix="klaxon-kustomize-")
    rel = os.path.relpath(TREE, scratch)
    with open(os.path.join(scratch, "kustomization.yaml"), "w") as f:
        yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                        "resources": [f"{rel}/overlays/{overlay}"],
                        "components": [f"{rel}/components/{c}" for c in COMPONENTS]}, f)
    return render(scratch)


CUSTOM_RESOURCES = {"monitoring.coreos.com/v1": {"ServiceMonitor", "PodMonitor", "PrometheusRule"},
                    "monitoring.coreos.com/v1alpha1": {"AlertmanagerConfig"}}


def check_schema(where, objects):
    """What an API server would refuse: unknown fields, wrong types, required fields left out."""
    for o in objects:
        if o.get("kind") in CUSTOM_RESOURCES.get(o.get("apiVersion"), ()):
            continue
        for problem in api_schema.problems(o):
            check(False, f"{where}: {o.get('kind')} {o.get('metadata', {}).get('name')}: {problem}")


def flags_of(help_text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b", help_text))


def known_flags(binary):
    def help_of(*words):
        r = subprocess.run([binary, *words, "--help"], capture_output=True, text=True, timeout=60)
        return r.stdout + r.stderr
    return {None: flags_of(help_of()), **{s: flags_of(help_of(s)) for s in SUBCOMMANDS}}


def check_args(where, args, flags):
    mode = None
    for a in args:
        if mode is None and a in SUBCOMMANDS:
            mode = a
            continue
        if a.startswith("-") and a != "-":
            flag = a.split("=", 1)[0]
            check(flag in flags[mode], f"{where}: {flag} is not a flag of `klaxon{' ' + mode if mode else ''}` (--help)")


def security(where, pod_sc, c, init=False):
    sc = c.get("securityContext", {})
    non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
    uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
    check(sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem")
    check(sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation false")
    check("ALL" in sc.get("capabilities", {}).get("drop", []), f"{where}: capabilities drop ALL")
    check(not sc.get("privileged"), f"{where}: not privileged")
    if init:  # the follow DaemonSet's state-dir init: root, with CHOWN/FOWNER only
        check(set(sc.get("capabilities", {}).get("add", [])) <= {"CHOWN", "FOWNER"}, f"{where}: adds only CHOWN/FOWNER")
    else:
        check(non_root is True and uid not in (0, None), f"{where}: runAsNonRoot with a non-zero runAsUser")
        check(not sc.get("capabilities", {}).get("add"), f"{where}: adds no capability")
    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            check(r in res.get(kind, {}), f"{where}: resources.{kind}.{r}")


def check_workload(overlay, w, flags, objects):
    where = f"{overlay}: {w['kind']}/{w['metadata']['name']}"
    spec = w["spec"]
    tpl = spec["template"]
    pod = tpl["spec"]
    labels = tpl["metadata"].get("labels", {})
    check(spec["selector"]["matchLabels"].items() <= labels.items(), f"{where}: selector matches the pod's labels")
    pod_sc = pod.get("securityContext", {})
    check(pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{where}: seccomp RuntimeDefault")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    volumes.update({t["metadata"]["name"]: t for t in spec.get("volumeClaimTemplates", [])})  # a StatefulSet's own
    for c in pod.get("initContainers", []):
        security(f"{where} init {c['name']}", pod_sc, c, init=True)
    klaxons = [c for c in pod["containers"] if "klaxon" in c["image"]]
    check(len(klaxons) == 1, f"{where}: one klaxon container")
    for c in pod["containers"]:
        cw = f"{where} container {c['name']}"
        security(cw, pod_sc, c)
        check(c["image"].startswith("registry.example.com/klaxon") and ":" in c["image"],
              f"{cw}: image set by kustomize images: ({c['image']})")
        for m in c.get("volumeMounts", []):
            check(m["name"] in volumes, f"{cw}: volume {m['name']} exists")
        args = c.get("args", [])
        check_args(cw, args, flags)
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        check("--listen" in args, f"{cw}: --listen")
        if "--listen" in args:
            listen = args[args.index("--listen") + 1]
            named = [n for n, p in ports.items() if listen.endswith(f":{p}")]
            check(len(named) == 1, f"{cw}: --listen {listen} is a named containerPort")
            for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                get = c.get(probe, {}).get("httpGet", {})
                check(get.get("path") == path and get.get("port") in named,
                      f"{cw}: {probe} on {path} at the named --listen port ({get})")
    for s in objects:
        if s["kind"] != "Service" or s["metadata"]["namespace"] != w["metadata"]["namespace"]:
            continue
        if not s["spec"]["selector"].items() <= labels.items():
            continue
        names = {p["name"] for c in pod["containers"] for p in c.get("ports", [])}
        for p in s["spec"]["ports"]:
            check(p.get("targetPort") in names, f"{overlay}: Service {s['metadata']['name']} targets named port "
                                                 f"{p.get('targetPort')} of {w['metadata']['name']}")
    return pod, klaxons[0] if klaxons else None


def check_rbac(overlay, objects, pods):
    roles = {(o["kind"], o["metadata"]["name"]): o for o in objects if o["kind"] in ("Role", "ClusterRole")}
    bindings = [o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    for role in roles.values():
        for rule in role.get("rules", []):
            check(not set(rule.get("verbs", [])) & WRITE_VERBS, f"{overlay}: {role['metadata']['name']} only reads")
            check("*" not in rule.get("resources", []) and "secrets" not in rule.get("resources", []),
                  f"{overlay}: {role['metadata']['name']} names its resources, no secrets")
    granted = {}
    for b in bindings:
        check(b["kind"] == "RoleBinding", f"{overlay}: {b['metadata']['name']} is namespaced (no cluster-wide read)")
        role = roles.get((b["roleRef"]["kind"], b["roleRef"]["name"]))
        check(role is not None, f"{overlay}: {b['metadata']['name']} refers to a role in the overlay")
        for rule in (role or {}).get("rules", []):
            for res in rule.get("resources", []):
                granted.setdefault(res, set()).update(rule.get("verbs", []))
    if overlay == "kubectl":
        check({"get", "list"} <= granted.get("pods", set()), f"kubectl: pods get, list granted ({granted})")
        check("get" in granted.get("pods/log", set()), "kubectl: pods/log get granted")
        check("deployments" in granted, "kubectl: deploy/NAME targets can be resolved")
        check(all(p.get("automountServiceAccountToken") is True for p in pods), "kubectl: the pod mounts its token")
    else:
        check(not roles and not bindings, f"{overlay}: no RBAC (it does not talk to the API server)")
        check(all(p.get("automountServiceAccountToken") is False for p in pods), f"{overlay}: no token mounted")


def check_mode(overlay, objects, pods, klaxon):
    args = klaxon.get("args", []) if klaxon else []
    mounts = {m["mountPath"]: m for m in klaxon.get("volumeMounts", [])} if klaxon else {}
    kinds = {o["kind"] for o in objects}
    if overlay == "kubectl":
        check("kubectl" in args, "kubectl: runs klaxon kubectl")
        check(klaxon["image"].startswith("registry.example.com/klaxon-kubectl:"), "kubectl: the image with kubectl")
    if overlay == "follow":
        check("DaemonSet" in kinds, "follow: a DaemonSet")
        pod = pods[0]
        vols = {v["name"]: v for v in pod["volumes"]}
        logs = mounts.get("/var/log/pods", {})
        check(logs.get("readOnly") is True and vols.get(logs.get("name"), {}).get("hostPath", {}).get("path")
              == "/var/log/pods", "follow: /var/log/pods from the node, read-only")
        check("--follow" in args and args[args.index("--follow") + 1] == "/var/log/pods", "follow: --follow /var/log/pods")
        # --state-dir (positions, open incidents, expiries) on the node, so a new pod resumes there
        state = args[args.index("--state-dir") + 1] if "--state-dir" in args else ""
        state_mount = mounts.get(state, {})
        check(state.startswith("/var/lib/klaxon") and vols.get(state_mount.get("name"), {}).get("hostPath", {})
              .get("path", "").startswith("/var/lib/klaxon"), f"follow: --state-dir on a hostPath under /var/lib/klaxon")
        check("--label" in args and args[args.index("--label") + 1] == "node=$(NODE_NAME)",
              "follow: --label node=$(NODE_NAME), so each node's alerts say where they come from")
        check(any(t.get("operator") == "Exists" and "key" not in t for t in pod.get("tolerations", [])),
              "follow: tolerates every taint")
        env = {e["name"]: e for e in klaxon.get("env", [])}
        check(any(e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName" for e in env.values()),
              "follow: the node name through the downward API")
        ns = [o for o in objects if o["kind"] == "Namespace"][0]
        check(ns["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "privileged",
              "follow: the namespace allows hostPath")
    if overlay == "loki":
        check("loki" in args and "--url" in args and "--query" in args, "loki: runs klaxon loki --url --query")
        sets = [o for o in objects if o["kind"] == "StatefulSet"]
        check(len(sets) == 1, "loki: a StatefulSet of shards")
        claims = {t["metadata"]["name"] for s in sets for t in s["spec"].get("volumeClaimTemplates", [])}
        check(any(m["name"] in claims for m in mounts.values()), "loki: each shard's state on its own PersistentVolumeClaim")
        replicas = sets[0]["spec"]["replicas"] if sets else 0
        check("--shard" in args and args[args.index("--shard") + 1] == f"$(SHARD)/{replicas}",
              "loki: --shard $(SHARD)/N with N the StatefulSet's replicas")
        env = {e["name"]: e for e in klaxon.get("env", [])}
        check(env.get("SHARD", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
              == "metadata.labels['apps.kubernetes.io/pod-index']", "loki: the shard is the pod's ordinal")
    if overlay == "serve":
        check("serve" in args, "serve: runs klaxon serve")
        check("Service" in kinds and "NetworkPolicy" in kinds, "serve: a Service and a NetworkPolicy")
        push = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "klaxon-push"]
        check(push and push[0]["spec"]["ports"][0]["targetPort"] == "push", "serve: Service klaxon-push on the push port")
        np = [o for o in objects if o["kind"] == "NetworkPolicy"][0]
        labels = pods[0] and [o for o in objects if o["kind"] == "Deployment"][0]["spec"]["template"]["metadata"]["labels"]
        check(np["spec"]["podSelector"]["matchLabels"].items() <= labels.items(), "serve: the NetworkPolicy selects klaxon")
        for f in ("promtail.yaml", "config.alloy", "vector.yaml", "fluent-bit.conf"):
            text = open(os.path.join(TREE, "overlays", "serve", "clients", f)).read()
            check("klaxon-push.klaxon.svc:3100" in text or "klaxon-push.klaxon.svc" in text, f"serve: clients/{f} pushes to klaxon")


def check_components(overlay, objects):
    kinds = {o["kind"] for o in objects}
    for kind in ("ServiceMonitor", "PrometheusRule", "AlertmanagerConfig", "ConfigMap"):
        check(kind in kinds, f"{overlay} with components: a {kind}")
    sm = [o for o in objects if o["kind"] == "ServiceMonitor"]
    status = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "klaxon-status"]
    if sm and status:
        check(sm[0]["spec"]["selector"]["matchLabels"].items() <= status[0]["metadata"]["labels"].items(),
              f"{overlay}: the ServiceMonitor selects klaxon-status")
        check(sm[0]["spec"]["endpoints"][0]["port"] in {p["name"] for p in status[0]["spec"]["ports"]},
              f"{overlay}: the ServiceMonitor scrapes a port of klaxon-status")
    rules = [r for o in objects if o["kind"] == "PrometheusRule" for g in o["spec"]["groups"] for r in g["rules"]]
    exprs = " ".join(r["expr"] for r in rules)
    for metric in ("klaxon_certificate_expiry_timestamp_seconds", "klaxon_source_connected", "klaxon_alert_posts_total", "up{"):
        check(metric in exprs, f"{overlay}: a PrometheusRule on {metric}")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if shutil.which("kubectl") is None:
        print("kubernetes_test: kubectl is not on PATH; the overlays are rendered with `kubectl kustomize`",
              file=sys.stderr)
        return 1
    if not api_schema.available():
        print("kubernetes_test: the Kubernetes API types (Debian's python3-kubernetes) are missing; "
              "run scripts/setup", file=sys.stderr)
        if os.environ.get("CI") == "true":
            return 1
    flags = known_flags(sys.argv[1])
    for overlay in OVERLAYS:
        objects = render(os.path.join(TREE, "overlays", overlay))
        for o in objects:
            check(o.get("apiVersion") and o.get("kind") and o.get("metadata", {}).get("name"),
                  f"{overlay}: every object has apiVersion, kind and a name")
        workloads = [o for o in objects if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet")]
        check(len(workloads) == 1, f"{overlay}: one workload")
        pods, klaxon = [], None
        for w in workloads:
            pod, klaxon = check_workload(overlay, w, flags, objects)
            pods.append(pod)
        check_rbac(overlay, objects, pods)
        check_mode(overlay, objects, pods, klaxon)
        everything = with_components(overlay)
        check_components(overlay, everything)
        if api_schema.available():
            check_schema(overlay, everything)
        print(f"ok    {overlay}: {len(objects)} objects", flush=True)
    # The sidecar example is not rendered by any overlay; it is held to the same rules.
    sidecar = yaml.safe_load(open(os.path.join(TREE, "overlays", "loki", "sidecar-example.yaml")))
    pod = sidecar["spec"]["template"]["spec"]
    for c in pod["containers"]:
        if "klaxon" in c["image"]:
            security(f"sidecar-example {c['name']}", pod.get("securityContext", {}), c)
            check_args("sidecar-example", c["args"], flags)
    if api_schema.available():
        check_schema("sidecar-example", [sidecar])
    if failures:
        print(f"kubernetes_test: {len(failures)} failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
