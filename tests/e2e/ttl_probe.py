#!/usr/bin/env python3
"""Sends one TCP SYN with a chosen IP TTL and reports the ICMP error that came back.

  ttl_probe.py --connect ADDR:PORT --ttl N [--expect-from ADDR] [--expect-type 11] [--timeout S]

A non-blocking connect with IP_TTL=N and IP_RECVERR: when a hop answers the expiring SYN with
ICMP time exceeded, the kernel fails the connect (EHOSTUNREACH) and queues the error with the
offender's address on the socket's error queue (MSG_ERRQUEUE, struct sock_extended_err followed
by the offender's sockaddr_in, see ip(7)). Prints one line: what came back (ICMP type/code and
from which address), a connection, or nothing within the timeout; exits 0 only if an ICMP error
of --expect-type arrived from --expect-from (any address when not given).
Standard library only.
"""

import argparse
import errno
import select
import socket
import struct
import sys
import time

IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
SO_EE_ORIGIN_ICMP = 2


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connect", required=True, help="ADDR:PORT")
    p.add_argument("--ttl", type=int, required=True)
    p.add_argument("--expect-from")
    p.add_argument("--expect-type", type=int, default=11)
    p.add_argument("--timeout", type=float, default=3.0)
    args = p.parse_args()
    host, _, port = args.connect.rpartition(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, args.ttl)
    s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    s.setblocking(False)
    started = time.monotonic()
    rc = s.connect_ex((host, int(port)))
    if rc not in (0, errno.EINPROGRESS):
        print(f"ttl {args.ttl} to {args.connect}: connect failed at once: {errno.errorcode.get(rc, rc)}")
        return 1
    poller = select.poll()
    poller.register(s, select.POLLOUT | select.POLLERR)
    events = poller.poll(args.timeout * 1000)
    ms = (time.monotonic() - started) * 1000
    if not events:
        print(f"ttl {args.ttl} to {args.connect}: nothing within {args.timeout} s (no ICMP, no SYN-ACK)")
        return 1
    try:
        _, anc, _, _ = s.recvmsg(512, 512, socket.MSG_ERRQUEUE)
    except BlockingIOError:
        anc = []
    for level, kind, data in anc:
        if level != socket.IPPROTO_IP or kind != IP_RECVERR or len(data) < 32:
            continue
        ee_errno, origin, icmp_type, icmp_code = struct.unpack_from("=IBBB", data, 0)
        offender = socket.inet_ntoa(data[16 + 4:16 + 8])
        name = errno.errorcode.get(ee_errno, str(ee_errno))
        print(f"ttl {args.ttl} to {args.connect}: ICMP type {icmp_type} code {icmp_code} from "
              f"{offender} after {ms:.1f} ms ({name}, origin {origin})")
        ok = (origin == SO_EE_ORIGIN_ICMP and icmp_type == args.expect_type and
              (args.expect_from is None or offender == args.expect_from))
        return 0 if ok else 1
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err == 0:
        print(f"ttl {args.ttl} to {args.connect}: connected after {ms:.1f} ms (the TTL did not expire)")
    else:
        print(f"ttl {args.ttl} to {args.connect}: {errno.errorcode.get(err, err)} after {ms:.1f} ms, "
              "no ICMP error queued")
    return 1


if __name__ == "__main__":
    sys.exit(main())
