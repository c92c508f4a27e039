#!/usr/bin/env python3
"""Many long-lived streaming connections at once, for the reload storm (reload_storm_test.sh).

Each of --conns connections speaks the recorder's protocol (recorder.py, echo mode): the
control line, then --chunk bytes every --interval seconds until the --stop file appears, then
a half-close and the rest of the echo. A connection is good when the echo it read back is
exactly what it sent (same length and sha256). One JSON line per connection goes to --results
in recorder.py's client format (so `recorder.py check` joins it with the server's records),
and one summary line to stdout: "streams: N ok, M failed ...". Exit status 1 if any failed.
Standard library only (asyncio, one thread).
"""
import argparse
import asyncio
import hashlib
import json
import os
import random
import sys
import time


async def one(i, args, stats, results):
    ident = f"{args.run}-{i}"
    host, _, port = args.connect.rpartition(":")
    res = {"id": ident, "local": None, "remote": args.connect, "mode": "echo", "sent_bytes": 0,
           "recv_bytes": 0, "ok": False, "error": None}
    sent_h, recv_h = hashlib.sha256(), hashlib.sha256()
    rng = random.Random(f"{ident}/send")
    started = time.monotonic()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)),
                                                args.connect_timeout)
        res["connect_ms"] = round((time.monotonic() - started) * 1000, 2)
        res["local"] = "%s:%d" % writer.get_extra_info("sockname")[:2]
        stats["open"] += 1

        async def read_all():
            while True:
                b = await asyncio.wait_for(reader.read(65536), args.idle_timeout)
                if not b:
                    return
                recv_h.update(b)
                res["recv_bytes"] += len(b)

        reading = asyncio.create_task(read_all())

        def send(b):
            writer.write(b)
            sent_h.update(b)
            res["sent_bytes"] += len(b)

        send(f"RECORDER id={ident} mode=echo reply=0 seed=0\n".encode())
        # Spread the connections' chunks over the interval.
        await asyncio.sleep(args.interval * (i % 97) / 97)
        while not os.path.exists(args.stop):
            if time.monotonic() - started > args.max_seconds:
                raise RuntimeError(f"no stop file within {args.max_seconds}s")
            if reading.done():
                break  # the server side ended early: the check below says what went wrong
            send(rng.randbytes(args.chunk))
            await writer.drain()
            await asyncio.sleep(args.interval)
        writer.write_eof()
        await asyncio.wait_for(reading, args.idle_timeout)
        reading.result()
        res["ok"] = (res["recv_bytes"] == res["sent_bytes"] and
                     recv_h.hexdigest() == sent_h.hexdigest())
        if not res["ok"]:
            res["error"] = (f"echo differs: sent {res['sent_bytes']} bytes, "
                            f"received {res['recv_bytes']}")
    except Exception as e:  # every failure becomes this connection's verdict
        res["error"] = f"{type(e).__name__}: {e}"
    finally:
        if writer is not None:
            writer.close()
    res["sent_sha256"] = sent_h.hexdigest()
    res["recv_sha256"] = recv_h.hexdigest()
    res["expected_sha256"] = sent_h.hexdigest()
    res["seconds"] = round(time.monotonic() - started, 3)
    stats["ok" if res["ok"] else "failed"] += 1
    results.append(res)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--connect", required=True, help="HOST:PORT")
    p.add_argument("--conns", type=int, required=True)
    p.add_argument("--chunk", type=int, default=512)
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--stop", required=True, help="the connections end once this file exists")
    p.add_argument("--results", required=True)
    p.add_argument("--ready", help="written once every connection is open")
    p.add_argument("--run", default="st")
    p.add_argument("--max-seconds", type=float, default=300)
    p.add_argument("--idle-timeout", type=float, default=30)
    p.add_argument("--connect-timeout", type=float, default=10)
    args = p.parse_args()
    stats = {"open": 0, "ok": 0, "failed": 0}
    results = []
    tasks = [asyncio.create_task(one(i, args, stats, results)) for i in range(args.conns)]
    if args.ready:
        while stats["open"] + stats["failed"] < args.conns:
            await asyncio.sleep(0.05)
        with open(args.ready, "w") as f:
            f.write(f"{stats['open']}\n")
    await asyncio.gather(*tasks)
    with open(args.results, "a") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")
    sent = sum(r["sent_bytes"] for r in results)
    print(f"streams: {stats['ok']} ok, {stats['failed']} failed; {sent} bytes echoed "
          f"over {len(results)} connections")
    for r in results:
        if not r["ok"]:
            print(f"  {r['id']} {r['local']}: {r['error']}")
    return 0 if stats["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
