#!/usr/bin/env python3
"""Many IMAP logins through the balancer at once, and the check that Dovecot logged each one.

  run    (in the client namespace) starts --sessions mailclient.py processes, --parallel at a
         time, each from the next of --sources, and writes one JSON line per session to
         --results: its client address:port (what Dovecot must log as rip/rport), ok or the
         failure, and how long it took. Prints one summary line (sessions, failures, time,
         median/p99/max session time) and the first failures.
  check  reads those lines and the Dovecot logs (each from a byte offset taken before the run)
         and requires the login lines' (rip, rport) pairs to be exactly the successful
         sessions' client addresses, as a multiset: nothing missing, nothing extra.

The soak in handshake_loss_test.sh runs it under random and bursty packet loss; a session's
timeouts must allow for TCP's own recovery (SYN retries at 1, 3, 7, 15 s...). Standard library.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time

MAILCLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                          "peers", "mailclient.py")
OK_LINE = re.compile(r"^ok imap \S+ local=([0-9.]+):([0-9]+) ms=([0-9.]+)")
LOGIN_LINE = re.compile(r"imap-login: Info: Login: user=<[^>]*>, method=\S+, rip=([0-9.]+), "
                        r"rport=([0-9]+), lip=")


def run(args):
    sources = [s for s in args.sources.split(",") if s]
    pending = list(range(args.sessions))
    running = {}
    results = []
    started = time.monotonic()
    deadline = started + args.max_seconds

    def launch(i):
        cmd = [sys.executable, MAILCLIENT, "imap", args.host, str(args.port),
               "--timeout", str(args.timeout)]
        if sources:
            cmd += ["--source", sources[i % len(sources)]]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, text=True)
        running[p] = (i, time.monotonic())

    while pending or running:
        while pending and len(running) < args.parallel and time.monotonic() < deadline:
            launch(pending.pop(0))
        if not running:
            break
        done = [p for p in running if p.poll() is not None]
        now = time.monotonic()
        for p in list(running):
            if p not in done and (now - running[p][1] > args.session_limit or
                                  (now > deadline and not args.finish)):
                p.kill()
                p.wait()
                done.append(p)
        for p in done:
            i, t0 = running.pop(p)
            out = p.stdout.read().strip()
            p.stdout.close()
            res = {"i": i, "seconds": round(time.monotonic() - t0, 3), "ok": False,
                   "local": None, "error": None}
            m = OK_LINE.match(out)
            if p.returncode == 0 and m:
                res["ok"] = True
                res["local"] = f"{m.group(1)}:{m.group(2)}"
            else:
                res["error"] = (out.splitlines() or [f"exit {p.returncode}, no output"])[-1]
                if p.returncode < 0:
                    res["error"] = f"killed after {res['seconds']} s: {res['error']}"
            results.append(res)
        if not done:
            time.sleep(0.02)
    elapsed = time.monotonic() - started
    for i in pending:
        results.append({"i": i, "seconds": 0, "ok": False, "local": None,
                        "error": f"not started within {args.max_seconds} s"})
    results.sort(key=lambda r: r["i"])
    with open(args.results, "w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    ok = [r for r in results if r["ok"]]
    secs = sorted(r["seconds"] for r in ok) or [0.0]
    print(f"soak {args.label}: {len(results)} sessions ({args.parallel} at a time): {len(ok)} ok, "
          f"{len(results) - len(ok)} failed in {elapsed:.1f} s; session s: median "
          f"{secs[len(secs) // 2]:.2f}, p99 {secs[min(len(secs) - 1, int(len(secs) * 0.99))]:.2f}, "
          f"max {secs[-1]:.2f}; over 1 s: {sum(1 for s in secs if s > 1.0)}", flush=True)
    for r in [r for r in results if not r["ok"]][:8]:
        print(f"  FAIL session {r['i']} after {r['seconds']} s: {r['error']}", flush=True)
    slowest = sorted(ok, key=lambda r: -r["seconds"])[:3]
    if slowest:
        print("  slowest: " + ", ".join(f"{r['local']} {r['seconds']:.1f} s" for r in slowest), flush=True)
    return 0 if len(ok) == len(results) == args.sessions else 1


def check(args):
    sessions = collections.Counter()
    with open(args.results, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["ok"]:
                sessions[r["local"]] += 1
    logged = collections.Counter()
    deadline = time.monotonic() + args.wait
    while True:
        logged.clear()
        for spec in args.log:
            path, _, offset = spec.rpartition(":")
            with open(path, "rb") as f:
                f.seek(int(offset))
                for line in f.read().decode("utf-8", "replace").splitlines():
                    m = LOGIN_LINE.search(line)
                    if m:
                        logged[f"{m.group(1)}:{m.group(2)}"] += 1
        if logged == sessions or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    missing = sessions - logged
    extra = logged - sessions
    print(f"check: {sum(sessions.values())} successful sessions, {sum(logged.values())} logins "
          f"logged; missing {sum(missing.values())}, unexpected {sum(extra.values())}")
    for k in list(missing)[:5]:
        print(f"  not logged: rip/rport {k}")
    for k in list(extra)[:5]:
        print(f"  logged but no such session: rip/rport {k}")
    return 0 if not missing and not extra and sessions else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--host", required=True)
    r.add_argument("--port", type=int, default=143)
    r.add_argument("--sessions", type=int, required=True)
    r.add_argument("--parallel", type=int, default=16)
    r.add_argument("--sources", default="", help="comma-separated client addresses, taken in turn")
    r.add_argument("--timeout", type=float, default=40.0, help="mailclient's per-read timeout")
    r.add_argument("--session-limit", type=float, default=120.0, help="kill a session after this")
    r.add_argument("--max-seconds", type=float, default=900.0, help="start no session after this")
    r.add_argument("--finish", action="store_true",
                   help="sessions running at --max-seconds go on (to --session-limit), not killed")
    r.add_argument("--results", required=True)
    r.add_argument("--label", default="")
    c = sub.add_parser("check")
    c.add_argument("--results", required=True)
    c.add_argument("--log", action="append", required=True, help="PATH:OFFSET of a Dovecot log")
    c.add_argument("--wait", type=float, default=5.0)
    args = p.parse_args()
    return run(args) if args.cmd == "run" else check(args)


if __name__ == "__main__":
    sys.exit(main())
