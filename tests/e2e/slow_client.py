#!/usr/bin/env python3
"""The long-lived connection L of the e2e tests (tests/e2e/slow.sh starts it in NAME-cli).

Speaks the recorder's protocol (recorder.py, echo mode): sends --chunk bytes every --interval
seconds until the --stop file appears, then half-closes and reads the rest of the echo. It
keeps "SENT RECEIVED STATE" in the --progress file and writes one result line in recorder.py's
client format to --results, so `recorder.py check` verifies it like any other run.
Standard library only.
"""
import argparse, hashlib, json, os, random, socket, sys, threading, time

p = argparse.ArgumentParser()
for a in ("--connect", "--id", "--results", "--progress", "--stop"):
    p.add_argument(a, required=True)
p.add_argument("--chunk", type=int, required=True)
p.add_argument("--interval", type=float, required=True)
p.add_argument("--max-seconds", type=float, required=True)
args = p.parse_args()
host, _, port = args.connect.rpartition(":")
rng = random.Random(random.Random(f"{args.id}/send").getrandbits(63))
res = {"id": args.id, "local": None, "remote": args.connect, "mode": "echo", "sent_bytes": 0,
       "recv_bytes": 0, "ok": False, "error": None}
sent_h, recv_h, errors = hashlib.sha256(), hashlib.sha256(), []
started = time.monotonic()


def progress(state):
    with open(args.progress + ".tmp", "w") as f:
        f.write(f"{res['sent_bytes']} {res['recv_bytes']} {state}\n")
    os.replace(args.progress + ".tmp", args.progress)


def reader(sock):
    try:
        while True:
            b = sock.recv(65536)
            if not b:
                return
            recv_h.update(b)
            res["recv_bytes"] += len(b)
    except OSError as e:
        errors.append(f"receive: {type(e).__name__}: {e}")


sock = None
chunks = 0
try:
    sock = socket.create_connection((host, int(port)), timeout=10)
    res["connect_ms"] = round((time.monotonic() - started) * 1000, 2)
    res["local"] = "%s:%d" % sock.getsockname()[:2]
    sock.settimeout(15)
    t = threading.Thread(target=reader, args=(sock,), daemon=True)
    t.start()

    def send(b):
        sock.sendall(b)
        sent_h.update(b)
        res["sent_bytes"] += len(b)

    send(f"RECORDER id={args.id} mode=echo reply=0 seed=0\n".encode())
    progress("open")
    deadline = started + args.max_seconds
    while not os.path.exists(args.stop) and not errors:
        if time.monotonic() > deadline:
            errors.append(f"no stop file within {args.max_seconds:.0f} s")
            break
        send(rng.randbytes(args.chunk))
        chunks += 1
        progress("open")
        time.sleep(args.interval)
    sock.shutdown(socket.SHUT_WR)
    progress("closing")
    t.join(20)
    if t.is_alive():
        errors.append("no end of the echo within 20 s of the half-close")
except OSError as e:
    errors.append(f"{type(e).__name__}: {e}")
res["sent_sha256"], res["recv_sha256"] = sent_h.hexdigest(), recv_h.hexdigest()
res["seconds"] = round(time.monotonic() - started, 3)
if not errors and (res["recv_bytes"], res["recv_sha256"]) != (res["sent_bytes"], res["sent_sha256"]):
    errors.append(f"echo differs: sent {res['sent_bytes']} bytes sha256 {res['sent_sha256'][:16]}, "
                  f"received {res['recv_bytes']} sha256 {res['recv_sha256'][:16]}")
res["ok"] = not errors
res["error"] = "; ".join(errors) or None
progress("done" if res["ok"] else "failed")
with open(args.results, "w") as f:
    f.write(json.dumps(res, sort_keys=True) + "\n")
print(f"slow client {args.id} {res['local']} -> {args.connect}: {chunks} chunks, sent "
      f"{res['sent_bytes']} received {res['recv_bytes']} bytes in {res['seconds']} s: "
      f"{'ok' if res['ok'] else 'FAILED: ' + res['error']}", flush=True)
sys.exit(0 if res["ok"] else 1)
