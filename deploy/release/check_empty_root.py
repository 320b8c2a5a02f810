#!/usr/bin/env python3
"""Proves the release archives self-contained: each, unpacked into an otherwise empty directory,
runs klaxon under chroot and classifies a certificate line read on stdin.

  check_empty_root.py TARBALL IMAGE [--kubectl-image IMAGE]

The root holds nothing but the archive's contents: no libraries, no /proc, no /dev, no shell.
For the tarball, klaxon also sends the incident to an https webhook by host name, which proves
that names resolve (the bundled glibc reads /etc/hosts, which the test writes, as the kubelet
does in a pod) and that TLS verifies against SSL_CERT_FILE. For the image: the config's
Entrypoint and User (65532) are what runs, its CA bundle is where OpenSSL looks, and it is under
50 MB compressed. Where podman is installed, the image is also loaded and run with it.
Needs root (chroot, and setuid to 65532) and openssl (a test certificate). Exits 1 on a failure.
"""
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading

LINE = ("[pod/app1-5d8c9f7b6-qx2lp/daprd] 2023-06-19T13:19:53Z "
        "x509: certificate has expired or is not yet valid: current time 2023-06-19T13:19:51Z is after "
        "2023-06-16T12:31:17Z\n")
HOST = "receiver.klaxon.test"
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"  # before PATH is cut to the root's
failures = []


def extract(archive, root, **kw):
    """Our own archives: every entry as it is (the sticky /tmp, owners), on any Python 3."""
    if hasattr(tarfile, "fully_trusted_filter"):
        kw["filter"] = "fully_trusted"
    archive.extractall(root, **kw)


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def chroot(root, argv, user=None, env=None, stdin=LINE):
    cmd = [CHROOT] + ([f"--userspec={user}"] if user else []) + [root] + argv
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60,
                          env=env or {"PATH": "/usr/bin:/bin"})


def classifies(root, entry, label, user=None):
    r = chroot(root, [entry, "--format", "jsonl", "--matches", "-"], user)
    check(r.returncode == 0 and '"class":"cert_expired"' in r.stdout,
          f"{label}: classifies a certificate line from stdin in an empty root"
          + ("" if r.returncode == 0 else f" (exit {r.returncode}: {r.stderr.strip()[:300]})"))
    v = chroot(root, [entry, "--version"], user)
    check(v.returncode == 0 and v.stdout.startswith("klaxon ") and "Hyperscan" in v.stdout,
          f"{label}: --version ({v.stdout.splitlines()[0] if v.stdout else v.stderr.strip()[:200]})")


class Receiver(http.server.BaseHTTPRequestHandler):
    bodies = []

    def do_POST(self):
        Receiver.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode("utf-8", "replace"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def sends_by_name_over_tls(root, entry, label, scratch):
    """klaxon posts to https://receiver.klaxon.test:PORT/ from inside the root."""
    cert, key = os.path.join(scratch, "cert.pem"), os.path.join(scratch, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={HOST}",
                    "-addext", f"subjectAltName=DNS:{HOST}", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    etc = os.path.join(root, "etc")
    os.makedirs(etc, exist_ok=True)
    hosts = os.path.join(etc, "hosts")
    had_hosts = os.path.exists(hosts)
    saved = open(hosts).read() if had_hosts else ""
    with open(hosts, "w") as f:
        f.write(saved + f"127.0.0.1 {HOST}\n")
    shutil.copy(cert, os.path.join(root, "test-ca.pem"))
    try:
        Receiver.bodies = []
        r = chroot(root, [entry, "--webhook", f"https://{HOST}:{server.server_address[1]}/hook", "-"],
                   env={"PATH": "/usr/bin:/bin", "SSL_CERT_FILE": "/test-ca.pem"})
        got = any("cert_expired" in b for b in Receiver.bodies)
        check(got, f"{label}: sends the incident to https://{HOST} (name from /etc/hosts, TLS verified)"
              + ("" if got else f" (exit {r.returncode}: {r.stderr.strip()[:400]})"))
    finally:
        server.shutdown()
        os.remove(os.path.join(root, "test-ca.pem"))
        if had_hosts:
            with open(hosts, "w") as f:
                f.write(saved)
        else:
            os.remove(hosts)


def check_tarball(tarball, scratch):
    root = os.path.join(scratch, "tarball-root")
    os.makedirs(root)
    with tarfile.open(tarball) as t:
        top = {m.name.split("/")[0] for m in t.getmembers()}
        check(len(top) == 1, f"tarball: one top directory ({sorted(top)})")
        extract(t, root)
    name = top.pop()
    entry = f"/{name}/bin/klaxon"
    check(os.listdir(root) == [name], "tarball: the root holds nothing else")
    classifies(root, entry, "tarball")
    sends_by_name_over_tls(root, entry, "tarball", scratch)


def check_image(image, scratch, label="image"):
    size = os.path.getsize(image)
    check(size < 50 * 1024 * 1024, f"{label}: {size / 1048576:.1f} MB, under 50 MB")
    layout = os.path.join(scratch, "layout")
    with tarfile.open(image) as t:
        extract(t, layout)

    def blob(descriptor):
        algo, digest = descriptor["digest"].split(":")
        data = open(os.path.join(layout, "blobs", algo, digest), "rb").read()
        check(hashlib.sha256(data).hexdigest() == digest, f"{label}: blob {digest[:12]} matches its digest")
        return data

    check(json.load(open(os.path.join(layout, "oci-layout"))).get("imageLayoutVersion") == "1.0.0", f"{label}: oci-layout")
    index = json.load(open(os.path.join(layout, "index.json")))
    manifest = json.loads(blob(index["manifests"][0]))
    config = json.loads(blob(manifest["config"]))["config"]
    check(config.get("User") == "65532:65532", f"{label}: runs as 65532 (User {config.get('User')})")
    entrypoint = config.get("Entrypoint") or []
    check(len(entrypoint) == 1, f"{label}: Entrypoint is klaxon ({entrypoint})")
    root = os.path.join(scratch, "image-root")
    os.makedirs(root)
    for layer in manifest["layers"]:
        data = blob(layer)
        if layer["mediaType"].endswith("+gzip"):
            data = gzip.decompress(data)
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            extract(t, root, numeric_owner=True)
    check(os.path.getsize(os.path.join(root, "etc/ssl/certs/ca-certificates.crt")) > 100000, f"{label}: CA certificates")
    check(not os.path.exists(os.path.join(root, "bin/sh")), f"{label}: no shell")
    classifies(root, entrypoint[0], label, user=config["User"])
    if label == "kubectl image":
        k = chroot(root, ["/usr/local/bin/kubectl", "version", "--client"], config["User"], stdin="")
        check(k.returncode == 0 and "Client Version" in k.stdout, f"{label}: kubectl runs ({k.stdout.strip()[:80]})")


def check_podman(image):
    """podman load, then podman run. A machine where podman cannot start any container (a sandbox
    that refuses crun's setrlimit, no cgroups) skips the run and says why."""
    if shutil.which("podman") is None:
        print("skip  podman: not installed (the image was run from its unpacked layers above)")
        return
    loaded = subprocess.run(["podman", "load", "-i", image], capture_output=True, text=True, timeout=300)
    names = [l.split(":", 1)[1].strip() for l in loaded.stdout.splitlines() if l.startswith("Loaded image")]
    if not check(loaded.returncode == 0 and names, "podman load" + ("" if loaded.returncode == 0 else f" ({loaded.stderr.strip()[-300:]})")):
        return
    ref = names[0].split(",")[0].strip()
    r = subprocess.run(["podman", "run", "--rm", "-i", "--network=none", ref, "--format", "jsonl", "--matches", "-"],
                       input=LINE, capture_output=True, text=True, timeout=300)
    if r.returncode != 0 and "OCI permission denied" in r.stderr:
        print(f"skip  podman run {ref}: podman cannot start containers here ({r.stderr.strip()[-200:]})")
    else:
        check(r.returncode == 0 and '"class":"cert_expired"' in r.stdout,
              f"podman run {ref} classifies a certificate line ({r.stderr.strip()[-300:]})")
    subprocess.run(["podman", "rmi", ref], capture_output=True, timeout=120)


def main():
    args = sys.argv[1:]
    kubectl_image = None
    if "--kubectl-image" in args:
        at = args.index("--kubectl-image")
        kubectl_image = args[at + 1] if at + 1 < len(args) else None
        del args[at:at + 2]
    if len(args) != 2 or ("--kubectl-image" in sys.argv and not kubectl_image):
        print(__doc__, file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("check_empty_root: needs root (chroot, and the image's user 65532)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="klaxon-empty-root-") as scratch:
        check_tarball(args[0], scratch)
        check_image(args[1], scratch)
        if kubectl_image:
            check_image(kubectl_image, os.path.join(scratch, "kubectl"), "kubectl image")
        check_podman(args[1])
    if failures:
        print(f"check_empty_root: {len(failures)} failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
