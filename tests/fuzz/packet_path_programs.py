#!/usr/bin/env python3
"""Writes the packet-path fuzzer's seed programs (tests/fuzz/corpus/packet_path/) and its
regression programs (tests/fuzz/regressions/packet_path/): byte programs in the format
tests/fuzz/packet_path_fuzz.cpp reads, one operation byte then its fields.

Usage: tests/fuzz/packet_path_programs.py   (rewrites both directories' files it owns)
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

(CLIENT_SYN, SERVER_SYNACK, CLIENT_SEG, SERVER_SEG, RAW, PATCHED, ADVANCE, HEALTH, SNAPSHOT,
 ICMP, ARP, SHUTDOWN, ECHO, FLOOD, PROBE) = range(15)

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def u8(v):
    return bytes([v & 0xff])


def u16(v):
    return struct.pack(">H", v & 0xffff)


def u32(v):
    return struct.pack(">I", v & 0xffffffff)


def data(b):
    """Payload kind 0: up to 255 bytes as given."""
    return u8(0) + u8(len(b)) + b


def proxy(version, start=0, take=0, more=b""):
    """A piece of the PROXY v1 or v2 header (take 0: to its end), then `more` bytes."""
    kind = (1 if version == 1 else 2) | (4 if more else 0)
    out = u8(kind) + u8(start) + u8(take)
    if more:
        out += u8(len(more)) + more
    return out


def filler(n, value=0x61):
    return u8(3) + u16(n) + u8(value)


NO_PAYLOAD = data(b"")
DEFAULT_OPTIONS = u8(0)  # a SYN's usual options; a timestamp on other segments


# who: low nibble the client address (0-7: 198.18.0.2+), bits 4-6 the destination
# (0 :143 imap, 1 :110 plain, 2 :993 accept-proxy, 3 :25 wildcard bind).
# (5: the VIP, port `vport`).
def syn(who=0, port=40000, isn=1000, flags_xor=0, window=64240, ts=111,
        options=DEFAULT_OPTIONS, payload=NO_PAYLOAD, vport=None):
    assert (vport is not None) == ((who >> 4 & 7) == 5)
    return (u8(CLIENT_SYN) + u8(who) + u16(port ^ 40000) +
            (u16(vport) if vport is not None else b"") + u32(isn) + u8(flags_xor) +
            u16(window ^ 64240) + u32(ts) + options + payload)


def synack(which=0, isn=5000000, flags_xor=0, window=65160, ts=900, options=DEFAULT_OPTIONS):
    return (u8(SERVER_SYNACK) + u8(which) + u32(isn) + u8(flags_xor) + u8(0) +
            u16(window ^ 65160) + u32(ts) + options)


def segment(op, which, flags, window_xor, window, payload, options):
    return (u8(op) + u8(which) + u8(0) + u8(flags ^ ACK) + u16(window ^ window_xor) + options +
            payload)


def client(flags=ACK, payload=NO_PAYLOAD, which=0, window=502, options=DEFAULT_OPTIONS):
    return segment(CLIENT_SEG, which, flags, 502, window, payload, options)


def server(flags=ACK, payload=NO_PAYLOAD, which=0, window=509, options=DEFAULT_OPTIONS):
    return segment(SERVER_SEG, which, flags, 509, window, payload, options)


def advance(ms):
    if ms % 1000 == 0 and ms // 1000 <= 65536:
        return u8(ADVANCE) + u8(3) + u16(ms // 1000 - 1)
    assert 1 <= ms <= 65536
    return u8(ADVANCE) + u8(0) + u16(ms - 1)


def arp(port, reply, sender, target=0, op=None):
    """sender: 0-3 servers .10-.13, 4 the gateway .250, 5 our own .1, 6 0.0.0.0, 7 a client."""
    a = port | (2 if reply else 0) | (sender << 2) | (0x80 if op is not None else 0)
    return u8(ARP) + u8(a) + (u16(op) if op is not None else b"") + u8(target)


def resolve_servers():
    return b"".join(arp(1, True, s) for s in range(4))


def icmp_frag_needed(server_side, mtu, which=0, whole=True):
    return (u8(ICMP) + u8((1 if server_side else 0) | (which << 1)) + u8(0) + u16(mtu) + u8(0) +
            u8(1 if whole else 0))


def icmp_unreachable(server_side, code_kind=1, which=0):
    return u8(ICMP) + u8((1 if server_side else 0) | (which << 1)) + u8(code_kind) + u8(0) + u8(0)


def snapshot(v):
    return u8(SNAPSHOT) + u8(v)


def health(server_slot, what):
    return u8(HEALTH) + u8(server_slot) + u8(what)


def shutdown(server_slot):
    return u8(SHUTDOWN) + u8(server_slot)


def flood(count_div8, first_port, who=0, spread=False):
    """`spread`: each SYN from another address (10.0.x.y), past per-source limits."""
    who |= 0x20 if spread else 0
    return u8(FLOOD) + u8(who) + u8(count_div8 - 1) + u16(first_port)


def handshake(who=0, port=40000):
    return syn(who, port) + synack() + client()


SEEDS = {
    # IMAP through send-proxy-v2: handshake, header, greeting, a command, both FINs.
    "handshake_header_data_close": resolve_servers() + handshake() +
    server(ACK | PSH, data(b"* OK ready\r\n")) + client(ACK | PSH, data(b"a1 NOOP\r\n")) +
    server(ACK | PSH, data(b"a1 OK\r\n")) + client(ACK | FIN) + server(ACK | FIN) + client() +
    advance(60000),
    # accept-proxy on :993: the upstream proxy's v1 header with the first command behind it.
    "accept_proxy_v1": resolve_servers() + handshake(who=0x21, port=41000) +
    client(ACK | PSH, proxy(1, more=b"a1 CAPABILITY\r\n")) +
    server(ACK | PSH, data(b"* OK\r\n")) + client(ACK | FIN) + server(ACK | FIN) + client(),
    # accept-proxy with a v2 header split over two segments.
    "accept_proxy_v2_split": resolve_servers() + handshake(who=0x22, port=41001) +
    client(ACK | PSH, proxy(2, 0, 10)) + client(ACK | PSH, proxy(2, 10, 0, b"x")) +
    server(ACK) + advance(2000),
    # The first server refuses (RST), the SYN goes to the other; then a silent one times out.
    "redispatch": resolve_servers() + syn(who=1, port=42000) + server(RST | ACK) + synack() +
    client() + server(ACK | PSH, data(b"* OK\r\n")) + syn(who=2, port=42001) + advance(5001) +
    advance(5001) + synack() + client() + advance(120000),
    # Path MTU discovery on both sides of an established flow.
    "icmp_frag_needed": resolve_servers() + handshake(who=3, port=43000) +
    server(ACK | PSH, data(b"* OK\r\n")) + client(ACK | PSH, filler(1400)) +
    icmp_frag_needed(True, 1280) + server(ACK | PSH, filler(1400)) +
    icmp_frag_needed(False, 576) + icmp_unreachable(True) + advance(1000),
    # With imap's SYN proxy on (snapshot 1): the cookie SYN-ACK, the client's ACK opens the
    # server side, the server's SYN-ACK, the header, a greeting and a command, both FINs;
    # then a flood from one address past the per-source half-open limit.
    "syn_proxy_session": snapshot(1) + resolve_servers() + syn(who=5, port=48000) + client() +
    synack() + server(ACK | PSH, data(b"* OK\r\n")) + client(ACK | PSH, data(b"a1 NOOP\r\n")) +
    server(ACK | PSH, data(b"a1 OK\r\n")) + client(ACK | FIN) + server(ACK | FIN) + client() +
    flood(8, 21000, who=6) + advance(4000) + snapshot(0) + advance(60000),
    # With the SYN proxy off, more SYNs from as many addresses than the flow table holds, then
    # more from one address; a reload and a server marked down meanwhile.
    "flood_reload_down": resolve_servers() + snapshot(3) + flood(160, 20000, spread=True) +
    flood(8, 30000) + snapshot(1) + health(0, 0) +
    shutdown(1) + syn(who=4, port=44000) + health(0, 4) + snapshot(0) + advance(6000) +
    advance(60000),
}

REGRESSIONS = {
    # An ARP from a server's address arriving on the client port moved its neighbour entry
    # there: the SYN waiting for that server left by the client port, from the server
    # port's MAC (fixed in net/neighbour.hpp: a neighbour belongs to the port it was made
    # for). The clock first runs until the server's entry is forgotten, whatever the
    # inputs before left in the cache.
    "neighbour_learnt_on_other_port": advance(131000) + b"".join(
        advance(1001) for _ in range(5)) + syn(who=0x10, port=45000) + arp(0, False, 0),
    # An echo request with a wrong ICMP checksum was answered with the same wrong checksum;
    # one sent to a broadcast MAC was answered from that MAC (fixed in net/icmp.cpp and
    # Worker::handle_icmp).
    "echo_bad_checksum": u8(ECHO) + u8(0x80) + u8(4) + u32(0x12345678) + b"ping",
    # An echo request whose reply sums to zero (identifier, sequence and data all zero): the
    # reply's checksum, updated from the request's, was 0x0000 instead of 0xffff (fixed in
    # net/icmp.cpp: recomputed).
    "echo_all_zero": u8(ECHO) + u8(0) + u8(0) + u32(0),
    # A segment for no flow, sent to a multicast MAC: the RST answering it came from that
    # MAC (fixed in Worker::reply_rst: the port's own MAC). A SYN to a port nobody listens on
    # gives the client end; the patched segment's first byte makes its destination MAC
    # 01:00:00:00:00:01.
    # A PROXY v1 header of odd length (45 bytes) with the first command behind it: cutting
    # the header moved the frame to an odd address, and the worker then read rte_ether_hdr
    # misaligned (UBSan; fixed in nat/rewrite.cpp cut_payload_front: headers move by an even
    # count). The seed accept_proxy_v1 is the same session.
    "accept_proxy_odd_header": resolve_servers() + handshake(who=0x21, port=47000) +
    client(ACK | PSH, proxy(1, more=b"a1 CAPABILITY\r\n")),
    # With the SYN proxy on for every listener (snapshot 2), a SYN sent to a multicast MAC:
    # the cookie SYN-ACK came from that MAC (fixed in Worker::answer_with_cookie: the port's
    # own MAC). The first SYN gives the client end; the patched segment is a SYN (flags ACK
    # XOR 0x12) whose first byte makes its destination MAC 01:00:00:00:00:01.
    "cookie_synack_from_borrowed_mac": snapshot(2) + syn(who=0, port=49000) + u8(PATCHED) +
    u8(0) + u8(0) + u8(0) + u8(0x12) + u16(0) + u8(4) + NO_PAYLOAD + u8(0) + u16(0) +
    u8(0x01) + u8(0) + snapshot(0),
    "rst_from_borrowed_mac": syn(who=0x50, port=46000, vport=7) + u8(PATCHED) + u8(0) +
    u8(0) + u8(0) + u8(0) + u16(502 ^ 502) + u8(4) + NO_PAYLOAD + u8(0) + u16(0) + u8(0x01) +
    u8(0),
}


def write(directory, programs):
    os.makedirs(directory, exist_ok=True)
    for name, program in programs.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(program)


if __name__ == "__main__":
    write(os.path.join(HERE, "corpus", "packet_path"), SEEDS)
    write(os.path.join(HERE, "regressions", "packet_path"), REGRESSIONS)
