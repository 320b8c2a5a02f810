#!/usr/bin/env python3
"""Builds the two incident timelines in samples/timelines/ from the lines quoted in the seeds.

The archives are what an operator could have saved: the pods' `kubectl logs --prefix
--timestamps` output merged in time order, with the kubelet's journal lines for the crash
loops. Every message is a real line from ../shared/seeds/ (or the emitter's own format string
filled in, for the hourly warnings), placed on one timeline. Deterministic: running this again
gives the same bytes. The tests and the README read the archives; this script only made them.

    scripts/make-timelines.py    # rewrites samples/timelines/*.log.gz
"""
import datetime as dt
import gzip
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "samples", "timelines")
UTC = dt.timezone.utc


def ts(t):
    """RFC3339Nano as the kubelet and kubectl --timestamps print it."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}" + "000Z"


def zap_time(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}" + "341Z"


def kubectl(pod, container, t, payload):
    return (t, f"[pod/{pod}/{container}] {ts(t)} {payload}")


def write(name, lines):
    lines.sort(key=lambda x: x[0])
    os.makedirs(OUT, exist_ok=True)
    data = "".join(text + "\n" for _, text in lines).encode()
    with open(os.path.join(OUT, name), "wb") as f:
        # mtime=0 and no file name in the header: the same input gives the same archive.
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as z:
            z.write(data)
    print(f"{name}: {len(lines)} lines")


def dapr():
    """Dapr 1.10.4, root certificate created 2022-06-16T12:31:17Z for 365 days (seed 000)."""
    rng = random.Random(2023)
    expiry = dt.datetime(2023, 6, 16, 12, 31, 17, tzinfo=UTC)
    sentry = "dapr-sentry-7c8d9f6b5-x2x4q"
    lines = []

    def sentry_line(t, msg):
        return kubectl(sentry, "dapr-sentry", t, '{"instance":"%s","level":"warning","msg":"%s","scope":"dapr.sentry","time":"%s","type":"log","ver":"1.10.4"}' % (sentry, msg, zap_time(t)))

    # The sentry's hourly check (its ticker runs at :49:06, as the seed's expired line shows).
    # Dapr 1.7-1.11 print whole days and hours of what is left, truncated.
    t = dt.datetime(2023, 5, 15, 12, 49, 6, 566339, tzinfo=UTC)
    end = dt.datetime(2023, 6, 19, 13, 49, 6, tzinfo=UTC)
    while t <= end:
        left = expiry - t
        if left.total_seconds() <= 0:
            lines.append(sentry_line(t, "Dapr root certificate expiration warning: certificate has expired."))
        elif left <= dt.timedelta(days=30):
            hours = int(left.total_seconds() // 3600)
            lines.append(sentry_line(t, "Dapr root certificate expiration warning: certificate expires in %d days and %d hours" % (hours // 24, hours % 24)))
        t += dt.timedelta(hours=1)

    # The operator, as in seed 000 (step 1): info at start, then the API watch drops.
    op = "dapr-operator-6d8f7c9b4-abcd1"
    t0 = dt.datetime(2023, 5, 25, 12, 51, 13, 267369, tzinfo=UTC)
    lines.append(kubectl(op, "dapr-operator", t0, '{"instance":"%s","level":"info","msg":"starting webhooks","scope":"dapr.operator","time":"2023-05-25T12:51:13.267369255Z","type":"log","ver":"1.10.4"}' % op))
    lines.append(kubectl(op, "dapr-operator", t0 + dt.timedelta(microseconds=1916), "I0525 12:51:13.269285       1 leaderelection.go:248] attempting to acquire leader lease dapr-system/webhooks.dapr.io..."))
    t1 = dt.datetime(2023, 6, 1, 2, 52, 46, 530879, tzinfo=UTC)
    for kind in ["*v1.Secret", "*v1alpha1.Configuration", "*v1.Service", "*v1alpha1.Resiliency", "*v1alpha1.Component"]:
        lines.append(kubectl(op, "dapr-operator", t1, 'W0601 %s       1 reflector.go:347] pkg/mod/k8s.io/client-go@v0.26.1/tools/cache/reflector.go:169: watch of %s ended with: an error on the server ("unable to decode an event from the watch stream: http2: client connection lost") has prevented the request from succeeding' % (t1.strftime("%H:%M:%S.%f"), kind)))
        t1 += dt.timedelta(microseconds=53)
    for lease in ["operator.dapr.io", "webhooks.dapr.io"]:
        lines.append(kubectl(op, "dapr-operator", t1, 'E0601 %s       1 leaderelection.go:330] error retrieving resource lock dapr-system/%s: Get "https://10.0.0.1:443/apis/coordination.k8s.io/v1/namespaces/dapr-system/leases/%s": http2: client connection lost' % (t1.strftime("%H:%M:%S.%f"), lease, lease)))
        t1 += dt.timedelta(microseconds=141)

    # Forty applications roll out after the expiry (seed 000, step 3): each daprd asks sentry for a
    # workload certificate, fails the handshake, exits; the kubelet backs off and restarts it.
    start = dt.datetime(2023, 6, 19, 13, 19, 53, 535259, tzinfo=UTC)
    for n in range(1, 41):
        pod = "app%d-5d8c9b7f6-%s" % (n, "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5)))
        app_id = "app%d" % n
        t = start + dt.timedelta(seconds=rng.randint(0, 90), microseconds=rng.randint(0, 999999))
        backoff = 10
        for attempt in range(6):
            def daprd(level, msg, at):
                return kubectl(pod, "daprd", at, '{"app_id":"%s","instance":"%s","level":"%s","msg":"%s","scope":"dapr.runtime.grpc.internal","time":"%s","type":"log","ver":"1.10.4"}' % (app_id, pod, level, msg, zap_time(at)))
            lines.append(daprd("info", "sending workload csr request to sentry", t))
            lines.append(daprd("info", "renewing certificate: requesting new cert and restarting gRPC server", t + dt.timedelta(microseconds=16)))
            now = (t - dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(daprd("error", 'error starting server: error from authenticator CreateSignedWorkloadCert: error from sentry SignCertificate: rpc error: code = Unavailable desc = connection error: desc = \\"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time %s is after 2023-06-16T12:31:17Z\\"' % now, t + dt.timedelta(microseconds=86)))
            died = t + dt.timedelta(seconds=1)
            if attempt > 0:
                # The kubelet's journal (journalctl -u kubelet -o short-iso-precise).
                k = died + dt.timedelta(milliseconds=rng.randint(5, 400))
                lines.append((k, '%s node-%d kubelet[2345]: E%s %s    2345 pod_workers.go:1294] "Error syncing pod, skipping" err="failed to \\"StartContainer\\" for \\"daprd\\" with CrashLoopBackOff: \\"back-off %s restarting failed container=daprd pod=%s_default(8f%06d-4c1e-4a7b-9d2f-%012d)\\"" pod="default/%s" podUID=8f%06d-4c1e-4a7b-9d2f-%012d' % (
                    k.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"), 1 + n % 3, k.strftime("%m%d"), k.strftime("%H:%M:%S.%f"),
                    "%ds" % backoff if backoff < 60 else "%dm%ds" % (backoff // 60, backoff % 60), pod, n, n, pod, n, n)))
            t = died + dt.timedelta(seconds=backoff)
            backoff = min(backoff * 2, 300)
    write("dapr-root-cert-expiry.log.gz", lines)


def linkerd():
    """Linkerd: the trust anchor rotated on 2025-10-22T00:47:24Z; seven pods kept old
    certificates and their proxies fail to reach the identity service (seed 004)."""
    rng = random.Random(2025)
    lines = []
    deployments = ["mock-grpc-4000-6b499dc758-bkf7t", "mock-health-6000-69549bd7b6-rf55k", "mock-http-5000-7b6474c96c-tlxkj",
                   "mock-http-80-5f7d8c9b6d-q2wzx", "mock-metrics-7000-7c9d5b8f4-m8h3k", "mock-rabbitmq-5672-64f8d9c7b5-p4n6v",
                   "mock-redis-6379-5b7c8d9f6-x7k2j"]
    not_after = 1761177843  # the old workload certificates' NotAfter (2025-10-23T00:04:03Z)
    start = dt.datetime(2025, 10, 23, 15, 0, 0, tzinfo=UTC)
    for p, pod in enumerate(deployments):
        uptime = 86000.0 + rng.random() * 500
        t = start + dt.timedelta(seconds=rng.randint(0, 40), microseconds=rng.randint(0, 999999))
        ip = "10.244.1.%d" % (111 + p % 2)
        while t < start + dt.timedelta(minutes=10):
            up = uptime + (t - start).total_seconds()
            if rng.random() < 0.5:
                msg = ("[%12.6fs]  WARN ThreadId(01) identity:identity{server.addr=linkerd-identity-headless.linkerd.svc.cluster.local:8080}:controller{addr=linkerd-identity-headless.linkerd.svc.cluster.local:8080}:endpoint{addr=%s:8080}: linkerd_reconnect: Failed to connect error=endpoint %s:8080: invalid peer certificate: BadSignature error.sources=[invalid peer certificate: BadSignature]" % (up, ip, ip))
            else:
                now = int(t.timestamp())
                msg = ("[%12.6fs]  WARN ThreadId(01) outbound:proxy{addr=10.96.0.%d:80}:service{ns=notifi-test name=mock-http-80 port=80}:endpoint{addr=10.244.2.%d:80}: linkerd_reconnect: Failed to connect error=invalid peer certificate: certificate expired: verification time %d (UNIX), but certificate is not valid after %d (%d seconds ago)" % (up, 10 + p, 20 + p, now, not_after, now - not_after))
            lines.append(kubectl(pod, "linkerd-proxy", t, msg))
            t += dt.timedelta(seconds=rng.choice([3, 5, 8, 13]), microseconds=rng.randint(0, 999999))
    write("linkerd-trust-anchor-rotation.log.gz", lines)


if __name__ == "__main__":
    dapr()
    linkerd()
