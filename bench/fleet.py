#!/usr/bin/env python3
"""A fleet on one machine: N simulated nodes' logs through M klaxons into a real Alertmanager pair.

    bench/fleet.py [--nodes 300] [--klaxons 3] [--pods 4] [--lines 400] [--build build]

Generates, for each node, what `kubectl logs --prefix --timestamps` of its pods would give over
an hour compressed into a file: healthy Dapr sidecar lines, and for the last --failing part of
it, from the outage on (the Dapr
root certificate expired, as in samples/timelines/) each sidecar's "x509: certificate has
expired" error every 10 s. Node 0 also runs the sentry, whose "certificate has expired." line
is the root cause. Klaxon i replays nodes i, i+M, i+2M... (a DaemonSet's pods, each its nodes)
with --send-replayed --label cluster=sim to two Alertmanagers in a gossip cluster on loopback,
configured with `klaxon rules export --as alertmanager-inhibit`. A webhook receiver here counts
their notifications.

Reports: lines and bytes, alerts each klaxon posted (incidents it opened that are not under a
root it saw), what Alertmanager holds (alerts, inhibited ones), notifications delivered and
duplicates (a group notified more than once), and each klaxon's CPU seconds and peak RSS, with
the CPU cost per GB. Needs prometheus-alertmanager (scripts/setup). Everything is on 127.0.0.1.
"""
import argparse
import http.server
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AM = "/usr/bin/prometheus-alertmanager"
OUTAGE = 1687180800  # 2023-06-19T13:20:00Z
EXPIRED_AT = "2023-06-16T12:31:17Z"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stamp(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t))) + ".%09dZ" % int((t % 1) * 1e9)


def node_log(path, node, pods, lines, rng, failing):
    """One node's pods, merged in time order, the last `failing` part of the hour after the
    outage; returns the bytes and lines written."""
    out = []
    start = OUTAGE - 3600 * (1 - failing)
    for p in range(pods):
        app = f"app{node}x{p}"
        pod = f"{app}-5d8c9b7f6-{rng.randrange(16**5):05x}"
        for k in range(lines):
            t = start + k * 3600 / lines + rng.random()
            if t < OUTAGE:
                msg = {"app_id": app, "instance": pod, "level": "info", "msg": f"HTTP API Called: GET /v1.0/state/{k}",
                       "scope": "dapr.runtime.http-info", "time": stamp(t), "type": "log", "ver": "1.10.4"}
            else:
                msg = {"app_id": app, "instance": pod, "level": "error",
                       "msg": "error starting server: error from authenticator CreateSignedWorkloadCert: error from "
                              "sentry SignCertificate: rpc error: code = Unavailable desc = connection error: desc = "
                              "\"transport: authentication handshake failed: tls: failed to verify certificate: x509: "
                              f"certificate has expired or is not yet valid: current time {stamp(t)[:19]}Z is after "
                              f"{EXPIRED_AT}\"", "scope": "dapr.runtime.grpc.internal", "time": stamp(t), "type": "log",
                       "ver": "1.10.4"}
            out.append((t, f"[pod/{pod}/daprd] {stamp(t)} {json.dumps(msg, separators=(',', ':'))}\n"))
    if node == 0:
        for k in range(60):
            t = OUTAGE - 3000 + k * 60
            msg = {"instance": "dapr-sentry-7c8d9f6b5-x2x4q", "level": "warning",
                   "msg": "Dapr root certificate expiration warning: certificate has expired.", "scope": "dapr.sentry",
                   "time": stamp(t), "type": "log", "ver": "1.10.4"}
            out.append((t, f"[pod/dapr-sentry-7c8d9f6b5-x2x4q/dapr-sentry] {stamp(t)} "
                           f"{json.dumps(msg, separators=(',', ':'))}\n"))
    out.sort()
    text = "".join(line for _, line in out)
    with open(path, "w") as f:
        f.write(text)
    return len(text.encode()), len(out)


class Receiver(http.server.BaseHTTPRequestHandler):
    notifications = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with Receiver.lock:
            Receiver.notifications.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def wait(condition, limit):
    until = time.time() + limit
    while time.time() < until:
        try:
            if condition():
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=300)
    ap.add_argument("--klaxons", type=int, default=3)
    ap.add_argument("--pods", type=int, default=4, help="app pods per node")
    ap.add_argument("--lines", type=int, default=400, help="lines per pod (an hour of it)")
    ap.add_argument("--failing", type=float, default=0.5, help="part of the hour after the outage (error lines)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    klaxon = os.path.join(args.build, "klaxon")
    if not os.path.exists(AM):
        sys.exit("fleet.py: prometheus-alertmanager is not installed (scripts/setup)")
    tmp = tempfile.mkdtemp(prefix="klaxon-fleet-")
    procs = []
    try:
        rng = random.Random(20)
        files, total_bytes, total_lines = [], 0, 0
        for n in range(args.nodes):
            path = os.path.join(tmp, f"node-{n}.log")
            b, l = node_log(path, n, args.pods, args.lines, rng, args.failing)
            files.append(path)
            total_bytes += b
            total_lines += l

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        inhibit = subprocess.run([klaxon, "--label", "cluster=sim", "rules", "export", "--as", "alertmanager-inhibit"],
                                 capture_output=True, text=True, check=True).stdout
        config = os.path.join(tmp, "alertmanager.yml")
        with open(config, "w") as f:
            f.write("route:\n  receiver: team\n  group_by: [alertname, cluster, expired_at]\n  group_wait: 1s\n"
                    "  group_interval: 5m\n  repeat_interval: 4h\nreceivers:\n  - name: team\n    webhook_configs:\n"
                    f"      - url: http://127.0.0.1:{server.server_address[1]}/\n" + inhibit)
        web = [free_port(), free_port()]
        gossip = [free_port(), free_port()]
        for i in range(2):
            os.makedirs(os.path.join(tmp, f"am{i}"))
            procs.append(subprocess.Popen(
                [AM, f"--config.file={config}", f"--storage.path={os.path.join(tmp, f'am{i}')}",
                 f"--web.listen-address=127.0.0.1:{web[i]}", f"--cluster.listen-address=127.0.0.1:{gossip[i]}",
                 f"--cluster.peer=127.0.0.1:{gossip[1 - i]}", "--cluster.peer-timeout=2s",
                 "--cluster.gossip-interval=100ms", "--log.level=warn"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if not wait(lambda: all(len(get(p, "/api/v2/status")["cluster"]["peers"]) == 2 for p in web), 60):
            sys.exit("fleet.py: the Alertmanager pair did not form a cluster")

        runs = []
        started = time.time()
        for i in range(args.klaxons):
            mine = files[i::args.klaxons]
            out = open(os.path.join(tmp, f"klaxon-{i}.jsonl"), "w")
            p = subprocess.Popen([klaxon, "--format", "jsonl", "--threads", "1", "--send-replayed", "--label", "cluster=sim",
                                  "--alertmanager", f"http://127.0.0.1:{web[0]}", "--alertmanager",
                                  f"http://127.0.0.1:{web[1]}", *mine], stdout=out, stderr=subprocess.DEVNULL)
            runs.append((i, p, out, sum(os.path.getsize(f) for f in mine)))
        results = []
        for i, p, out, size in runs:
            _, status, usage = os.wait4(p.pid, 0)
            out.close()
            posted = 0
            with open(os.path.join(tmp, f"klaxon-{i}.jsonl")) as f:
                for line in f:
                    o = json.loads(line)
                    if o.get("type") == "incident" and o["event"] == "opened" and not o.get("caused_by"):
                        posted += 1
            results.append((i, os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime,
                            usage.ru_maxrss / 1024, size, posted))
        wall = time.time() - started
        # Alertmanager: every member holds every alert; notifications settle after group_wait and a peer timeout.
        time.sleep(8)
        alerts = get(web[0], "/api/v2/alerts?active=true&inhibited=true&silenced=true")
        inhibited = sum(1 for a in alerts if a["status"]["inhibitedBy"])
        with Receiver.lock:
            notes = list(Receiver.notifications)
        groups = {}
        for n in notes:
            groups[n["groupKey"]] = groups.get(n["groupKey"], 0) + 1
        duplicates = sum(c - 1 for c in groups.values())

        gb = total_bytes / 1e9
        print(f"fleet: {args.nodes} nodes x {args.pods} pods, {total_lines:,} lines ({args.failing:.0%} failing), "
          f"{total_bytes / 1e6:.1f} MB, "
              f"{args.klaxons} klaxons, 2 Alertmanagers (gossip), wall {wall:.1f} s")
        print("| klaxon | exit | MB read | alerts posted | CPU s | CPU s per GB | peak RSS MiB |")
        print("|---|---|---|---|---|---|---|")
        for i, code, cpu, rss, size, posted in results:
            print(f"| {i} | {code} | {size / 1e6:.1f} | {posted} | {cpu:.2f} | {cpu / (size / 1e9):.1f} | {rss:.1f} |")
        cpu = sum(r[2] for r in results)
        print(f"\nAlertmanager: {len(alerts)} alerts, {inhibited} inhibited; notifications delivered {len(notes)} "
              f"({', '.join(sorted(a['labels']['alertname'] for n in notes for a in n['alerts']))}); "
              f"duplicates {duplicates}")
        print(f"all klaxons: {cpu:.2f} CPU s for {gb:.3f} GB = {cpu / gb:.1f} CPU s per GB")
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
