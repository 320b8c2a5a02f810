#!/usr/bin/env python3
"""Whole-process throughput, side by side: klaxon, rg, grep and the memchr floor, on one corpus.

    bench/run.py [--gb 1] [--mix-gb 0.25] [--runs 5] [--build build] [--big] [--mixes-only]

First the mixes: every kind of corpus bench/corpus.cpp makes (quiet, noisy, sick cluster,
incident archive, JSON-heavy, text-heavy), each with its candidate and match rates (klaxon's
own summary line), klaxon on 1 and 2 threads and rg side by side, one table (--mixes-only stops
there: a few minutes). Then the 1 GB quiet corpus in detail.

Generates the deterministic corpus (bench/corpus.cpp) in a temporary directory, exports the
shipped packs' regexes for rg and grep (`klaxon rules export`), and runs the tools on the same
file in rounds (each compared pair side by side, one run of each per round), printing median
GB/s and the ratios the throughput issue asks for: each ratio is the median of its pair's
per-round ratios, so the VM's drift between rounds cancels. Page cache
is warm for every run (the corpus is read once first). Prints a Markdown table for
bench/README.md. --big adds the 10 GB memory check.
"""
import argparse
import json
import os
import random
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--gb", type=float, default=1.0)
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
ap.add_argument("--big", action="store_true", help="also check peak memory on a 10 GB corpus")
ap.add_argument("--mix-gb", type=float, default=0.25, help="size of each corpus of the mixes table")
ap.add_argument("--mixes-only", action="store_true", help="only the table of every corpus kind")
args = ap.parse_args()

BUILD = os.path.abspath(args.build)
KLAXON = os.path.join(BUILD, "klaxon")
CORPUS = os.path.join(BUILD, "bench", "klaxon-corpus")
FLOOR = os.path.join(BUILD, "bench", "memchr-floor")
tmp = tempfile.mkdtemp(prefix="klaxon-bench-")


def run(cmd, ok=(0,)):
    """Wall seconds of one run. A run that failed is not a measurement.
    Output goes to a real file: GNU grep stops at the first match when it sees /dev/null."""
    t = time.perf_counter()
    with open(os.path.join(tmp, "stdout"), "wb") as out:
        p = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, check=False, shell=isinstance(cmd, str))
    wall = time.perf_counter() - t
    if p.returncode not in ok:
        sys.exit(f"bench: {cmd} failed with status {p.returncode}: {p.stderr.decode(errors='replace')[:500]}")
    return wall


def side_by_side(size, commands, runs=args.runs):
    """Median GB/s of each (name, cmd[, ok]) over `runs` rounds, one run of each per round.
    Rounds, not one command's runs in a row: this VM's speed drifts from minute to minute, and a
    ratio of two commands measured minutes apart would carry that drift."""
    walls = [[] for _ in commands]
    for _ in range(runs):
        for i, (name, cmd, *ok) in enumerate(commands):
            walls[i].append(run(cmd, *(ok or [(0,)])))
    out = []
    for i, (name, *_) in enumerate(commands):
        med = statistics.median(walls[i])
        gbps = size / med / 1e9
        print(f"  {name:<44} {gbps:6.2f} GB/s  ({med:.3f} s median of {runs})", flush=True)
        out.append(Measured(gbps, walls[i]))
    return out


class Measured:
    def __init__(self, gbps, walls):
        self.gbps, self.walls = gbps, walls


def faster(x, than):
    """How many times faster x ran than `than`: the median of the ratios of the two's runs in
    the same round when they ran side by side (drift cancels within a round), else of GB/s."""
    if len(x.walls) == len(than.walls) and len(x.walls) > 1:
        return statistics.median(t / w for w, t in zip(x.walls, than.walls))
    return x.gbps / than.gbps


def median_seconds(name, cmd, runs=args.runs):
    walls = [run(cmd) for _ in range(runs)]
    med = statistics.median(walls)
    print(f"  {name:<44} {med:6.3f} s median of {runs}", flush=True)
    return med


def peak_rss_kib(cmd):
    """Peak RSS of one process, alone (ru_maxrss of children is the max over all of them)."""
    p = subprocess.Popen(["/bin/sh", "-c", cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    return usage.ru_maxrss


def corpus(name, gb, incident_every=None, kind="quiet"):
    path = os.path.join(tmp, name)
    cmd = [CORPUS, "--kind", kind, str(int(gb * 1e9))] + ([str(incident_every)] if incident_every else [])
    with open(path, "wb") as f:
        subprocess.run(cmd, stdout=f, check=True)
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL)  # warm the page cache
    return path, os.path.getsize(path)


def synthetic_pack(times):
    """The shipped rules again, `times` - 1 more times, with their words' letters shuffled: the
    same shapes and lengths, literals that are as selective, text that never occurs."""
    out = subprocess.run([KLAXON, "rules", "export", "--as", "rg"], capture_output=True, text=True, check=True).stdout
    rng = random.Random(7)
    lines = ["pack: synthetic", "rules:"]
    n = 0
    for regex in out.splitlines():
        for k in range(times - 1):
            def scramble(m):
                w = list(m.group(0))
                rng.shuffle(w)
                return "".join(w)
            mutated = re.sub(r"(?<![\\?<])[a-z]{4,}", scramble, regex)
            n += 1
            q = mutated.replace("'", "''")
            lines.append(f"  - {{ id: synthetic.r{n}, class: tls_handshake_failure, title: synthetic, match: {{ line: '{q}' }} }}")
    path = os.path.join(tmp, "synthetic.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, n


def latency_ms(samples=20):
    """Time from writing a line to klaxon's stdin to seeing its match on stdout."""
    p = subprocess.Popen([KLAXON, "--format", "jsonl", "--matches"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, bufsize=0)
    line = b'{"instance":"dapr-sentry-1","level":"warning","msg":"Dapr root certificate expiration warning: certificate has expired.","scope":"dapr.sentry","time":"2023-06-19T12:49:06Z","type":"log","ver":"1.10.4"}\n'
    got = []
    buf = b""
    for _ in range(samples + 1):  # the first line also waits for start-up: not counted
        t = time.perf_counter()
        p.stdin.write(line)
        while b'"type":"match"' not in buf:
            select.select([p.stdout], [], [], 5)
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
        got.append((time.perf_counter() - t) * 1000)
        buf = buf[buf.index(b'"type":"match"') + 1:] if b'"type":"match"' in buf else b""
        time.sleep(0.05)
    p.stdin.close()
    p.wait()
    got = got[1:]
    return statistics.median(got), max(got)


def summary_of(path):
    """klaxon's own count of lines, candidates and matches: the summary line of its JSON output."""
    last = None
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b'{"type":"summary"'):
                last = json.loads(line)
    return last


MIXES = [("quiet", "quiet", None), ("noisy (5% match)", "quiet", 20), ("sick cluster", "sick", None),
         ("incident archive", "archive", None), ("JSON-heavy", "json", None), ("text-heavy", "text", None)]


def mixes_table(pats_rg, out):
    """Every corpus kind side by side: klaxon 1 and 2 threads and rg, in rounds, one table."""
    rows = []
    for label, kind, every in MIXES:
        print(f"corpus: {label}, {args.mix_gb} GB", flush=True)
        mix, msize = corpus(f"{kind}-{every}.log", args.mix_gb, every, kind)
        rss = peak_rss_kib(f"{KLAXON} --threads 1 --format jsonl --matches {mix} > {out}")
        s = summary_of(out)
        cmds = [(f"klaxon --threads 1, {label}", f"{KLAXON} --threads 1 --format jsonl --matches {mix} > {out}"),
                (f"klaxon --threads 2, {label}", f"{KLAXON} --threads 2 --format jsonl --matches {mix} > {out}")]
        if shutil.which("rg"):
            cmds.append((f"rg -j1 -c -f, {label}", ["rg", "-j1", "-c", "-f", pats_rg, mix], (0, 1)))
        k1, k2, *r = side_by_side(msize, cmds)
        rows.append((label, s, k1, k2, r[0] if r else None, rss))
        os.remove(mix)
    print("\n| corpus | lines | candidates | matched | klaxon 1 thread GB/s | rg GB/s | klaxon / rg | 2 threads / 1 | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, s, k1, k2, rg, rss in rows:
        lines = s["lines"]
        print(f"| {label} | {lines:,} | {100 * s['candidate_lines'] / lines:.2f}% | {100 * s['matched_lines'] / lines:.2f}% "
              f"| {k1.gbps:.2f} | {rg.gbps if rg else float('nan'):.2f} | {faster(k1, rg) if rg else float('nan'):.2f} "
              f"| {faster(k2, k1):.2f} | {rss / 1024:.1f} MiB |", flush=True)
    print()
    return rows


try:
    pats_rg = os.path.join(tmp, "pats.rg")
    pats_ere = os.path.join(tmp, "pats.ere")
    with open(pats_rg, "w") as f:
        subprocess.run([KLAXON, "rules", "export", "--as", "rg"], stdout=f, check=True)
    with open(pats_ere, "w") as f:
        subprocess.run([KLAXON, "rules", "export", "--as", "ere"], stdout=f, check=True)
    out = os.path.join(tmp, "out.jsonl")
    mixes = mixes_table(pats_rg, out)
    if args.mixes_only:
        sys.exit(0)
    print(f"corpus: {args.gb} GB realistic mix (1 incident line in 10,000)", flush=True)
    path, size = corpus("mix.log", args.gb, 10_000)
    print("rule count: the shipped packs x10 (synthetic rules of the same shapes)", flush=True)
    pack, extra = synthetic_pack(10)
    have_rg = shutil.which("rg") is not None
    main = [("memchr floor (count lines)", [FLOOR, path]),
            ("klaxon --threads 1 --format jsonl --matches", f"{KLAXON} --threads 1 --format jsonl --matches {path} > {out}"),
            ("klaxon --threads 2", f"{KLAXON} --threads 2 --format jsonl --matches {path} > {out}"),
            (f"klaxon --threads 1 with {extra} extra rules",
             f"{KLAXON} --threads 1 --format jsonl --matches --rules {pack} {path} > {out}")]
    if have_rg:
        main.append(("rg -j1 -c -f (same regexes)", ["rg", "-j1", "-c", "-f", pats_rg, path], (0, 1)))
    floor, k1, k2, k10, *rest = side_by_side(size, main)
    rg = rest[0] if have_rg else None
    gr, = side_by_side(size, [("grep -c -E -f (same regexes)", ["grep", "-c", "-E", "-f", pats_ere, path], (0, 1))], runs=1)

    _, _, kn, _, rn, _ = mixes[1]  # the noisy set

    # Start-up (loading and compiling the rules) is paid once per run, whatever the input: the
    # cost per byte is what the rule count must not move.
    empty = os.path.join(tmp, "empty.log")
    open(empty, "w").close()
    start1 = median_seconds("start-up, shipped rules", f"{KLAXON} --threads 1 {empty} 2> /dev/null")
    start10 = median_seconds(f"start-up, with {extra} extra rules", f"{KLAXON} --threads 1 --rules {pack} {empty} 2> /dev/null")

    print("compressed replay", flush=True)
    subprocess.run(["gzip", "-k", "-1", path], check=True)
    gz = path + ".gz"
    dz, kz = side_by_side(size, [("gzip -dc > /dev/null (decompression alone)", f"gzip -dc {gz} > /dev/null"),
                                 ("klaxon on the .gz", f"{KLAXON} --format jsonl --matches {gz} > {out}")], runs=3)
    os.remove(gz)
    subprocess.run(["zstd", "-q", "-k", "-1", path], check=True)
    zst = path + ".zst"
    dzs, kzs = side_by_side(size, [("zstd -dc > /dev/null (decompression alone)", f"zstd -dc {zst} > /dev/null"),
                                   ("klaxon on the .zst", f"{KLAXON} --format jsonl --matches {zst} > {out}")], runs=3)
    os.remove(zst)

    rss1 = peak_rss_kib(f"{KLAXON} --format jsonl --matches {path} > {out}")
    print(f"  peak RSS, {args.gb} GB: {rss1 / 1024:.1f} MiB", flush=True)
    rss10 = None
    if args.big:
        # Tens of GB is what a week of a cluster's logs is: start-up no longer weighs there.
        os.remove(path)
        print("10 GB, the same mix", flush=True)
        big, bsize = corpus("big.log", 10, 10_000)
        b1, b2, b10 = side_by_side(bsize, [
            ("klaxon --threads 1, 10 GB", f"{KLAXON} --threads 1 --format jsonl --matches {big} > {out}"),
            ("klaxon --threads 2, 10 GB", f"{KLAXON} --threads 2 --format jsonl --matches {big} > {out}"),
            (f"klaxon --threads 1 with {extra} extra rules, 10 GB",
             f"{KLAXON} --threads 1 --format jsonl --matches --rules {pack} {big} > {out}")], runs=3)
        rss10 = peak_rss_kib(f"{KLAXON} --format jsonl --matches {big} > {out}")
        print(f"  peak RSS, 10 GB: {rss10 / 1024:.1f} MiB", flush=True)
    lat_med, lat_max = latency_ms()
    print(f"  stdin line to output: median {lat_med:.2f} ms, max {lat_max:.2f} ms", flush=True)

    print("\n| measure | value |\n|---|---|")
    print(f"| klaxon / memchr floor | {faster(k1, floor):.2f} |")
    if rg:
        print(f"| klaxon / rg -j1 -c -f (target >= 2) | {faster(k1, rg):.2f} |")
        print(f"| klaxon / rg, noisy set, 5% match (target >= 1) | {faster(kn, rn):.2f} |")
    print(f"| klaxon / grep -E -f | {faster(k1, gr):.2f} |")
    print(f"| klaxon --threads 2 / --threads 1 (target >= 1.8) | {faster(k2, k1):.2f} |")
    scan1, scan2 = size / k1.gbps / 1e9 - start1, size / k2.gbps / 1e9 - start1
    print(f"| the same, start-up apart ({start1:.2f} s) | {scan1 / scan2:.2f} |")
    print(f"| time with 10x rules / time with shipped rules (target <= 1.5) | {faster(k1, k10):.2f} |")
    per_byte1, per_byte10 = size / k1.gbps / 1e9 - start1, size / k10.gbps / 1e9 - start10
    print(f"| the same per byte, start-up apart ({start1:.2f} s / {start10:.2f} s) | {per_byte10 / per_byte1:.2f} |")
    print(f"| .gz replay / gzip -dc alone (target >= 1) | {faster(kz, dz):.2f} |")
    print(f"| .zst replay / zstd -dc alone (target >= 1) | {faster(kzs, dzs):.2f} |")
    print(f"| peak RSS, {args.gb} GB (target < 64 MiB) | {rss1 / 1024:.1f} MiB |")
    if rss10:
        print(f"| 10 GB: klaxon --threads 2 / --threads 1 (target >= 1.8) | {faster(b2, b1):.2f} |")
        print(f"| 10 GB: time with 10x rules / with shipped rules (target <= 1.5) | {faster(b1, b10):.2f} |")
        print(f"| peak RSS, 10 GB (target < 64 MiB) | {rss10 / 1024:.1f} MiB |")
    print(f"| line on stdin to its output (target <= 10 ms) | median {lat_med:.2f} ms, max {lat_max:.2f} ms |")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
