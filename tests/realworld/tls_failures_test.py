#!/usr/bin/env python3
"""Real programs, made to fail TLS, and what klaxon calls what they print.

  tls_failures_test.py KLAXON_BINARY [--show] [--only=GROUP[,GROUP...]]

The packs were written from the libraries' error tables; this test holds them to what real
programs print. It makes certificates that are wrong in one way each (expired, not yet valid,
for another name, from an unknown CA, with a broken signature, self-signed), serves them on
127.0.0.1 with real servers (openssl s_server, nginx, Apache httpd, HAProxy, PostgreSQL, etcd,
Redis, MariaDB, mosquitto, a Go http.Server), points real clients at them (curl, wget, Python's
ssl, requests and aiohttp, Node, Ruby, PHP, openssl s_client and verify, gnutls-cli, Java, git,
kubectl, Go's net/http, Erlang's ssl, psql, etcdctl, redis-cli, mariadb, mosquitto_pub, stunnel,
nginx, Apache and HAProxy as proxies), and feeds each program's own output, unedited, to
`klaxon --format jsonl --matches -`. For each case it asserts:
  - the class the output states is among the classes klaxon gives (a program that does not say
    why, like git built on GnuTLS, is expected as tls_handshake_failure);
  - no line gets a certificate class other than that one (tls_handshake_failure and
    connection_lost are allowed beside it: "certificate verify failed" states no cause).
--show prints every program's output and klaxon's classes; --only runs some groups of CASES
(clients, nginx, etcd, postgres, openssl-cli, stunnel, apache, haproxy, redis, mariadb,
mosquitto, erlang, aiohttp, go). Every server and client runs with a
deadline; a program that is not installed fails the test under CI=true and is skipped otherwise.
"""
import collections
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from debian_python import fallback_line, import_debian  # noqa: E402

failures, skipped = [], []
UNSPECIFIC = {"tls_handshake_failure", "connection_lost"}


def need(program, *other_names):
    """The program's path, under its name or another it goes by; None (and noted) if missing."""
    path = next((p for p in map(shutil.which, (program,) + other_names) if p), None)
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
        "python-requests": [py, "-c", f"{fallback_line()}; import requests\n"
                            f"requests.get({url!r}, verify={ca!r}, timeout=10)"],
        "node": ["node", "-e", "const https = require('https'), fs = require('fs');"
                 f"https.get({json.dumps(url)}, {{ca: fs.readFileSync({json.dumps(ca)}), timeout: 10000}},"
                 " r => console.log(r.statusCode)).on('error', e => { console.error(e); process.exit(1); })"],
        "openssl-s_client": ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                             "-CAfile", ca, "-verify_return_error", "-verify_hostname", "localhost", "-brief"],
        "java": ["java", f"-Djavax.net.ssl.trustStore={os.path.join(java_home, 'trust.p12')}",
                 "-Djavax.net.ssl.trustStorePassword=changeit", "-cp", java_home, "Get", url],
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
    # Compiled once: the source launcher (java Get.java) compiles it on every run, which alone
    # can take the 30 s a client is given on a loaded machine.
    run(["javac", "-d", home, os.path.join(home, "Get.java")], timeout=300)
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



def expect_nothing(klaxon, case, text, show):
    """A healthy program's output: klaxon must name nothing in it."""
    found = classes_of(klaxon, text)
    if show or found:
        print(f"---- {case}: want nothing, got {dict(found)}")
        print("     | " + "\n     | ".join(text.strip().splitlines()[-12:]))
    if found:
        failures.append(case)
        print(f"FAIL  {case}: want nothing", flush=True)
    else:
        print(f"ok    {case}: nothing", flush=True)

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


class Daemon:
    """A server under test in the foreground, its output (stdout and stderr) kept in a file."""

    def __init__(self, argv, log, port=None, deadline=20.0, env=None, cwd=None):
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                            env=env, cwd=cwd)
        self.up = port is None or wait_for_port(port, deadline)

    def size(self):
        return os.path.getsize(self.log)

    def settle(self, size_before, deadline=5.0):
        """Waits until the server has written past size_before (its line about a refused client
        may come after the client has already given up), or the deadline passes."""
        end = time.monotonic() + deadline
        while self.size() <= size_before and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(0.1)  # the rest of the line, or a second one

    def stop(self):
        """Stops it and returns what it wrote."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with open(self.log, errors="replace") as f:
            return f.read()


def readable_copies(certs, work):
    """The PEM files again, readable by every user: for servers that drop root before they read
    their key (mosquitto to 'mosquitto', httpd's children to 'nobody')."""
    os.chmod(work, 0o711)  # others may pass through the work directory, not list it
    shared = tempfile.mkdtemp(dir=work, prefix="readable-")
    os.chmod(shared, 0o755)
    for name in os.listdir(certs.dir):
        if name.endswith((".pem", ".key")):
            shutil.copy(os.path.join(certs.dir, name), shared)
            os.chmod(os.path.join(shared, name), 0o644)
    copy = Certificates.__new__(Certificates)
    copy.dir = shared
    return copy


def openssl_cli_cases(klaxon, certs, work, show):
    """`openssl verify` of each broken certificate, and `openssl x509 -checkend` (a monitoring
    check's words): the expired one "will expire", a good one says nothing klaxon should name."""
    if not need("openssl"):
        return
    for broken, want in BROKEN.items():
        said = run(["openssl", "verify", "-CAfile", certs.path("ca"), "-verify_hostname", "localhost",
                    certs.path(broken)])
        expect(klaxon, f"openssl verify, {broken}", said, want, show)
    expect(klaxon, "openssl x509 -checkend, expired", run(["openssl", "x509", "-checkend", "86400", "-noout", "-in",
                                                          certs.path("expired")]), "cert_expiring_soon", show)
    expect_nothing(klaxon, "openssl x509 -checkend, good",
                   run(["openssl", "x509", "-checkend", "86400", "-noout", "-in", certs.path("good")]), show)


STUNNEL_CONF = """foreground = yes
pid =
[upstream]
client = yes
accept = 127.0.0.1:{port}
connect = 127.0.0.1:{upstream_port}
CAfile = {ca}
verifyChain = yes
checkHost = localhost
"""


def stunnel_cases(klaxon, certs, work, show):
    """stunnel as a TLS client (verifyChain, checkHost) to each broken server."""
    stunnel = need("stunnel4", "stunnel")
    if not stunnel or not need("curl"):
        return
    for broken, want in BROKEN.items():
        upstream = OpensslServer(certs, broken)
        port, conf = free_port(), os.path.join(work, "stunnel.conf")
        with open(conf, "w") as f:
            f.write(STUNNEL_CONF.format(port=port, upstream_port=upstream.port, ca=certs.path("ca")))
        daemon = Daemon([stunnel, conf], os.path.join(work, "stunnel.log"), port)
        run(["curl", "-sS", "--max-time", "10", f"http://127.0.0.1:{port}/"])
        log = daemon.stop()
        upstream.stop()
        expect(klaxon, f"stunnel -> {broken} server", log, want, show)


APACHE_CONF = """ServerName localhost
ServerRoot {work}
DefaultRuntimeDir {work}
PidFile {work}/httpd.pid
ErrorLog {work}/error.log
LogLevel info
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule ssl_module {modules}/mod_ssl.so
LoadModule proxy_module {modules}/mod_proxy.so
LoadModule proxy_http_module {modules}/mod_proxy_http.so
User nobody
Group {group}
Listen 127.0.0.1:{proxy_port}
Listen 127.0.0.1:{mtls_port}
<VirtualHost 127.0.0.1:{proxy_port}>
  SSLProxyEngine on
  SSLProxyVerify require
  SSLProxyCACertificateFile {ca}
  SSLProxyCheckPeerName on
  SSLProxyCheckPeerExpire on
  ProxyPass / https://localhost:{upstream_port}/
</VirtualHost>
<VirtualHost 127.0.0.1:{mtls_port}>
  SSLEngine on
  SSLCertificateFile {good}
  SSLCertificateKeyFile {good_key}
  SSLCACertificateFile {ca}
  SSLVerifyClient require
</VirtualHost>
"""


def apache_cases(klaxon, certs, work, show):
    """Apache httpd's error log (mod_ssl, mod_proxy): proxying to each broken upstream
    (SSLProxyVerify require, SSLProxyCheckPeerName), and refusing broken client certificates."""
    httpd = need("apache2", "httpd")
    modules = next((d for d in ("/usr/lib/apache2/modules", "/usr/lib64/httpd/modules", "/usr/lib/httpd/modules")
                    if os.path.exists(os.path.join(d, "mod_ssl.so"))), None)
    if not httpd or not need("curl"):
        return
    if modules is None:
        skipped.append("mod_ssl")
        return
    group = "nogroup" if run(["getent", "group", "nogroup"]).strip() else "nobody"
    readable = readable_copies(certs, work)
    for broken, client_cert in [(b, "client-expired" if b == "expired" else b) for b in BROKEN]:
        upstream = OpensslServer(certs, broken)
        scratch = tempfile.mkdtemp(dir=work, prefix="httpd-")
        os.chmod(scratch, 0o755)
        proxy_port, mtls_port = free_port(), free_port()
        conf = os.path.join(scratch, "httpd.conf")
        with open(conf, "w") as f:
            f.write(APACHE_CONF.format(work=scratch, modules=modules, group=group, proxy_port=proxy_port,
                                       mtls_port=mtls_port, upstream_port=upstream.port, ca=readable.path("ca"),
                                       good=readable.path("good"), good_key=readable.path("good", "key")))
        daemon = Daemon([httpd, "-X", "-f", conf], os.path.join(scratch, "stdout.log"), proxy_port)
        wait_for_port(mtls_port)
        run(["curl", "-sS", "--max-time", "10", f"http://127.0.0.1:{proxy_port}/"])
        daemon_log_mark = os.path.getsize(os.path.join(scratch, "error.log"))
        if broken != "wrong-name":  # the name of a client certificate is not checked
            run(["curl", "-sS", "--max-time", "10", "--cacert", certs.path("ca"), "--cert", certs.path(client_cert),
                 "--key", certs.path(client_cert, "key"), f"https://localhost:{mtls_port}/"])
        daemon.stop()
        upstream.stop()
        with open(os.path.join(scratch, "error.log"), errors="replace") as f:
            log = f.read()
        expect(klaxon, f"Apache error_log, a {broken} upstream", log[:daemon_log_mark], BROKEN[broken], show)
        if broken != "wrong-name":
            expect(klaxon, f"Apache error_log, a {client_cert} client certificate", log[daemon_log_mark:],
                   BROKEN.get(client_cert, "cert_expired"), show)


HAPROXY_CONF = """global
  log stderr format raw local0 info
defaults
  mode http
  log global
  option httplog
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend proxy
  bind 127.0.0.1:{proxy_port}
  default_backend upstream
backend upstream
  server app 127.0.0.1:{upstream_port} ssl verify required ca-file {ca} verifyhost localhost sni str(localhost) check inter 300ms fall 1
frontend mtls
  bind 127.0.0.1:{mtls_port} ssl crt {good} ca-file {ca} verify required
  http-request return status 200
"""


def haproxy_cases(klaxon, certs, work, show):
    """HAProxy's log: a backend server (verify required, verifyhost, health checks) with each
    broken certificate, and a frontend (verify required) refusing client certificates. HAProxy
    names no verify error: a backend says "SSL handshake failure" unless the name is wrong, a
    frontend "SSL client certificate not trusted" for any fault of the client's certificate."""
    if not need("haproxy") or not need("curl"):
        return
    combined = os.path.join(work, "haproxy-good.pem")
    with open(combined, "w") as f:
        f.write(open(certs.path("good")).read() + open(certs.path("good", "key")).read())
    for broken in BROKEN:
        upstream = OpensslServer(certs, broken)
        proxy_port, mtls_port = free_port(), free_port()
        conf = os.path.join(work, "haproxy.cfg")
        with open(conf, "w") as f:
            f.write(HAPROXY_CONF.format(proxy_port=proxy_port, mtls_port=mtls_port, upstream_port=upstream.port,
                                        ca=certs.path("ca"), good=combined))
        daemon = Daemon(["haproxy", "-db", "-f", conf], os.path.join(work, "haproxy.log"), proxy_port)
        time.sleep(0.5)  # one health check
        run(["curl", "-sS", "--max-time", "10", f"http://127.0.0.1:{proxy_port}/"])
        backend = daemon.stop()
        upstream.stop()
        expect(klaxon, f"HAProxy log, a {broken} backend", backend,
               "cert_name_mismatch" if broken == "wrong-name" else "tls_handshake_failure", show)
    for client_cert in ("client-expired", "unknown-ca", "self-signed"):
        mtls_port = free_port()
        with open(conf, "w") as f:
            f.write(HAPROXY_CONF.format(proxy_port=free_port(), mtls_port=mtls_port, upstream_port=free_port(),
                                        ca=certs.path("ca"), good=combined).replace(" check inter 300ms fall 1", ""))
        daemon = Daemon(["haproxy", "-db", "-f", conf], os.path.join(work, "haproxy.log"), mtls_port)
        before = daemon.size()
        run(["curl", "-sS", "--max-time", "10", "--cacert", certs.path("ca"), "--cert", certs.path(client_cert),
             "--key", certs.path(client_cert, "key"), f"https://localhost:{mtls_port}/"])
        daemon.settle(before)
        expect(klaxon, f"HAProxy log, a {client_cert} client certificate", daemon.stop(), "cert_unknown_authority",
               show)


def redis_cases(klaxon, certs, work, show):
    """redis-server with TLS and redis-cli, both ways: redis-cli (hiredis) says only "certificate
    verify failed", the server logs the alert the client sent back; then the server refusing
    client certificates, which it logs only as "certificate verify failed"."""
    if not need("redis-server") or not need("redis-cli"):
        return

    def server(cert):
        port = free_port()
        return port, Daemon(["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                             "--tls-cert-file", certs.path(cert), "--tls-key-file", certs.path(cert, "key"),
                             "--tls-ca-cert-file", certs.path("ca"), "--save", "", "--appendonly", "no",
                             "--dir", work], os.path.join(work, "redis.log"), port)

    def cli(port, cert):
        return run(["redis-cli", "--tls", "--cacert", certs.path("ca"), "--cert", certs.path(cert), "--key",
                    certs.path(cert, "key"), "-h", "localhost", "-p", str(port), "ping"], timeout=15)

    # The alert names an expired certificate or an unknown CA; for the others it is "bad certificate".
    states = {"expired": "cert_expired", "unknown-ca": "cert_unknown_authority",
              "self-signed": "cert_unknown_authority"}
    for broken, want in states.items():  # redis-cli checks no host name: wrong-name connects
        port, daemon = server(broken)
        said = cli(port, "client")
        expect(klaxon, f"redis-cli and redis-server, a {broken} server", said + daemon.stop(), want, show)
    port, daemon = server("good")
    for client_cert in ("client-expired", "self-signed"):
        before = daemon.size()
        cli(port, client_cert)
        daemon.settle(before)
    expect(klaxon, "redis-server, broken client certificates", daemon.stop(), "tls_handshake_failure", show)


def mariadb_cases(klaxon, certs, work, show):
    """The mariadb client (Connector/C) against mariadbd serving each broken certificate: it
    prints OpenSSL's verify string, and its own words when the name is wrong. One server, its
    certificate replaced and reloaded with FLUSH SSL over the Unix socket."""
    mariadbd = need("mariadbd", "mysqld")
    if not mariadbd or not need("mariadb-install-db") or not need("mariadb"):
        return
    home = tempfile.mkdtemp(dir=work, prefix="mariadb-")
    data, sock = os.path.join(home, "data"), os.path.join(home, "mysqld.sock")
    installed = run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                     "--auth-root-authentication-method=normal", "--skip-test-db"], timeout=180)
    if not os.path.isdir(os.path.join(data, "mysql")):
        print(installed)
        failures.append("mariadb-install-db")
        return
    pem, key = os.path.join(home, "server.pem"), os.path.join(home, "server.key")
    shutil.copy(certs.path("good"), pem)
    shutil.copy(certs.path("good", "key"), key)
    port = free_port()
    daemon = Daemon([mariadbd, "--no-defaults", f"--datadir={data}", "--user=root", f"--port={port}",
                     "--bind-address=127.0.0.1", f"--socket={sock}", "--skip-grant-tables", f"--ssl-cert={pem}",
                     f"--ssl-key={key}", f"--ssl-ca={certs.path('ca')}", "--innodb-buffer-pool-size=8M",
                     f"--pid-file={home}/mysqld.pid"], os.path.join(home, "server.log"), port, deadline=60)
    for broken, want in BROKEN.items():
        shutil.copy(certs.path(broken), pem)
        shutil.copy(certs.path(broken, "key"), key)
        run(["mariadb", "--no-defaults", "-S", sock, "-u", "root", "-e", "FLUSH SSL"])
        said = run(["mariadb", "--no-defaults", "--protocol=tcp", "-h", "localhost", "-P", str(port), "-u", "root",
                    "--ssl", f"--ssl-ca={certs.path('ca')}", "--ssl-verify-server-cert", "--connect-timeout=10",
                    "-e", "select 1"])
        expect(klaxon, f"mariadb -> a {broken} mariadbd", said, want, show)
    daemon.stop()


MOSQUITTO_CONF = """listener {port} 127.0.0.1
certfile {cert}
keyfile {key}
cafile {ca}
require_certificate true
allow_anonymous true
log_dest stderr
"""


def mosquitto_cases(klaxon, certs, work, show):
    """The mosquitto broker and mosquitto_pub: the client says only "A TLS error occurred.", the
    broker logs the alert the client sent back (expired, unknown CA; "internal error" for a wrong
    name). Then a broker whose key its own user cannot read: mosquitto drops root before it
    loads the files."""
    if not need("mosquitto") or not need("mosquitto_pub"):
        return
    readable = readable_copies(certs, work)
    conf = os.path.join(work, "mosquitto.conf")
    states = {"expired": "cert_expired", "wrong-name": "tls_handshake_failure",
              "unknown-ca": "cert_unknown_authority", "self-signed": "cert_unknown_authority"}
    for broken, want in states.items():
        port = free_port()
        with open(conf, "w") as f:
            f.write(MOSQUITTO_CONF.format(port=port, cert=readable.path(broken), key=readable.path(broken, "key"),
                                          ca=readable.path("ca")))
        daemon = Daemon(["mosquitto", "-c", conf], os.path.join(work, "mosquitto.log"), port)
        said = run(["mosquitto_pub", "--cafile", certs.path("ca"), "--cert", certs.path("client"), "--key",
                    certs.path("client", "key"), "-h", "localhost", "-p", str(port), "-t", "klaxon", "-m", "x"],
                   timeout=15)
        expect(klaxon, f"mosquitto_pub and mosquitto, a {broken} broker", said + daemon.stop(), want, show)
    if os.geteuid() == 0:  # as root the broker becomes 'mosquitto', who cannot read a 0600 key of root's
        port = free_port()
        with open(conf, "w") as f:
            f.write(MOSQUITTO_CONF.format(port=port, cert=certs.path("good"), key=certs.path("good", "key"),
                                          ca=certs.path("ca")))
        daemon = Daemon(["mosquitto", "-c", conf], os.path.join(work, "mosquitto.log"))
        try:
            daemon.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        expect(klaxon, "mosquitto, a key it cannot read", daemon.stop(), "cert_load_failed", show)


ERLANG_CONNECT = """{{ok, _}} = application:ensure_all_started(ssl),
R = ssl:connect("localhost", {port}, [{{verify, verify_peer}}, {{cacertfile, "{ca}"}},
                                      {{server_name_indication, "localhost"}}], 10000),
io:format("~p~n", [R]), halt()."""


# What Erlang's ssl says, from the alert it chose (lib/ssl/src/ssl_handshake.erl path_validation_alert):
# a certificate before its validity is "Certificate Expired" too, a bad signature "Unknown CA", a
# self-signed one "Bad Certificate" (which states no cause).
ERLANG_STATES = dict(BROKEN, **{"not-yet-valid": "cert_expired", "bad-signature": "cert_unknown_authority",
                                "self-signed": "tls_handshake_failure"})


def erlang_cases(klaxon, certs, work, show):
    """Erlang/OTP's ssl application as a client (RabbitMQ, Elixir and Erlang services print it):
    the {tls_alert, ...} result and the logger's "TLS client: In state ..." report."""
    if not need("erl"):
        return
    for broken, want in ERLANG_STATES.items():
        server = OpensslServer(certs, broken)
        said = run(["erl", "-noshell", "-eval", ERLANG_CONNECT.format(port=server.port, ca=certs.path("ca"))])
        server.stop()
        expect(klaxon, f"erlang ssl:connect -> {broken} server", said, want, show)


AIOHTTP_GET = fallback_line() + """
import asyncio, ssl, sys
import aiohttp
async def main():
    async with aiohttp.ClientSession() as session:
        async with session.get(sys.argv[1], ssl=ssl.create_default_context(cafile=sys.argv[2])) as r:
            print(r.status)
asyncio.run(main())
"""


def aiohttp_cases(klaxon, certs, work, show):
    """aiohttp on asyncio: ClientConnectorCertificateError around the ssl module's reason."""
    try:
        import_debian("aiohttp")
    except ImportError:
        skipped.append("python3-aiohttp")
        return
    script = os.path.join(work, "aiohttp_get.py")
    with open(script, "w") as f:
        f.write(AIOHTTP_GET)
    for broken, want in BROKEN.items():
        server = OpensslServer(certs, broken)
        said = run([sys.executable, script, f"https://localhost:{server.port}/", certs.path("ca")])
        server.stop()
        expect(klaxon, f"aiohttp -> {broken} server", said, want, show)


GO_PEER = """package main

// A Go HTTPS client ("get CA URL") and server requiring client certificates
// ("serve CA ADDR CERT KEY"): net/http and crypto/tls as Go services use them.
import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(os.Args[2])
	if err != nil || !pool.AppendCertsFromPEM(ca) {
		fmt.Fprintln(os.Stderr, "cannot read the CA:", err)
		os.Exit(2)
	}
	if os.Args[1] == "get" {
		client := &http.Client{Timeout: 10 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		if _, err := client.Get(os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	server := &http.Server{Addr: os.Args[3],
		TLSConfig: &tls.Config{ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}}
	fmt.Fprintln(os.Stderr, server.ListenAndServeTLS(os.Args[4], os.Args[5]))
	os.Exit(1)
}
"""


def go_cases(klaxon, certs, work, show):
    """Go's net/http and crypto/tls, built here from GO_PEER with the Debian toolchain: a client
    against each broken server, and a server's "http: TLS handshake error from ..." for each
    broken client certificate. (The build cache is Go's own, so only the first run compiles.)"""
    if not need("go") or not need("curl"):
        return
    source, binary = os.path.join(work, "tlspeer.go"), os.path.join(work, "tlspeer")
    with open(source, "w") as f:
        f.write(GO_PEER)
    built = run(["go", "build", "-o", binary, source], timeout=600, cwd=work,
                env=dict(os.environ, GO111MODULE="off", GOFLAGS="", GOTOOLCHAIN="local"))
    if not os.path.exists(binary):
        print(built)
        failures.append("go build")
        return
    for broken, want in BROKEN.items():
        server = OpensslServer(certs, broken)
        said = run([binary, "get", certs.path("ca"), f"https://localhost:{server.port}/"])
        server.stop()
        expect(klaxon, f"Go net/http -> {broken} server", said, want, show)
    for client_cert in ("client-expired", "not-yet-valid", "unknown-ca", "bad-signature", "self-signed"):
        port = free_port()
        daemon = Daemon([binary, "serve", certs.path("ca"), f"127.0.0.1:{port}", certs.path("good"),
                         certs.path("good", "key")], os.path.join(work, "go-server.log"), port)
        time.sleep(0.2)  # its line about wait_for_port's probe ("...: EOF") comes first
        before = daemon.size()
        run(["curl", "-sS", "--max-time", "10", "--cacert", certs.path("ca"), "--cert", certs.path(client_cert),
             "--key", certs.path(client_cert, "key"), f"https://localhost:{port}/"])
        daemon.settle(before)
        expect(klaxon, f"Go http.Server, a {client_cert} client certificate", daemon.stop(),
               BROKEN.get(client_cert, "cert_expired"), show)


CASES = {"clients": client_cases, "nginx": nginx_cases, "etcd": etcd_cases, "postgres": postgres_cases,
         "openssl-cli": openssl_cli_cases, "stunnel": stunnel_cases, "apache": apache_cases,
         "haproxy": haproxy_cases, "redis": redis_cases, "mariadb": mariadb_cases, "mosquitto": mosquitto_cases,
         "erlang": erlang_cases, "aiohttp": aiohttp_cases, "go": go_cases}


def main():
    args = sys.argv[1:]
    show = "--show" in args
    only = [a.split("=", 1)[1] for a in args if a.startswith("--only=")]
    args = [a for a in args if a != "--show" and not a.startswith("--only=")]
    chosen = [n for group in only for n in group.split(",")] or list(CASES)
    if len(args) != 1 or any(n not in CASES for n in chosen):
        print(__doc__, file=sys.stderr)
        return 2
    klaxon = os.path.abspath(args[0])
    global GIT_TLS
    GIT_TLS = git_tls_library() if shutil.which("git") else ""
    with tempfile.TemporaryDirectory(prefix="klaxon-tls-failures-") as work:
        certs = Certificates(work)
        for name in chosen:
            CASES[name](klaxon, certs, work, show)
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
