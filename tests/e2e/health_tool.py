#!/usr/bin/env python3
"""Client loops and time stamps for the health-check tests (health.sh sources its callers).

  loop   (in the client namespace) starts one mail session per --target every --interval
         seconds, each in its own thread, so a session stuck on a frozen server does not hold
         the others back, until the --stop file appears. One JSON line per finished session
         goes to --results: target, start and end (Unix time), ok, the instance that greeted
         (dc1, pf2...: the greetings name it), whether a greeting came at all, the error.
         A session that failed before any greeting is a failed connection (refused, reset or
         timed out before the server spoke); one that failed after it was cut by its server.
  check  reads those lines for one target, sessions started within [--from, --to), and checks
         what the caller asks: all ok, no failed connection, only, some or never one instance,
         the instances alternating. Prints one summary line and the first offending sessions.
  stamp  follows a log file (Postern's stderr, HAProxy's log) and writes each line matching
         --pattern to --out with the Unix time it was seen, polling every 20 ms: the lines
         themselves carry no time, and the tests measure detection from the fault.

Sessions reuse mailclient.py's dialogues (scripts/peers). Standard library only.
"""

import argparse
import collections
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                                "peers"))
import mailclient  # noqa: E402  (scripts/peers/mailclient.py)

INSTANCE = re.compile(r"(?:dovecot|postfix)-((?:dc|pf)[0-9]+)")


class RecordingSession(mailclient.Session):
    """mailclient's session that remembers the first line the server sent (the greeting)."""

    def __init__(self, sock, timeout):
        super().__init__(sock, timeout)
        self.first_line = None

    def read_line(self):
        line = super().read_line()
        if self.first_line is None:
            self.first_line = line
        return line


def parse_target(spec):
    """NAME=PROTO:HOST:PORT[/proxy]: /proxy sends a PROXY v2 header first (accept-proxy)."""
    name, sep, rest = spec.partition("=")
    proxy = rest.endswith("/proxy")
    rest = rest.removesuffix("/proxy")
    parts = rest.split(":")
    if not sep or len(parts) != 3 or not parts[2].isdigit():
        raise SystemExit(f"health_tool: --target must be NAME=PROTO:HOST:PORT[/proxy], got {spec!r}")
    proto = mailclient.ALIASES.get(parts[0], parts[0])
    if proto not in mailclient.PROTOCOLS:
        raise SystemExit(f"health_tool: unknown protocol {parts[0]!r}")
    return {"name": name, "proto": proto, "host": parts[1], "port": int(parts[2]), "proxy": proxy}


def one_session(target, timeout, i):
    """One dialogue; returns its record. Mirrors mailclient.run_session without printing."""
    args = argparse.Namespace(proto=target["proto"], user="alice", password="secret",
                              sender="bob@example.net", rcpt="alice@example.org",
                              greeting_only=False, fetch=None, fetched=None)
    rec = {"target": target["name"], "i": i, "start": time.time(), "end": None, "ok": False,
           "instance": None, "greeted": False, "local": None, "error": None}
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s = None
    try:
        sock.settimeout(timeout)
        try:
            sock.connect((target["host"], target["port"]))
        except OSError as e:
            raise mailclient.Failure(f"connect: {e.strerror or e}") from None
        lhost, lport = sock.getsockname()[:2]
        rec["local"] = f"{lhost}:{lport}"
        s = RecordingSession(sock, timeout)
        if target["proxy"]:
            s.send_raw(mailclient.proxy_header("v2", (lhost, lport), (target["host"], target["port"])),
                       "PROXY v2 header")
        mailclient.DIALOGUES[target["proto"]](s, args)
        s.expect_eof()
        sock.shutdown(socket.SHUT_RDWR)
        rec["ok"] = True
    except (mailclient.Failure, OSError) as e:
        rec["error"] = str(e)
    finally:
        sock.close()
    if s is not None and s.first_line is not None:
        rec["greeted"] = True
        m = INSTANCE.search(s.first_line)
        rec["instance"] = m.group(1) if m else None
    rec["end"] = time.time()
    return rec


def loop(args):
    targets = [parse_target(t) for t in args.target]
    lock = threading.Lock()
    out = open(args.results, "a", encoding="utf-8")
    counts = collections.Counter()
    threads = []
    started = time.monotonic()

    def run(target, i):
        rec = one_session(target, args.timeout, i)
        with lock:
            out.write(json.dumps(rec, sort_keys=True) + "\n")
            out.flush()
            counts["ok" if rec["ok"] else "failed"] += 1

    i = 0
    next_tick = time.monotonic()
    while not os.path.exists(args.stop) and time.monotonic() - started < args.max_seconds:
        threads = [t for t in threads if t.is_alive()]
        for target in targets:
            if len(threads) >= args.max_inflight:
                with lock:
                    counts["skipped"] += 1
                continue
            t = threading.Thread(target=run, args=(target, i), daemon=True)
            t.start()
            threads.append(t)
        i += 1
        next_tick += args.interval
        time.sleep(max(0.0, next_tick - time.monotonic()))
    # Sessions in flight finish on their own timeouts (each read is bounded).
    for t in threads:
        t.join(args.timeout * 4 + 5)
    with lock:
        out.close()
        print(f"loop: {i} ticks x {len(targets)} target(s): {counts['ok']} ok, {counts['failed']} failed, "
              f"{counts['skipped']} not started (over {args.max_inflight} in flight), "
              f"{sum(t.is_alive() for t in threads)} still running", flush=True)
    return 0


def check(args):
    recs = []
    with open(args.results, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["target"] == args.target and args.from_ <= r["start"] < args.to:
                recs.append(r)
    recs.sort(key=lambda r: r["start"])
    inst = collections.Counter(r["instance"] or "-" for r in recs)
    failed = [r for r in recs if not r["ok"]]
    conn_failed = [r for r in failed if not r["greeted"]]
    problems = []
    if len(recs) < args.min:
        problems.append(f"only {len(recs)} session(s), expected at least {args.min}")
    if args.ok and failed:
        problems.append(f"{len(failed)} session(s) failed")
    if args.no_failed_connection and conn_failed:
        problems.append(f"{len(conn_failed)} connection(s) failed before any greeting")
    if args.only and any(r["instance"] != args.only for r in recs):
        problems.append(f"not every session was served by {args.only}")
    if args.some and not any(r["instance"] == args.some for r in recs):
        problems.append(f"no session was served by {args.some}")
    if args.never and any(r["instance"] == args.never for r in recs):
        problems.append(f"{inst[args.never]} session(s) were served by {args.never}")
    if args.alternate:
        seq = [r["instance"] for r in recs]
        same = sum(1 for a, b in zip(seq, seq[1:]) if a == b)
        if same:
            problems.append(f"{same} time(s) the same instance served two sessions in a row: "
                            + " ".join(x or "-" for x in seq[:40]))
    span = f"{recs[-1]['start'] - recs[0]['start']:.1f} s" if recs else "0 s"
    dist = ", ".join(f"{k} {v}" for k, v in sorted(inst.items()))
    print(f"{args.target}: {len(recs)} sessions started over {span}: {len(recs) - len(failed)} ok, "
          f"{len(failed)} failed ({len(conn_failed)} before any greeting); served by: {dist or '-'}")
    slow = [r for r in recs if r["ok"] and r["end"] - r["start"] > 1.0]
    if slow:
        print(f"  {len(slow)} took over 1 s (longest {max(r['end'] - r['start'] for r in slow):.1f} s, "
              f"by {collections.Counter(r['instance'] for r in slow).most_common(1)[0][0]})")
    for r in failed[:6]:
        print(f"  failed at +{r['start'] - args.from_:.2f} s ({r['local']}, "
              f"{'greeted by ' + str(r['instance']) if r['greeted'] else 'no greeting'}): {r['error']}")
    for p in problems:
        print(f"  problem: {p}")
    return 1 if problems else 0


def stamp(args):
    pattern = re.compile(args.pattern)
    pos, partial = args.offset, b""
    with open(args.out, "a", encoding="utf-8") as out:
        while True:
            try:
                with open(args.log, "rb") as f:
                    f.seek(pos)
                    data = f.read()
            except FileNotFoundError:
                data = b""
            now = time.time()
            if data:
                pos += len(data)
                lines = (partial + data).split(b"\n")
                partial = lines.pop()
                for raw in lines:
                    line = raw.decode("utf-8", "replace")
                    if pattern.search(line):
                        out.write(f"{now:.3f} {line}\n")
                out.flush()
            time.sleep(0.02)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("loop")
    lp.add_argument("--target", action="append", required=True, help="NAME=PROTO:HOST:PORT[/proxy]")
    lp.add_argument("--interval", type=float, default=0.2)
    lp.add_argument("--results", required=True)
    lp.add_argument("--stop", required=True)
    lp.add_argument("--timeout", type=float, default=30.0, help="seconds per connect or read")
    lp.add_argument("--max-inflight", type=int, default=200)
    lp.add_argument("--max-seconds", type=float, default=3600.0)
    ck = sub.add_parser("check")
    ck.add_argument("--results", required=True)
    ck.add_argument("--target", required=True)
    ck.add_argument("--from", dest="from_", type=float, default=0.0)
    ck.add_argument("--to", type=float, default=float("inf"))
    ck.add_argument("--min", type=int, default=1)
    ck.add_argument("--ok", action="store_true", help="every session succeeded")
    ck.add_argument("--no-failed-connection", action="store_true",
                    help="no session failed before the server's greeting")
    ck.add_argument("--only", help="every session was served by this instance")
    ck.add_argument("--never", help="no session was served by this instance")
    ck.add_argument("--some", help="at least one session was served by this instance")
    ck.add_argument("--alternate", action="store_true", help="consecutive sessions alternate")
    st = sub.add_parser("stamp")
    st.add_argument("--log", required=True)
    st.add_argument("--out", required=True)
    st.add_argument("--pattern", required=True)
    st.add_argument("--offset", type=int, default=0, help="start reading at this byte")
    args = p.parse_args()
    return {"loop": loop, "check": check, "stamp": stamp}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
