#!/usr/bin/env python3
"""Golden incident tests: replay a case's log through the real klaxon and diff its incident events.

A case is a directory tests/golden/<case>/ holding
  input.log       the log replayed (any format klaxon reads; .gz is fine as input.log.gz)
  expected.jsonl  the incident events it must give, normalised (one JSON object a line)
  args            optional: klaxon flags, one a line (e.g. --allowed-lateness / 0s)
  pack.yaml       optional: a rule pack added to the built-in ones (--rules)
  restart.log     optional: a second run with the same --state-dir after the first; its events
                  follow a {"run": 2} line
Usage:
  run.py KLAXON CASE_DIR            exit 1 with a diff when the events differ
  run.py KLAXON CASE_DIR --update   write expected.jsonl from this run (review the diff in git!)
The test (ctest -R golden) never passes --update: it never rewrites what it checks.
"""
import difflib
import json
import os
import subprocess
import sys
import tempfile

# What an operator relies on; wall-clock-dependent or cosmetic fields (titles, samples) are left out.
KEPT = ("event", "time", "rule", "class", "severity", "labels", "first_seen", "count", "expires_at",
        "caused_by", "open", "summary")


def run_klaxon(klaxon, case, log, state_dir, ids):
    args = [klaxon, "--format", "jsonl", "--threads", "1", "--state-dir", state_dir]
    if os.path.exists(os.path.join(case, "pack.yaml")):
        args += ["--rules", os.path.join(case, "pack.yaml")]
    extra = os.path.join(case, "args")
    if os.path.exists(extra):
        with open(extra) as f:
            args += [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]
    args.append(log)
    r = subprocess.run(args, capture_output=True, text=True, timeout=120, env=dict(os.environ, NO_COLOR="1"))
    if r.returncode not in (0, 3):
        sys.exit(f"klaxon exited {r.returncode}: {' '.join(args)}\n{r.stderr}")
    out = []
    for line in r.stdout.splitlines():
        o = json.loads(line)
        # Routine updates (a count every minute of event time) would bury what matters.
        if o.get("type") != "incident" or o.get("event") == "updated":
            continue
        e = {k: o[k] for k in KEPT if k in o}
        if "summary" in e:  # "stated by /path/to/input.log:3": the case's own name for it
            e["summary"] = e["summary"].replace(log, os.path.basename(log))
        # Ids are hashes: name them by order of appearance (across both runs of a restart, so the
        # same incident keeps its name), so a case reads (and diffs) plainly.
        for k in ("id", "caused_by"):
            if o.get(k):
                ids.setdefault(o[k], f"#{len(ids) + 1}")
        e["incident"] = ids[o["id"]]
        if e.get("caused_by"):
            e["caused_by"] = ids[o["caused_by"]]
        out.append(json.dumps(e, sort_keys=True, ensure_ascii=False))
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    klaxon, case = sys.argv[1], sys.argv[2].rstrip("/")
    update = "--update" in sys.argv[3:]
    inputs = [n for n in ("input.log", "input.log.gz") if os.path.exists(os.path.join(case, n))]
    if not inputs:
        sys.exit(f"{case}: no input.log")
    with tempfile.TemporaryDirectory(prefix="klaxon-golden-") as state:
        ids = {}
        got = run_klaxon(klaxon, case, os.path.join(case, inputs[0]), state, ids)
        restart = os.path.join(case, "restart.log")
        if os.path.exists(restart):
            got.append(json.dumps({"run": 2}))
            got += run_klaxon(klaxon, case, restart, state, ids)
    expected_path = os.path.join(case, "expected.jsonl")
    if update:
        with open(expected_path, "w") as f:
            f.write("".join(line + "\n" for line in got))
        print(f"{expected_path}: {len(got)} events written")
        return
    with open(expected_path) as f:
        want = [line.rstrip("\n") for line in f if line.strip()]
    if got != want:
        diff = difflib.unified_diff(want, got, "expected.jsonl", "this klaxon", lineterm="")
        sys.exit(f"{case}: the incident events differ (- expected, + got):\n" + "\n".join(diff) +
                 f"\nIf the change is intended: tests/golden/run.py {klaxon} {case} --update, and review the diff.")
    print(f"{case}: {len(got)} events as expected")


if __name__ == "__main__":
    main()
