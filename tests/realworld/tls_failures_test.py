#!/usr/bin/env python3
"""Real programs, made to fail TLS, and what klaxon calls what they print.

  tls_failures_test.py KLAXON_BINARY [--show]

The packs were written from the libraries' error tables; this test holds them to what real
programs print. It makes certificates that are wrong in one way each (expired, not yet valid,
for another name, from an unknown CA, with a broken signature, self-signed), serves them on
127.0.0.1 with real servers (openssl s_server, nginx, PostgreSQL, etcd), points real clients at
them (curl, wget, Python's ssl and requests, Node, Ruby, PHP, openssl s_client, gnutls-cli,
Java, git, kubectl, psql, etcdctl, nginx as a proxy), and feeds each program's own output, unedited, to `klaxon --format jsonl
--matches -`. For each case it asserts:
  - the class the output states is among the classes klaxon gives (a program that does not say
    why, like git built on GnuTLS, is expected as tls_handshake_failure);
  - no line gets a certificate class other than that one (tls_handshake_failure and
    connection_lost are allowed beside it: "certificate verify failed" states no cause).
--show prints every program's output and klaxon's classes. Every server and client runs with a
deadline; a program that is not installed fails the test under CI=true and is skipped otherwise.
"""
import collections
import datetime
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

failures, skipped = [], []
UNSPECIFIC = {"tls_handshake_failure", "connection_lost"}


def import_debian(name):
    """Debian's python3-* packages, also when python3 on PATH is another interpreter."""
    try:
        return importlib.import_module(name)
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        return importlib.import_module(name)


def need(program):
    path = shutil.which(program)
    if path is None:
        skipped.append(program)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, deadline=15.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def run(argv, env=None, timeout=30, cwd=None):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                           env=env, cwd=cwd, errors="replace")
        return r.stderr + r.stdout
    except subprocess.TimeoutExpired as e:
        return f"(timed out after {timeout}s)\n" + (e.stderr or b"").decode(errors="replace")


# --- certificates ------------------------------------------------------------------------------

class Certificates:
    """A test root CA and one server certificate per way of being wrong, as PEM files in `dir`."""

    def __init__(self, dir):
        x509 = import_debian("cryptography.x509")
        oid = import_debian("cryptography.x509.oid")
        hashes = import_debian("cryptography.hazmat.primitives.hashes")
        serialization = import_debian("cryptography.hazmat.primitives.serialization")
        ec = import_debian("cryptography.hazmat.primitives.asymmetric.ec")
        import ipaddress
        self.dir = dir
        D = datetime.datetime

        def name(cn):
            return x509.Name([x509.NameAttribute(oid.NameOID.COMMON_NAME, cn)])

        def save(stem, key, cert):
            with open(self.path(stem, "key"), "wb") as f:
                f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
            os.chmod(self.path(stem, "key"), 0o600)
            with open(self.path(stem), "wb") as f:
                f.write(cert.public_bytes(serialization.Encoding.PEM))

        def issue(subject, key, issuer, signer, not_before, not_after, ca=False, dns=("localhost",), ip=True):
            b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
                 .public_key(key.public_key()).serial_number(x509.random_serial_number())
                 .not_valid_before(not_before).not_valid_after(not_after)
                 .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
            if ca:
                b = b.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                                    critical=True)
            else:
                sans = [x509.DNSName(d) for d in dns] + ([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))] if ip else [])
                b = (b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
                      .add_extension(x509.ExtendedKeyUsage([oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                            oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
            return b.sign(signer, hashes.SHA256())

        def key():
            return ec.generate_private_key(ec.SECP256R1())

        ca_key, other_key = key(), key()
        save("ca", ca_key, issue("klaxon test root", ca_key, "klaxon test root", ca_key, D(2024, 1, 1), D(2040, 1, 1), ca=True))
        save("other-ca", other_key, issue("another root", other_key, "another root", other_key, D(2024, 1, 1), D(2040, 1, 1), ca=True))
        valid = (D(2024, 1, 1), D(2039, 1, 1))
        for stem, subject, issuer, signer, (nb, na), dns, ip in [
                ("good", "localhost", "klaxon test root", ca_key, valid, ("localhost",), True),
                ("client", "klaxon-client", "klaxon test root", ca_key, valid, ("klaxon-client",), False),
                ("client-expired", "klaxon-client", "klaxon test root", ca_key, (D(2020, 1, 1), D(2021, 1, 1)),
                 ("klaxon-client",), False),
                ("expired", "localhost", "klaxon test root", ca_key, (D(2020, 1, 1), D(2021, 1, 1)), ("localhost",), True),
                ("not-yet-valid", "localhost", "klaxon test root", ca_key, (D(2038, 1, 1), D(2039, 1, 1)), ("localhost",), True),
                ("wrong-name", "wrong.example", "klaxon test root", ca_key, valid, ("wrong.example",), False),
                ("unknown-ca", "localhost", "another root", other_key, valid, ("localhost",), True),
                # names the test root as its issuer, but another key signed it
                ("bad-signature", "localhost", "klaxon test root", other_key, valid, ("localhost",), True)]:
            k = key()
            save(stem, k, issue(subject, k, issuer, signer, nb, na, dns=dns, ip=ip))
        k = key()
        save("self-signed", k, issue("localhost", k, "localhost", k, *valid))

    def path(self, stem, kind="pem"):
        return os.path.join(self.dir, f"{stem}.{kind}")


# The server certificates, and the class each one's failure is.
BROKEN = {
    "expired": "cert_expired",
    "not-yet-valid": "cert_not_yet_valid",
    "wrong-name": "cert_name_mismatch",
    "unknown-ca": "cert_unknown_authority",
    "bad-signature": "cert_bad_signature",
    "self-signed": "cert_unknown_authority",
}


# --- servers -----------------------------------------------------------------------------------

class OpensslServer:
    def __init__(self, certs, stem, extra=()):
        self.port = free_port()
        self.process = subprocess.Popen(
            ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-cert", certs.path(stem),
             "-key", certs.path(stem, "key"), "-www", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        wait_for_port(self.port)

    def stop(self):
        self.process.terminate()
        try:
            return self.process.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.communicate()[0]


def clients(certs, port, work):
    """Each client, asked for https://localhost:PORT/ trusting only the test root: its argv."""
    url = f"https://localhost:{port}/"
    ca = certs.path("ca")
    py = sys.executable
    java_home = os.path.join(work, "java")
    return {
        "curl": ["curl", "-sS", "--max-time", "10", "--cacert", ca, url],
        "wget": ["wget", "-nv", "-O", "/dev/null", "--timeout=10", "--tries=1", f"--ca-certificate={ca}", url],
        "python-ssl": [py, "-c", "import ssl, urllib.request\n"
                       f"urllib.request.urlopen({url!r}, context=ssl.create_default_context(cafile={ca!r}), timeout=10)"],
        "python-requests": [py, "-c", f"import sys; sys.path.append('/usr/lib/python3/dist-packages'); import requests\n"
                            f"requests.get({url!r}, verify={ca!r}, timeout=10)"],
        "node": ["node", "-e", "const https = require('https'), fs = require('fs');"
                 f"https.get({json.dumps(url)}, {{ca: fs.readFileSync({json.dumps(ca)}), timeout: 10000}},"
                 " r => console.log(r.statusCode)).on('error', e => { console.error(e); process.exit(1); })"],
        "openssl-s_client": ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                             "-CAfile", ca, "-verify_return_error", "-verify_hostname", "localhost", "-brief"],
        "java": ["java", f"-Djavax.net.ssl.trustStore={os.path.join(java_home, 'trust.p12')}",
                 "-Djavax.net.ssl.trustStorePassword=changeit", os.path.join(java_home, "Get.java"), url],
        "git": ["git", "ls-remote", url],
        "ruby": ["ruby", "-rnet/http", "-e", f"h = Net::HTTP.new('localhost', {port}); h.use_ssl = true; "
                 f"h.ca_file = {json.dumps(ca)}; h.open_timeout = 10; h.get('/')"],
        "php": ["php", "-r", f"file_get_contents({json.dumps(url)}, false, "
                f"stream_context_create(['ssl' => ['cafile' => {json.dumps(ca)}]]));"],
        "gnutls-cli": ["gnutls-cli", "--x509cafile", ca, "-p", str(port), "localhost"],
        # Go's crypto/tls and crypto/x509 as a client
        "kubectl": ["kubectl", "--kubeconfig", os.path.join(work, "empty-kubeconfig"), "--server", url,
                    "--certificate-authority", ca, "--token", "klaxon-test", "--request-timeout", "10s",
                    "get", "--raw", "/version"],
    }


JAVA_GET = """
import java.net.URL;
import javax.net.ssl.HttpsURLConnection;
public class Get {
  public static void main(String[] args) throws Exception {
    HttpsURLConnection c = (HttpsURLConnection) new URL(args[0]).openConnection();
    c.setConnectTimeout(10000);
    c.setReadTimeout(10000);
    System.out.println(c.getResponseCode());
  }
}
"""


def prepare_kubectl(work):
    with open(os.path.join(work, "empty-kubeconfig"), "w") as f:
        f.write("apiVersion: v1\nkind: Config\n")


def prepare_java(certs, work):
    home = os.path.join(work, "java")
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, "Get.java"), "w") as f:
        f.write(JAVA_GET)
    run(["keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", certs.path("ca"), "-storetype", "PKCS12",
         "-keystore", os.path.join(home, "trust.p12"), "-storepass", "changeit"])


# --- what klaxon says --------------------------------------------------------------------------

def classes_of(klaxon, text):
    r = subprocess.run([klaxon, "--format", "jsonl", "--matches", "-"], input=text, capture_output=True,
                       text=True, timeout=60, errors="replace")
    found = collections.Counter()
    for line in r.stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("type", "match") == "match" and "class" in event:
            found[(event["class"], event.get("rule", "?"))] += 1
    return found


def expect(klaxon, case, text, want, show, also_allowed=()):
    found = classes_of(klaxon, text)
    classes = {c for c, _ in found}
    wrong = sorted(c for c in classes if c != want and c not in UNSPECIFIC and c not in also_allowed)
    ok = want in classes and not wrong
    if show or not ok:
        print(f"---- {case}: want {want}, got {dict(found)}")
        print("     | " + "\n     | ".join(text.strip().splitlines()[-12:]))
    if ok:
        print(f"ok    {case}: {want}")
    else:
        failures.append(case)
        print(f"FAIL  {case}: want {want}" + (f", also {wrong}" if wrong else ", not found"), flush=True)


# --- the cases ---------------------------------------------------------------------------------

# What a client's own output states, where that is less than the certificate's fault:
STATES = {
    # curl on OpenSSL 3 reports the library's low-level error, not a verify result
    ("curl", "bad-signature"): "tls_handshake_failure",
    # wget on GnuTLS has no line for a bad signature: only "The certificate of X is not trusted."
    ("wget", "bad-signature"): "tls_handshake_failure",
}
# Java says "CertPathValidatorException: validity check failed" for both an expired and a
# not-yet-valid certificate (sun.security.provider.certpath.BasicChecker); klaxon reads that
# line as expired, and the `Caused by: CertificateNotYetValidException` line below it names
# the real cause.
ALSO_ALLOWED = {("java", "not-yet-valid"): {"cert_expired"}}


def client_states(client, broken):
    """The class a client's output states. PHP's streams and git on GnuTLS (Debian's) say only
    "certificate verify failed" unless the name is wrong, which they check themselves."""
    says_only_verify_failed = client == "php" or (client == "git" and "gnutls" in GIT_TLS)
    if says_only_verify_failed and broken != "wrong-name":
        return "tls_handshake_failure"
    return STATES.get((client, broken), BROKEN[broken])


def git_tls_library():
    """Which libcurl git's HTTPS helper links: libcurl-gnutls on Debian."""
    return run(["sh", "-c", "ldd \"$(git --exec-path)/git-remote-https\" 2>/dev/null"]).lower()


GIT_TLS = ""


def client_cases(klaxon, certs, work, show):
    prepare_java(certs, work)
    prepare_kubectl(work)
    for broken in BROKEN:
        server = OpensslServer(certs, broken)
        for client, argv in clients(certs, server.port, work).items():
            if not need(argv[0]):
                continue
            env = dict(os.environ, GIT_SSL_CAINFO=certs.path("ca"), GIT_TERMINAL_PROMPT="0")
            expect(klaxon, f"{client} -> {broken} server", run(argv, env=env), client_states(client, broken), show,
                   ALSO_ALLOWED.get((client, broken), ()))
        server.stop()


NGINX_CONF = """
daemon off;
master_process off;
pid {work}/nginx.pid;
error_log {work}/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  server {{
    listen 127.0.0.1:{proxy_port};
    location / {{
      proxy_pass https://127.0.0.1:{upstream_port};
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate {ca};
      proxy_ssl_name localhost;
      proxy_ssl_server_name on;
    }}
  }}
  server {{
    listen 127.0.0.1:{mtls_port} ssl;
    ssl_certificate {good};
    ssl_certificate_key {good_key};
    ssl_client_certificate {ca};
    ssl_verify_client on;
    location / {{ return 200 "ok"; }}
  }}
}}
"""


def nginx_cases(klaxon, certs, work, show):
    """nginx's error log: as a proxy verifying its upstream, and as a server verifying clients."""
    if not need("nginx") or not need("curl"):
        return
    for broken, want in list(BROKEN.items()) + [("client-expired", "cert_expired")]:
        upstream = OpensslServer(certs, broken if broken != "client-expired" else "good")
        scratch = tempfile.mkdtemp(dir=work, prefix="nginx-")
        os.chmod(scratch, 0o755)
        proxy_port, mtls_port = free_port(), free_port()
        with open(os.path.join(scratch, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(work=scratch, proxy_port=proxy_port, upstream_port=upstream.port,
                                      mtls_port=mtls_port, ca=certs.path("ca"), good=certs.path("good"),
                                      good_key=certs.path("good", "key")))
        nginx = subprocess.Popen(["nginx", "-p", scratch, "-c", os.path.join(scratch, "nginx.conf"), "-e",
                                  os.path.join(scratch, "error.log")],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait_for_port(proxy_port) and wait_for_port(mtls_port):
            if broken == "client-expired":
                run(["curl", "-sS", "--max-time", "10", "--cacert", certs.path("ca"), "--cert", certs.path(broken),
                     "--key", certs.path(broken, "key"), f"https://localhost:{mtls_port}/"])
            else:
                run(["curl", "-sS", "--max-time", "10", f"http://127.0.0.1:{proxy_port}/"])
        nginx.terminate()
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
        upstream.stop()
        with open(os.path.join(scratch, "error.log"), errors="replace") as f:
            log = f.read()
        what = "a client's certificate" if broken == "client-expired" else f"a {broken} upstream"
        expect(klaxon, f"nginx error.log, {what}", log, want, show)


def etcd_cases(klaxon, certs, work, show):
    """Go on the server side: etcd (--client-cert-auth) refusing each broken client certificate.
    (etcdctl, the client, says only "context deadline exceeded": there is nothing to name.)"""
    if not need("etcd") or not need("etcdctl"):
        return
    for broken, want in [("client-expired", "cert_expired"), ("not-yet-valid", "cert_not_yet_valid"),
                         ("unknown-ca", "cert_unknown_authority"), ("bad-signature", "cert_bad_signature"),
                         ("self-signed", "cert_unknown_authority")]:
        data = tempfile.mkdtemp(dir=work, prefix="etcd-")
        client_port, peer_port = free_port(), free_port()
        etcd = subprocess.Popen(
            ["etcd", "--name", "klaxon-test", "--data-dir", data,
             "--listen-client-urls", f"https://127.0.0.1:{client_port}",
             "--advertise-client-urls", f"https://127.0.0.1:{client_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-cluster", f"klaxon-test=http://127.0.0.1:{peer_port}",
             "--cert-file", certs.path("good"), "--key-file", certs.path("good", "key"),
             "--client-cert-auth", "--trusted-ca-file", certs.path("ca")],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        if wait_for_port(client_port, 30):
            run(["etcdctl", "--endpoints", f"https://localhost:{client_port}", "--cacert", certs.path("ca"),
                 "--cert", certs.path(broken), "--key", certs.path(broken, "key"),
                 "--dial-timeout", "2s", "--command-timeout", "3s", "get", "klaxon"],
                env=dict(os.environ, ETCDCTL_API="3"))
        etcd.terminate()
        try:
            log = etcd.communicate(timeout=15)[0]
        except subprocess.TimeoutExpired:
            etcd.kill()
            log = etcd.communicate()[0]
        expect(klaxon, f"etcd's log, a client's {broken} certificate", log, want, show)


def postgres_bindir():
    """Debian installs PostgreSQL's server programs per major version, off PATH."""
    import glob
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


def postgres_cases(klaxon, certs, work, show):
    """PostgreSQL: psql (libpq) against a server with each broken certificate, and the server's
    own log of the handshake (the alert the client sent back); then the server refusing a client
    certificate (clientcert=verify-full). The server does not run as root: as root, it runs as
    the postgres user Debian's package creates."""
    bindir = postgres_bindir()
    if bindir is None:
        skipped.append("postgresql")
        return
    if not need("psql"):
        return
    as_owner = []
    if os.geteuid() == 0:
        as_owner = ["runuser", "-u", "postgres", "--"]
    home = tempfile.mkdtemp(prefix="klaxon-postgres-")
    try:
        for stem in ["ca"] + list(BROKEN) + ["good", "client", "client-expired"]:
            for kind in ("pem", "key"):
                if os.path.exists(certs.path(stem, kind)):
                    shutil.copy(certs.path(stem, kind), os.path.join(home, f"{stem}.{kind}"))
                    os.chmod(os.path.join(home, f"{stem}.{kind}"), 0o600)
        if as_owner:
            subprocess.run(["chown", "-R", "postgres", home], check=True)
        data = os.path.join(home, "data")
        if "(timed out" in run(as_owner + [os.path.join(bindir, "initdb"), "-D", data, "-A", "trust"], timeout=120):
            failures.append("postgres initdb")
            return
        for server_cert, client_cert, want in (
                [(b, "client", w) for b, w in BROKEN.items()] +
                [("good", "client-expired", "cert_expired"), ("good", "unknown-ca", "cert_unknown_authority")]):
            port = free_port()
            with open(os.path.join(data, "postgresql.auto.conf"), "w") as f:
                f.write(f"ssl = on\nssl_cert_file = '{home}/{server_cert}.pem'\nssl_key_file = '{home}/{server_cert}.key'\n"
                        f"ssl_ca_file = '{home}/ca.pem'\nlisten_addresses = '127.0.0.1'\nport = {port}\n"
                        f"unix_socket_directories = '{home}'\n")
            with open(os.path.join(data, "pg_hba.conf"), "w") as f:
                f.write("hostssl all all 127.0.0.1/32 trust clientcert=verify-full\n")
            log = os.path.join(home, "server.log")
            run(as_owner + [os.path.join(bindir, "pg_ctl"), "-D", data, "-l", log, "-w", "start"], timeout=60)
            said = run(["psql", f"host=localhost port={port} user=postgres dbname=postgres sslmode=verify-full "
                        f"sslrootcert={home}/ca.pem sslcert={home}/{client_cert}.pem sslkey={home}/{client_cert}.key "
                        "connect_timeout=10", "-c", "select 1"])
            run(as_owner + [os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"], timeout=60)
            with open(log, errors="replace") as f:
                said += f.read()
            os.unlink(log)
            # What libpq and the server state: libpq says only "certificate verify failed" unless
            # the name is wrong; the server logs the alert the client sent, which names an
            # expired certificate or an unknown CA, and nothing more precise for the others.
            if client_cert == "client" and want in ("cert_not_yet_valid", "cert_bad_signature"):
                want = "tls_handshake_failure"
            what = f"a {server_cert} server" if client_cert == "client" else f"a {client_cert} client certificate"
            expect(klaxon, f"psql and PostgreSQL's log, {what}", said, want, show)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main():
    args = sys.argv[1:]
    show = "--show" in args
    args = [a for a in args if a != "--show"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    klaxon = os.path.abspath(args[0])
    global GIT_TLS
    GIT_TLS = git_tls_library() if shutil.which("git") else ""
    with tempfile.TemporaryDirectory(prefix="klaxon-tls-failures-") as work:
        certs = Certificates(work)
        client_cases(klaxon, certs, work, show)
        nginx_cases(klaxon, certs, work, show)
        etcd_cases(klaxon, certs, work, show)
        postgres_cases(klaxon, certs, work, show)
    if skipped:
        print(f"{'FAIL' if os.environ.get('CI') == 'true' else 'skip'}  not installed: {', '.join(sorted(set(skipped)))}"
              " (scripts/setup installs them)")
        if os.environ.get("CI") == "true":
            failures.append("missing programs")
    if failures:
        print(f"tls_failures_test: {len(failures)} failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
