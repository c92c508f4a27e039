#!/usr/bin/env python3
"""One scripted mail-client session per protocol, over raw sockets, for the lab and the demo.

Speaks IMAP, POP3, LMTP, ManageSieve and SMTP submission with explicit expected replies, so a
test sees exactly which byte exchange went wrong. Prints one summary line per session:

  ok imap 198.18.0.100:143 local=198.18.0.2:40412 ms=3.1 greeting="* OK ... Dovecot dovecot-dc1 ready."

and exits 1 with a "FAIL ..." line on stderr at the first unexpected reply, timeout or reset.
The greeting names the server instance the load balancer picked; local= is the client
address:port the server logs as rip=/rport= when the PROXY header carried it. With --fetch N
the IMAP session also fetches message N of INBOX whole and the line adds its size and sha256
(fetched=BYTES sha256=HEX), so a test can compare them with the file in the maildir.
Standard library only.
"""

import argparse
import base64
import hashlib
import ipaddress
import re
import socket
import struct
import sys
import time

PROTOCOLS = ("imap", "pop3", "lmtp", "sieve", "smtp")
ALIASES = {"submission": "smtp", "managesieve": "sieve", "pop": "pop3"}

# PROXY protocol v2 signature (haproxy doc/proxy-protocol.txt section 2.2).
PROXY_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


class Failure(Exception):
    """An unexpected reply, a timeout or a closed connection; the message says which."""


class Session:
    def __init__(self, sock, timeout):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""
        self.last_sent = "(connect)"

    def send_line(self, line, shown=None):
        self.last_sent = shown if shown is not None else line
        self.sock.sendall(line.encode() + b"\r\n")

    def send_raw(self, data, shown):
        self.last_sent = shown
        self.sock.sendall(data)

    def read_line(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                raise Failure(f'after "{self.last_sent}": no reply (timeout); have {self.buf!r}') from None
            except ConnectionResetError:
                raise Failure(f'after "{self.last_sent}": connection reset by peer') from None
            if not chunk:
                raise Failure(f'after "{self.last_sent}": connection closed by peer; have {self.buf!r}')
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def read_exact(self, n):
        """Exactly n bytes (an IMAP literal), from the buffer and then the socket."""
        chunks, have = [self.buf[:n]], min(n, len(self.buf))
        self.buf = self.buf[n:]
        while have < n:
            try:
                chunk = self.sock.recv(min(1 << 20, n - have))
            except socket.timeout:
                raise Failure(f'after "{self.last_sent}": timeout with {have} of {n} bytes') from None
            except ConnectionResetError:
                raise Failure(f'after "{self.last_sent}": reset with {have} of {n} bytes') from None
            if not chunk:
                raise Failure(f'after "{self.last_sent}": closed with {have} of {n} bytes')
            chunks.append(chunk)
            have += len(chunk)
        return b"".join(chunks)

    def expect(self, prefix):
        """Reads one line that must start with prefix."""
        line = self.read_line()
        if not line.startswith(prefix):
            raise Failure(f'after "{self.last_sent}": expected "{prefix}...", got "{line}"')
        return line

    def expect_smtp(self, code):
        """Reads one SMTP/LMTP reply (continuation lines "250-...") that must carry code."""
        lines = []
        while True:
            line = self.read_line()
            lines.append(line)
            if len(line) < 3 or not line[:3].isdigit():
                raise Failure(f'after "{self.last_sent}": not an SMTP reply: "{line}"')
            if line[:3] != code:
                raise Failure(f'after "{self.last_sent}": expected {code}, got "{line}"')
            if len(line) == 3 or line[3] == " ":
                return lines

    def expect_eof(self):
        """After the goodbye the server closes first; wait for its FIN (bounded)."""
        try:
            while self.sock.recv(4096):
                pass
        except (socket.timeout, ConnectionResetError):
            pass


def imap(s, args):
    greeting = s.expect("* OK")
    if args.greeting_only:
        pass
    else:
        s.send_line(f"a1 LOGIN {args.user} {args.password}", f"a1 LOGIN {args.user} ***")
        while True:
            line = s.read_line()
            if line.startswith("a1 "):
                if not line.startswith("a1 OK"):
                    raise Failure(f'after "a1 LOGIN": expected "a1 OK", got "{line}"')
                break
            if not line.startswith("* "):
                raise Failure(f'after "a1 LOGIN": unexpected "{line}"')
    if args.fetch:
        imap_fetch(s, args)
    s.send_line("a2 LOGOUT")
    s.expect("* BYE")
    s.expect("a2 OK")
    return greeting


def imap_tagged(s, tag, what):
    """Reads untagged lines until the tagged reply, which must be OK."""
    while True:
        line = s.read_line()
        if line.startswith(tag + " "):
            if not line.startswith(tag + " OK"):
                raise Failure(f'after "{what}": expected "{tag} OK", got "{line}"')
            return
        if not line.startswith("* "):
            raise Failure(f'after "{what}": unexpected "{line}"')


def imap_fetch(s, args):
    """SELECT INBOX, FETCH N BODY.PEEK[]: the message's bytes, hashed (RFC 3501 7.4.2)."""
    s.send_line("f1 SELECT INBOX")
    imap_tagged(s, "f1", "f1 SELECT INBOX")
    s.send_line(f"f2 FETCH {args.fetch} BODY.PEEK[]")
    line = s.read_line()
    m = re.match(r"\* \d+ FETCH \(.*BODY\[\] \{(\d+)\}$", line)
    if not m:
        raise Failure(f'after "f2 FETCH": expected "* {args.fetch} FETCH (BODY[] {{n}}", got "{line}"')
    body = s.read_exact(int(m.group(1)))
    args.fetched = (len(body), hashlib.sha256(body).hexdigest())
    line = s.read_line()
    if not line.endswith(")"):
        raise Failure(f'after the FETCH literal: expected ")", got "{line}"')
    imap_tagged(s, "f2", "f2 FETCH")


def pop3(s, args):
    greeting = s.expect("+OK")
    if not args.greeting_only:
        s.send_line(f"USER {args.user}")
        s.expect("+OK")
        s.send_line(f"PASS {args.password}", "PASS ***")
        s.expect("+OK")
        s.send_line("STAT")
        s.expect("+OK")
    s.send_line("QUIT")
    s.expect("+OK")
    return greeting


def sieve(s, args):
    # RFC 5804 section 1.7: the greeting is the capability list, ending in an OK line.
    greeting = None
    while True:
        line = s.read_line()
        if line.startswith("OK"):
            break
        if line.startswith(("NO", "BYE")):
            raise Failure(f'greeting: got "{line}"')
        if greeting is None and line.startswith('"IMPLEMENTATION"'):
            greeting = line
    greeting = greeting or line
    if not args.greeting_only:
        token = base64.b64encode(f"\0{args.user}\0{args.password}".encode()).decode()
        s.send_line(f'AUTHENTICATE "PLAIN" "{token}"', 'AUTHENTICATE "PLAIN" "***"')
        s.expect("OK")
    s.send_line("LOGOUT")
    s.expect("OK")
    return greeting


def smtp_like(s, args, hello):
    greeting = s.expect_smtp("220")[0]
    if not args.greeting_only:
        s.send_line(f"{hello} client.lab.example")
        s.expect_smtp("250")
        s.send_line(f"MAIL FROM:<{args.sender}>")
        s.expect_smtp("250")
        s.send_line(f"RCPT TO:<{args.rcpt}>")
        s.expect_smtp("250")
        s.send_line("DATA")
        s.expect_smtp("354")
        message = (
            f"From: <{args.sender}>\r\n"
            f"To: <{args.rcpt}>\r\n"
            f"Subject: postern lab {args.proto}\r\n"
            f"Message-ID: <{time.time_ns()}.{args.proto}@client.lab.example>\r\n"
            "\r\n"
            "Delivered through the Postern lab.\r\n"
            ".\r\n"
        )
        s.send_raw(message.encode(), "DATA ... .")
        # LMTP answers once per recipient (RFC 2033 section 4.2); there is one.
        s.expect_smtp("250")
    s.send_line("QUIT")
    s.expect_smtp("221")
    return greeting


def lmtp(s, args):
    return smtp_like(s, args, "LHLO")


def smtp(s, args):
    return smtp_like(s, args, "EHLO")


DIALOGUES = {"imap": imap, "pop3": pop3, "lmtp": lmtp, "sieve": sieve, "smtp": smtp}


def split_addr(text, what):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise SystemExit(f"mailclient: {what} must be ADDR:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def proxy_header(version, src, dst):
    """A PROXY v1 line or v2 PROXY/TCP header for src -> dst ((addr, port) tuples)."""
    sip, dip = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    if sip.version != dip.version:
        raise SystemExit("mailclient: PROXY source and destination families differ")
    if version == "v1":
        fam = "TCP4" if sip.version == 4 else "TCP6"
        return f"PROXY {fam} {sip} {dip} {src[1]} {dst[1]}\r\n".encode()
    # Version 2, command PROXY (0x21); TCP over IPv4 (0x11) or IPv6 (0x21).
    fam = 0x11 if sip.version == 4 else 0x21
    body = sip.packed + dip.packed + struct.pack("!HH", src[1], dst[1])
    return PROXY_V2_SIG + struct.pack("!BBH", 0x21, fam, len(body)) + body


def run_session(args):
    started = time.monotonic()
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    local = "?"
    try:
        sock.settimeout(args.timeout)
        if args.source:
            sock.bind((args.source, 0))
        try:
            sock.connect((args.host, args.port))
        except OSError as e:
            raise Failure(f"connect: {e.strerror or e}") from None
        lhost, lport = sock.getsockname()[:2]
        local = f"{lhost}:{lport}"
        s = Session(sock, args.timeout)
        if args.proxy:
            src = split_addr(args.proxy_src, "--proxy-src") if args.proxy_src else (lhost, lport)
            dst = split_addr(args.proxy_dst, "--proxy-dst") if args.proxy_dst else (args.host, args.port)
            s.send_raw(proxy_header(args.proxy, src, dst), f"PROXY {args.proxy} header")
        greeting = DIALOGUES[args.proto](s, args)
        s.expect_eof()
        sock.shutdown(socket.SHUT_RDWR)
    except Failure as e:
        print(f"FAIL {args.proto} {args.host}:{args.port} local={local}: {e}", file=sys.stderr)
        return False
    except OSError as e:
        print(f"FAIL {args.proto} {args.host}:{args.port} local={local}: {e}", file=sys.stderr)
        return False
    finally:
        sock.close()
    ms = (time.monotonic() - started) * 1000.0
    greeting = greeting.replace('"', "'")
    fetched = f" fetched={args.fetched[0]} sha256={args.fetched[1]}" if args.fetched else ""
    print(f'ok {args.proto} {args.host}:{args.port} local={local} ms={ms:.1f}{fetched} greeting="{greeting}"',
          flush=True)
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("proto", help="imap | pop3 | lmtp | sieve (managesieve) | smtp (submission)")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--user", default="alice")
    p.add_argument("--password", default="secret")
    p.add_argument("--sender", default="bob@example.net", help="MAIL FROM for lmtp/smtp")
    p.add_argument("--rcpt", default="alice@example.org", help="RCPT TO for lmtp/smtp")
    p.add_argument("--greeting-only", action="store_true",
                   help="only the greeting and the goodbye (LOGOUT/QUIT), no login or mail")
    p.add_argument("--source", help="local address to bind (e.g. a secondary client address)")
    p.add_argument("--proxy", choices=("v1", "v2"), help="send a PROXY header first, as an upstream proxy")
    p.add_argument("--proxy-src", help="ADDR:PORT the PROXY header claims (default: the local socket)")
    p.add_argument("--proxy-dst", help="ADDR:PORT the PROXY header claims (default: HOST:PORT)")
    p.add_argument("--fetch", type=int, metavar="N",
                   help="imap: after the login, fetch message N of INBOX whole (size and sha256)")
    p.add_argument("--count", type=int, default=1, help="sessions to run one after another")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per read or connect")
    args = p.parse_args()
    args.proto = ALIASES.get(args.proto, args.proto)
    args.fetched = None
    if args.proto not in PROTOCOLS:
        p.error(f"unknown protocol {args.proto!r}")
    for _ in range(args.count):
        if not run_session(args):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
