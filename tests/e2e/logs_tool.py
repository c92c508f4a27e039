#!/usr/bin/env python3
"""The peers of tests/e2e/logs_test.sh: a syslog receiver, a mail-like server and the client
sessions whose log lines the test reads, then the checks of those lines.

  sink    receives datagrams on a UDP address and a UNIX datagram socket; writes one line per
          datagram to --out: "udp" or "unix", a tab, the datagram with \\n and \\\\ escaped.
  serve   listens on ADDR:PORT; every connection gets a greeting ("* OK logs ready\\r\\n",
          17 bytes) and its bytes echoed until the client closes. A PROXY v2 header in front
          is taken off first.
  client  one session from CLIENT_ADDR:--port to --connect, of a known --shape:
            normal   reads the greeting, sends --send bytes, reads them back, closes (FIN)
            reset    reads the greeting, sends --send bytes, reads them back, then RST
            silent   connects and closes without sending anything
            refused  expects the connection to be refused (RST), or accepted and closed
                     with no byte (HAProxy, which terminates TCP)
  load    --conns sessions of the `normal` shape from ephemeral ports, --parallel at a time;
          prints how many and how fast.
  count   how many tcplog lines of --target name frontend --ft.
  line    the tcplog line of the session from --port in --out's --target datagrams; checks
          FIELD=VALUE pairs (ci cp ft b s tw tc tt B ts ac fc bc sc rc sq bq; VALUE '*' any,
          '>=N' at least) and prints it. With --absent: no such line.
  grep    a datagram of --target matching --regex, printed (status 1 if none).

Standard library only.
"""

import argparse
import os
import re
import select
import socket
import struct
import sys
import threading
import time

GREETING = b"* OK logs ready\r\n"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"

TCPLOG = re.compile(
    r"(?P<ci>[0-9a-fA-F.:]+):(?P<cp>\d+) \[(?P<t>[^\]]+)\] (?P<ft>\S+) (?P<b>[^/ ]+)/(?P<s>\S+) "
    r"(?P<tw>-?\d+)/(?P<tc>-?\d+)/(?P<tt>\+?\d+) (?P<B>\+?\d+) (?P<ts>\S\S) "
    r"(?P<ac>\d+)/(?P<fc>\d+)/(?P<bc>\d+)/(?P<sc>\d+)/(?P<rc>\+?\d+) (?P<sq>\d+)/(?P<bq>\d+)$")
# HAProxy's default framing (`local`): <PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE
HEADER = re.compile(r"^<(?P<pri>\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d (?P<tag>[^\[ ]+)\[\d+\]: ")


def escape(data):
    return data.decode("utf-8", "replace").replace("\\", "\\\\").replace("\n", "\\n")


def sink(args):
    host, port = args.udp.rsplit(":", 1)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((host, int(port)))
    try:
        os.unlink(args.unix)
    except FileNotFoundError:
        pass
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unix.bind(args.unix)
    os.chmod(args.unix, 0o666)
    with open(args.ready, "w") as f:
        f.write("ready\n")
    with open(args.out, "a", buffering=1) as out:
        while True:
            ready, _, _ = select.select([udp, unix], [], [])
            for s in ready:
                data = s.recv(65536)
                out.write(("udp" if s is udp else "unix") + "\t" + escape(data) + "\n")


def handle(conn):
    try:
        conn.settimeout(30)
        head = b""
        while len(head) < 16:
            chunk = conn.recv(16 - len(head))
            if not chunk:
                return
            head += chunk
        rest = b""
        if head.startswith(V2_SIG[:12]):
            need = struct.unpack("!H", head[14:16])[0]
            while need > 0:
                chunk = conn.recv(need)
                if not chunk:
                    return
                need -= len(chunk)
        else:
            rest = head
        conn.sendall(GREETING)
        if rest:
            conn.sendall(rest)
        while True:
            data = conn.recv(65536)
            if not data:
                break
            conn.sendall(data)
    except OSError:
        pass
    finally:
        conn.close()


def serve(args):
    host, port = args.listen.rsplit(":", 1)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(64)
    with open(args.ready, "w") as f:
        f.write("ready\n")
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def read_exactly(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise SystemExit(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def client(args):
    host, port = args.connect.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args.source, args.port))
    s.settimeout(args.timeout)
    try:
        s.connect((host, int(port)))
    except ConnectionRefusedError:
        if args.shape == "refused":
            print(f"{args.source}:{args.port} -> {args.connect}: refused, as expected")
            return 0
        raise SystemExit(f"{args.connect}: connection refused")
    if args.shape == "refused":
        # A terminating proxy (HAProxy) accepts first, then closes when no server takes it.
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            data = b""
        if data:
            raise SystemExit(f"{args.connect}: connected and got {len(data)} bytes, expected a refusal")
        print(f"{args.source}:{args.port} -> {args.connect}: accepted, then closed with no byte "
              "(a terminating proxy's refusal)")
        return 0
    if args.shape == "silent":
        s.close()
        print(f"{args.source}:{args.port}: connected and closed, nothing sent")
        return 0
    greeting = read_exactly(s, len(GREETING))
    assert greeting == GREETING, greeting
    payload = bytes((i * 7) & 0xFF for i in range(args.send))
    s.sendall(payload)
    back = read_exactly(s, len(payload))
    assert back == payload, "echo differs"
    if args.shape == "reset":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        print(f"{args.source}:{args.port}: {args.send} bytes echoed, then RST")
        return 0
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    s.close()
    print(f"{args.source}:{args.port}: {args.send} bytes echoed, closed with FIN")
    return 0


def load(args):
    host, port = args.connect.rsplit(":", 1)
    payload = bytes(range(args.send))
    done = []
    failed = []
    lock = threading.Lock()
    todo = list(range(args.conns))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                todo.pop()
            try:
                s = socket.create_connection((host, int(port)), timeout=args.timeout)
                read_exactly(s, len(GREETING))
                s.sendall(payload)
                read_exactly(s, len(payload))
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
                s.close()
                with lock:
                    done.append(1)
            except (OSError, SystemExit) as e:
                with lock:
                    failed.append(str(e))

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(args.parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    print(f"{len(done)} sessions in {took:.1f} s ({len(done) / took:.0f}/s), {len(failed)} failed")
    return 0 if not failed else 1


def count(args):
    n = 0
    for d in datagrams(args.out, args.target):
        h = HEADER.match(d)
        m = TCPLOG.match((d[h.end():] if h else d).rstrip("\n"))
        if m and m["ft"] == args.ft:
            n += 1
    print(n)
    return 0


def datagrams(path, target):
    out = []
    try:
        with open(path) as f:
            for line in f:
                kind, _, data = line.rstrip("\n").partition("\t")
                if kind == target:
                    out.append(data.replace("\\n", "\n").replace("\\\\", "\\"))
    except FileNotFoundError:
        pass
    return out


def check_value(want, got):
    if want == "*":
        return True
    if want.startswith(">="):
        return int(got.lstrip("+")) >= int(want[2:])
    return want == got


def line(args):
    for d in datagrams(args.out, args.target):
        h = HEADER.match(d)
        body = d[h.end():] if h else d
        m = TCPLOG.match(body.rstrip("\n"))
        if not m or m["cp"] != str(args.port):
            continue
        if args.absent:
            print(f"unexpected line for port {args.port}: {d.rstrip()}")
            return 1
        bad = []
        for pair in args.fields:
            k, _, want = pair.partition("=")
            if k == "pri":
                got = h["pri"] if h else ""
            elif k == "tag":
                got = h["tag"] if h else ""
            else:
                got = m[k]
            if not check_value(want, got):
                bad.append(f"{k}={got} (expected {want})")
        print(d.rstrip())
        if bad:
            print("  mismatch: " + ", ".join(bad))
            return 1
        return 0
    if args.absent:
        print(f"no line for port {args.port}, as expected")
        return 0
    print(f"no tcplog line for client port {args.port} among {args.target} datagrams")
    return 1


def grep(args):
    rx = re.compile(args.regex)
    for d in datagrams(args.out, args.target):
        if rx.search(d):
            print(d.rstrip())
            return 0
    print(f"no {args.target} datagram matches /{args.regex}/")
    return 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("sink")
    a.add_argument("--udp", required=True)
    a.add_argument("--unix", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--ready", required=True)
    a = sub.add_parser("serve")
    a.add_argument("--listen", required=True)
    a.add_argument("--ready", required=True)
    a = sub.add_parser("client")
    a.add_argument("--connect", required=True)
    a.add_argument("--source", required=True)
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--shape", choices=["normal", "reset", "silent", "refused"], required=True)
    a.add_argument("--send", type=int, default=100)
    a.add_argument("--timeout", type=float, default=10)
    a = sub.add_parser("load")
    a.add_argument("--connect", required=True)
    a.add_argument("--conns", type=int, required=True)
    a.add_argument("--parallel", type=int, default=20)
    a.add_argument("--send", type=int, default=10)
    a.add_argument("--timeout", type=float, default=10)
    for name in ("line", "grep", "count"):
        a = sub.add_parser(name)
        a.add_argument("--out", required=True)
        a.add_argument("--target", choices=["udp", "unix"], default="udp")
    sub.choices["line"].add_argument("--port", type=int, required=True)
    sub.choices["line"].add_argument("--absent", action="store_true")
    sub.choices["line"].add_argument("fields", nargs="*")
    sub.choices["grep"].add_argument("--regex", required=True)
    sub.choices["count"].add_argument("--ft", required=True)
    args = p.parse_args()
    return {"sink": sink, "serve": serve, "client": client, "load": load, "count": count,
            "line": line, "grep": grep}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main() or 0)
