#!/usr/bin/env python3
"""A recording TCP server and its load client, for the end-to-end tests of Postern's splice.

Postern (or HAProxy, the yardstick) sits between the two; this tool checks what crossed it.

  serve   listens on one or more ADDR:PORT (in the server namespace). Every connection may start
          with a PROXY v2 header, which is decoded and recorded; the bytes after it are the
          client's. They start with a control line the client wrote,
            RECORDER id=<id> mode=<echo|source|sink> reply=<bytes> seed=<n>\\n
          and the server echoes them (echo), sends <reply> bytes of the deterministic stream
          <seed> (source) or nothing (sink). One JSON line per connection goes to --records:
          the PROXY header as received, the id, sha256 and length of the client's bytes and of
          what the server sent back.
  client  opens --conns connections to HOST:PORT, --parallel at a time, sends the control line
          and --send bytes of a deterministic pseudo-random stream while reading the reply, and
          writes one JSON line per connection (its own address:port as its socket saw it, sha256
          and length of what it sent and received, whether the reply was the expected one).
  check   joins the client's and the server's lines by id: the server received exactly the
          client's bytes, the client exactly the server's, and each connection began with the
          PROXY v2 header that names the client's own address:port and the address it
          connected to (--expect-proxy v2), or with no header at all (--expect-proxy none).
  refused connects once and expects "connection refused" (an RST), timing it.

Standard library only (asyncio); the same interpreter runs both sides, so random.Random(seed)
produces the same stream on each.
"""

import argparse
import asyncio
import hashlib
import ipaddress
import json
import os
import random
import signal
import socket
import struct
import sys
import time

# PROXY protocol v2 (haproxy doc/proxy-protocol.txt section 2.2): 12-byte signature, then
# version/command, family/transport, length of the address block (network order).
PROXY_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
CHUNK = 65536
MAX_PROXY_BLOCK = 2048


def stream(seed, total):
    """The deterministic byte stream both sides derive from one seed, in CHUNK-sized pieces."""
    rng = random.Random(seed)
    left = total
    while left > 0:
        n = min(CHUNK, left)
        yield rng.randbytes(n)
        left -= n


def stream_sha256(seed, total):
    h = hashlib.sha256()
    for chunk in stream(seed, total):
        h.update(chunk)
    return h.hexdigest()


def split_addr(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise SystemExit(f"recorder: expected ADDR:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def fmt_addr(sockaddr):
    return f"{sockaddr[0]}:{sockaddr[1]}" if sockaddr else "?"


def proxy_v2_header(src, dst):
    """The exact header a balancer sends for a TCP4 client: PROXY command, no TLVs."""
    body = (ipaddress.IPv4Address(src[0]).packed + ipaddress.IPv4Address(dst[0]).packed +
            struct.pack("!HH", src[1], dst[1]))
    return PROXY_V2_SIG + struct.pack("!BBH", 0x21, 0x11, len(body)) + body


def decode_proxy_v2(head, block):
    """head: the 16 fixed bytes; block: the address block and TLVs. Returns a dict."""
    ver_cmd, fam, length = struct.unpack("!BBH", head[12:16])
    out = {"ver_cmd": f"0x{ver_cmd:02x}", "fam": f"0x{fam:02x}", "len": length,
           "raw": (head + block).hex()}
    if fam == 0x11 and length >= 12:
        sip, dip = socket.inet_ntoa(block[0:4]), socket.inet_ntoa(block[4:8])
        sport, dport = struct.unpack("!HH", block[8:12])
        out["src"] = f"{sip}:{sport}"
        out["dst"] = f"{dip}:{dport}"
    elif fam == 0x21 and length >= 36:
        sip = str(ipaddress.IPv6Address(block[0:16]))
        dip = str(ipaddress.IPv6Address(block[16:32]))
        sport, dport = struct.unpack("!HH", block[32:36])
        out["src"] = f"[{sip}]:{sport}"
        out["dst"] = f"[{dip}]:{dport}"
    return out


# ---- serve ------------------------------------------------------------------------------------

class Recorder:
    def __init__(self, records_path, raw_dir):
        self.records = open(records_path, "a", buffering=1, encoding="utf-8")
        self.raw_dir = raw_dir
        self.seq = 0

    def write(self, rec):
        self.records.write(json.dumps(rec, sort_keys=True) + "\n")
        self.records.flush()

    async def handle(self, reader, writer):
        self.seq += 1
        seq = self.seq
        rec = {"seq": seq, "server": fmt_addr(writer.get_extra_info("sockname")),
               "peer": fmt_addr(writer.get_extra_info("peername")), "proxy": None,
               "id": None, "mode": None, "recv_bytes": 0, "sent_bytes": 0,
               "complete": False, "error": None, "t_start": time.time()}
        raw = open(os.path.join(self.raw_dir, f"conn-{seq:06d}.bin"), "wb") if self.raw_dir else None
        recv_hash, sent_hash = hashlib.sha256(), hashlib.sha256()

        def took(data):
            rec["recv_bytes"] += len(data)
            recv_hash.update(data)
            if raw:
                raw.write(data)

        async def send(data):
            writer.write(data)
            rec["sent_bytes"] += len(data)
            sent_hash.update(data)
            await writer.drain()

        try:
            # The PROXY header, if any: the 16 fixed bytes, then the announced block.
            first = b""
            accepted = time.monotonic()
            while len(first) < 16:
                chunk = await reader.read(16 - len(first))
                if not chunk:
                    break
                if not first:
                    # From accept() (the handshake done) to the first byte: how long a lost
                    # PROXY header kept the stream waiting.
                    rec["first_byte_ms"] = round((time.monotonic() - accepted) * 1000, 2)
                first += chunk
            if first.startswith(PROXY_V2_SIG) and len(first) == 16:
                length = struct.unpack("!H", first[14:16])[0]
                if length > MAX_PROXY_BLOCK:
                    raise ValueError(f"PROXY v2 block of {length} bytes")
                block = await reader.readexactly(length)
                rec["proxy"] = decode_proxy_v2(first, block)
                if raw:
                    raw.write(first + block)
                first = b""
            elif first.startswith(b"PROXY "):
                rec["proxy"] = {"v1": True, "raw": first.hex()}
            # The control line starts the client's bytes; whatever arrived with it is data too.
            pending = first
            while b"\n" not in pending and len(pending) < 512:
                chunk = await reader.read(512)
                if not chunk:
                    break
                pending += chunk
            took(pending)
            mode, reply, seed = "sink", 0, 0
            text = pending.split(b"\n", 1)[0].decode("ascii", "replace").strip()
            if text.startswith("RECORDER "):
                fields = dict(f.split("=", 1) for f in text.split()[1:] if "=" in f)
                rec["id"] = fields.get("id")
                mode = fields.get("mode", "sink")
                reply = int(fields.get("reply", "0"))
                seed = int(fields.get("seed", "0"))
            rec["mode"] = mode
            if mode == "echo":
                await send(pending)
                while True:
                    chunk = await reader.read(CHUNK)
                    if not chunk:
                        break
                    took(chunk)
                    await send(chunk)
            else:
                async def sink():
                    while True:
                        chunk = await reader.read(CHUNK)
                        if not chunk:
                            return
                        took(chunk)

                async def source():
                    if mode == "source":
                        for chunk in stream(seed, reply):
                            await send(chunk)

                await asyncio.gather(sink(), source())
            if writer.can_write_eof():
                writer.write_eof()
            rec["complete"] = True
        except asyncio.IncompleteReadError as e:
            rec["error"] = f"closed inside the PROXY v2 header ({len(e.partial)} bytes of its block)"
        except (ConnectionError, OSError, ValueError, asyncio.LimitOverrunError) as e:
            rec["error"] = f"{type(e).__name__}: {e}"
        finally:
            rec["recv_sha256"] = recv_hash.hexdigest()
            rec["sent_sha256"] = sent_hash.hexdigest()
            rec["t_end"] = time.time()
            if raw:
                raw.close()
            self.write(rec)
            try:
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), 5)
            except (ConnectionError, OSError, asyncio.TimeoutError):
                pass


async def serve(args):
    rec = Recorder(args.records, args.raw_dir)
    servers = []
    for spec in args.listen:
        host, port = split_addr(spec)
        servers.append(await asyncio.start_server(rec.handle, host, port, backlog=4096,
                                                  reuse_address=True, limit=1 << 20))
    if args.ready:
        with open(args.ready, "w", encoding="utf-8") as f:
            f.write(" ".join(args.listen) + "\n")
    print(f"recorder: listening on {' '.join(args.listen)}, records in {args.records}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()
    return 0


# ---- client -----------------------------------------------------------------------------------

async def one_connection(args, index, source, results):
    conn_id = f"{args.run}-{index}"
    send_seed = random.Random(f"{conn_id}/send").getrandbits(63)
    reply_seed = random.Random(f"{conn_id}/reply").getrandbits(63)
    res = {"id": conn_id, "local": None, "remote": f"{args.host}:{args.port}", "mode": args.mode,
           "sent_bytes": 0, "recv_bytes": 0, "ok": False, "error": None}
    sent_hash, recv_hash = hashlib.sha256(), hashlib.sha256()
    started = time.monotonic()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(args.host, args.port,
                                    local_addr=(source, 0) if source else None,
                                    limit=1 << 20),
            args.connect_timeout)
        res["connect_ms"] = round((time.monotonic() - started) * 1000, 2)
        res["local"] = fmt_addr(writer.get_extra_info("sockname"))
        control = (f"RECORDER id={conn_id} mode={args.mode} reply={args.reply} "
                   f"seed={reply_seed}\n").encode()

        async def send_all():
            writer.write(control)
            sent_hash.update(control)
            res["sent_bytes"] += len(control)
            for chunk in stream(send_seed, args.send):
                writer.write(chunk)
                sent_hash.update(chunk)
                res["sent_bytes"] += len(chunk)
                await writer.drain()
            await writer.drain()
            writer.write_eof()

        async def recv_all():
            while True:
                chunk = await reader.read(CHUNK)
                if not chunk:
                    return
                recv_hash.update(chunk)
                res["recv_bytes"] += len(chunk)

        await asyncio.wait_for(asyncio.gather(send_all(), recv_all()), args.timeout)
        res["sent_sha256"] = sent_hash.hexdigest()
        res["recv_sha256"] = recv_hash.hexdigest()
        if args.mode == "echo":
            expected = res["sent_sha256"], res["sent_bytes"]
        elif args.mode == "source":
            expected = stream_sha256(reply_seed, args.reply), args.reply
        else:
            expected = hashlib.sha256().hexdigest(), 0
        res["ok"] = (res["recv_sha256"], res["recv_bytes"]) == expected
        if not res["ok"]:
            res["error"] = (f"reply differs: got {res['recv_bytes']} bytes sha256 "
                            f"{res['recv_sha256'][:16]}, expected {expected[1]} bytes sha256 "
                            f"{expected[0][:16]}")
    except asyncio.TimeoutError:
        res["error"] = (f"timeout after {time.monotonic() - started:.1f}s (sent {res['sent_bytes']}, "
                        f"received {res['recv_bytes']} bytes)")
    except (ConnectionError, OSError) as e:
        res["error"] = f"{type(e).__name__}: {e.strerror or e}"
    finally:
        res.setdefault("sent_sha256", sent_hash.hexdigest())
        res.setdefault("recv_sha256", recv_hash.hexdigest())
        res["seconds"] = round(time.monotonic() - started, 4)
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 2)
            except (ConnectionError, OSError, asyncio.TimeoutError):
                pass
    results.append(res)


async def client(args):
    args.host, args.port = split_addr(args.connect)
    sources = [s for s in (args.source or "").split(",") if s] or [None]
    results = []
    sem = asyncio.Semaphore(args.parallel)

    async def guarded(i):
        async with sem:
            await one_connection(args, i, sources[i % len(sources)], results)

    started = time.monotonic()
    await asyncio.gather(*(guarded(i) for i in range(args.conns)))
    elapsed = time.monotonic() - started
    results.sort(key=lambda r: int(r["id"].rsplit("-", 1)[1]))
    if args.results:
        with open(args.results, "w", encoding="utf-8") as f:
            for r in results:
                f.write(json.dumps(r, sort_keys=True) + "\n")
    ok = sum(1 for r in results if r["ok"])
    sent = sum(r["sent_bytes"] for r in results)
    recv = sum(r["recv_bytes"] for r in results)
    mb = (sent + recv) / 1e6
    print(f"client: {len(results)} connections to {args.connect} ({args.parallel} at a time): "
          f"{ok} ok, {len(results) - ok} failed; sent {sent / 1e6:.1f} MB, received "
          f"{recv / 1e6:.1f} MB in {elapsed:.2f} s = {len(results) / elapsed:.0f} conn/s, "
          f"{mb / elapsed:.1f} MB/s", flush=True)
    for r in [r for r in results if not r["ok"]][:5]:
        print(f"  FAIL {r['id']} local={r['local']}: {r['error']}", flush=True)
    return 0 if ok == len(results) else 1


# ---- check ------------------------------------------------------------------------------------

def load_lines(path):
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out


def check(args):
    clients = load_lines(args.client)
    if not clients:
        print(f"check: no client results in {args.client}")
        return 1
    wanted = {c["id"] for c in clients}
    # The server writes its line once the connection is closed; give the last ones a moment.
    deadline = time.monotonic() + args.wait
    while True:
        servers = {}
        for s in load_lines(args.server):
            if s.get("id") in wanted:
                servers.setdefault(s["id"], []).append(s)
        if set(servers) >= {c["id"] for c in clients if c.get("local")} or time.monotonic() > deadline:
            break
        time.sleep(0.1)

    allowed = set(args.servers.split(",")) if args.servers else None
    failures, per_server = [], {}
    for c in clients:
        problems = []
        if not c["ok"]:
            problems.append(f"client: {c['error']}")
        recs = servers.get(c["id"], [])
        if len(recs) != 1:
            problems.append(f"{len(recs)} server records for this id")
        for s in recs[:1]:
            per_server[s["server"]] = per_server.get(s["server"], 0) + 1
            if allowed is not None and s["server"] not in allowed:
                problems.append(f"reached {s['server']}, expected one of {args.servers}")
            if s.get("error"):
                problems.append(f"server: {s['error']}")
            if (s["recv_bytes"], s["recv_sha256"]) != (c["sent_bytes"], c["sent_sha256"]):
                problems.append(f"server received {s['recv_bytes']} bytes sha256 {s['recv_sha256'][:16]}, "
                                f"client sent {c['sent_bytes']} sha256 {c['sent_sha256'][:16]}")
            if (s["sent_bytes"], s["sent_sha256"]) != (c["recv_bytes"], c["recv_sha256"]):
                problems.append(f"client received {c['recv_bytes']} bytes sha256 {c['recv_sha256'][:16]}, "
                                f"server sent {s['sent_bytes']} sha256 {s['sent_sha256'][:16]}")
            if (args.max_first_byte_ms is not None and
                    s.get("first_byte_ms", 0) > args.max_first_byte_ms):
                problems.append(f"the server waited {s['first_byte_ms']:.0f} ms for the first byte "
                                f"after accept (limit {args.max_first_byte_ms:.0f})")
            p = s.get("proxy")
            if args.expect_proxy == "none":
                if p is not None:
                    problems.append(f"unexpected PROXY header {p.get('raw')}")
            elif args.expect_proxy == "v2":
                if p is None:
                    problems.append("no PROXY v2 header: the connection began with the client's bytes")
                elif c.get("local"):
                    host, port = split_addr(c["local"])
                    dst = split_addr(args.expect_dst) if args.expect_dst else split_addr(c["remote"])
                    want = proxy_v2_header((host, port), dst)
                    if p.get("raw") != want.hex():
                        problems.append(
                            f"PROXY header {p.get('ver_cmd')}/{p.get('fam')}/len {p.get('len')} "
                            f"src {p.get('src')} dst {p.get('dst')} (raw {p.get('raw')}), expected "
                            f"src {c['local']} dst {dst[0]}:{dst[1]} (raw {want.hex()})")
        if problems:
            failures.append((c, problems))

    total_bytes = sum(c["sent_bytes"] + c["recv_bytes"] for c in clients)
    dist = ", ".join(f"{k}: {v}" for k, v in sorted(per_server.items()))
    connect = sorted(c["connect_ms"] for c in clients if "connect_ms" in c)
    timing = (f"; connect ms: median {connect[len(connect) // 2]:.1f}, max {connect[-1]:.1f}"
              if connect else "")
    first = sorted(r[0]["first_byte_ms"] for r in servers.values() if "first_byte_ms" in r[0])
    if first:
        timing += f"; first byte ms: median {first[len(first) // 2]:.1f}, max {first[-1]:.1f}"
    print(f"check: {len(clients) - len(failures)}/{len(clients)} connections verified "
          f"({total_bytes / 1e6:.1f} MB both ways, PROXY {args.expect_proxy}); servers: {dist}{timing}")
    if args.max_connect_ms is not None and connect and connect[-1] > args.max_connect_ms:
        failures.append(({"id": "connect time", "local": "-"},
                         [f"slowest connect took {connect[-1]:.0f} ms (limit {args.max_connect_ms:.0f})"]))
    if args.max_imbalance is not None and per_server:
        spread = max(per_server.values()) - min(per_server.values())
        if spread > args.max_imbalance or (allowed and len(per_server) < len(allowed)):
            failures.append(({"id": "distribution", "local": "-"},
                             [f"uneven round robin: {dist} (allowed spread {args.max_imbalance})"]))
    for c, problems in failures[:8]:
        print(f"  FAIL {c['id']} local={c.get('local')}:")
        for p in problems:
            print(f"    - {p}")
    if len(failures) > 8:
        print(f"  ... and {len(failures) - 8} more")
    return 0 if not failures else 1


# ---- refused ----------------------------------------------------------------------------------

def refused(args):
    host, port = split_addr(args.connect)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(args.timeout)
    started = time.monotonic()
    try:
        if args.source:
            sock.bind((args.source, 0))
        sock.connect((host, port))
        print(f"refused: {args.connect} accepted the connection (expected a reset)")
        return 1
    except ConnectionRefusedError:
        ms = (time.monotonic() - started) * 1000
        print(f"refused: {args.connect} refused the connection in {ms:.1f} ms")
        return 0 if ms <= args.max_ms else 1
    except socket.timeout:
        print(f"refused: {args.connect}: no answer within {args.timeout} s (expected a reset)")
        return 1
    except OSError as e:
        print(f"refused: {args.connect}: {e}")
        return 1
    finally:
        sock.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--listen", action="append", required=True, help="ADDR:PORT (repeatable)")
    s.add_argument("--records", required=True, help="JSON lines, one per connection (appended)")
    s.add_argument("--raw-dir", help="also keep every connection's received bytes in a file")
    s.add_argument("--ready", help="file written once every listener is bound")
    c = sub.add_parser("client")
    c.add_argument("--connect", required=True, help="HOST:PORT")
    c.add_argument("--conns", type=int, default=1)
    c.add_argument("--parallel", type=int, default=1)
    c.add_argument("--send", type=int, default=0, help="bytes after the control line")
    c.add_argument("--reply", type=int, default=0, help="bytes the server sends (mode source)")
    c.add_argument("--mode", choices=("echo", "source", "sink"), default="echo")
    c.add_argument("--source", help="local address(es) to bind, comma-separated, used in turn")
    c.add_argument("--results", help="JSON lines, one per connection")
    c.add_argument("--run", default=f"r{os.getpid()}", help="prefix of the connection ids")
    c.add_argument("--timeout", type=float, default=60.0, help="seconds per connection")
    c.add_argument("--connect-timeout", type=float, default=10.0)
    k = sub.add_parser("check")
    k.add_argument("--client", required=True)
    k.add_argument("--server", required=True)
    k.add_argument("--expect-proxy", choices=("v2", "none", "any"), default="v2")
    k.add_argument("--expect-dst", help="ADDR:PORT in the header (default: what the client dialled)")
    k.add_argument("--servers", help="comma-separated ADDR:PORT the connections may reach")
    k.add_argument("--max-imbalance", type=int, help="largest allowed spread of connections per server")
    k.add_argument("--max-connect-ms", type=float, help="slowest acceptable connect()")
    k.add_argument("--max-first-byte-ms", type=float,
                   help="longest acceptable wait of the server for the first byte after accept()")
    k.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the server's lines")
    r = sub.add_parser("refused")
    r.add_argument("--connect", required=True)
    r.add_argument("--source")
    r.add_argument("--timeout", type=float, default=5.0)
    r.add_argument("--max-ms", type=float, default=1000.0, help="slowest acceptable refusal")
    args = p.parse_args()
    if args.cmd == "serve":
        return asyncio.run(serve(args))
    if args.cmd == "client":
        return asyncio.run(client(args))
    if args.cmd == "check":
        return check(args)
    return refused(args)


if __name__ == "__main__":
    sys.exit(main())
