#!/usr/bin/env python3
"""ping without iputils: ICMP echo requests over a raw socket (root), for lab readiness checks.

  ping.py [--count N] [--timeout SECONDS] [--interval SECONDS] ADDR

Exits 0 at the first echo reply from ADDR, 1 if none came. Postern answers ARP and ICMP echo
for its VIPs from userspace, so one reply says its client port is polled and ARP resolved.
Standard library only.
"""

import argparse
import os
import select
import socket
import struct
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def echo_request(ident, seq):
    payload = b"postern-lab-ping" + struct.pack("!d", time.time())
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    return struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("addr")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for each reply")
    p.add_argument("--interval", type=float, default=0.0, help="pause between unanswered requests")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args()
    dst = socket.gethostbyname(args.addr)
    ident = os.getpid() & 0xFFFF
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        for seq in range(1, args.count + 1):
            sent = time.monotonic()
            s.sendto(echo_request(ident, seq), (dst, 0))
            deadline = sent + args.timeout
            while (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select([s], [], [], left)
                if not ready:
                    break
                packet, src = s.recvfrom(2048)
                ihl = (packet[0] & 0x0F) * 4
                kind, _, _, rid, rseq = struct.unpack("!BBHHH", packet[ihl:ihl + 8])
                if src[0] == dst and kind == 0 and rid == ident and rseq == seq:
                    if not args.quiet:
                        print(f"reply from {dst}: seq={seq} time={(time.monotonic() - sent) * 1000:.2f} ms")
                    return 0
            if seq < args.count and args.interval:
                time.sleep(args.interval)
    if not args.quiet:
        print(f"no reply from {dst} to {args.count} echo request(s)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
