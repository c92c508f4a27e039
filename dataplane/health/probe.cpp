// The health-check TCP client: each probe slot's handshake, bytes both ways, FINs and timers
// (RFC 9293 as a client needs it, RFC 5961 for blind resets, RFC 6298 for retransmission).
#include "health/probe.hpp"

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_tcp.h>

#include <algorithm>
#include <cstring>

#include "net/checksum.hpp"
#include "net/tcp_options.hpp"

namespace postern::dataplane {
namespace {

constexpr std::uint8_t kFin = RTE_TCP_FIN_FLAG;
constexpr std::uint8_t kSyn = RTE_TCP_SYN_FLAG;
constexpr std::uint8_t kRst = RTE_TCP_RST_FLAG;
constexpr std::uint8_t kPsh = RTE_TCP_PSH_FLAG;
constexpr std::uint8_t kAck = RTE_TCP_ACK_FLAG;

// RFC 9293 section 3.7.1: without an MSS option, IPv4 peers take 536 bytes.
constexpr std::uint16_t kDefaultPeerMss = 536;
constexpr std::uint32_t kProbePorts = 65536U - kProbeFirstPort;
constexpr std::uint32_t kRecvMask = ProbeTable::kRecvBuffer - 1;
static_assert((ProbeTable::kRecvBuffer & kRecvMask) == 0, "the reassembly ring is indexed by mask");

}  // namespace

ProbeTable::ProbeTable(std::uint32_t worker, std::uint32_t workers, const SeqOffsets& offsets)
    : offsets_(offsets), slots_(kProbeSlots), port_slot_(kProbePorts, kNoSlot) {
  workers = std::max<std::uint32_t>(workers, 1);
  for (std::uint32_t p = kProbeFirstPort; p <= 65535; ++p) {
    if (p % workers == worker) {
      port_ring_.push_back(static_cast<std::uint16_t>(p));
    }
  }
  port_count_ = static_cast<std::uint32_t>(port_ring_.size());
  std::memset(frame_, 0, sizeof frame_);
}

bool ProbeTable::busy(std::uint16_t slot) const noexcept {
  return slot < slots_.size() && slots_[slot].state != State::kFree;
}

std::uint16_t ProbeTable::local_port(std::uint16_t slot) const noexcept {
  return slot < slots_.size() ? slots_[slot].local_port : 0;
}

// ---- Commands ----

void ProbeTable::command_impl(const ProbeCommand& c, std::uint64_t now_ms, const Io& io) noexcept {
  if (c.op == ProbeOp::kShutdownServer) {
    return;
  }
  if (c.slot >= slots_.size()) {
    ++stats_.refused;
    return;
  }
  Slot& s = slots_[c.slot];
  const bool live = s.state == State::kSynSent || s.state == State::kConnected;
  switch (c.op) {
    case ProbeOp::kOpen:
      if (s.state != State::kFree) {
        ++stats_.refused;  // the engine reuses a slot only after its kFreed
        return;
      }
      open(s, c, now_ms, io);
      break;
    case ProbeOp::kSend:
      // A command for a slot that is ending or free crossed that slot's last events in the
      // rings: nothing to do.
      if (!live) {
        return;
      }
      queue(s, c, now_ms, io);
      break;
    case ProbeOp::kClose:
      if (!live) {
        return;
      }
      s.set(kFinQueued);
      output(s, now_ms, false, io);
      break;
    case ProbeOp::kAbort:
      if (!live) {
        return;
      }
      abort(s, now_ms, io);
      break;
    case ProbeOp::kShutdownServer:
      break;
  }
  schedule(s);
}

void ProbeTable::open(Slot& s, const ProbeCommand& c, std::uint64_t now_ms, const Io& io) noexcept {
  s.flags = 0;
  s.port_id = c.port_id;
  s.backoff = 0;
  s.last_word = false;
  s.local_ip = c.src_ip;
  s.remote_ip = c.dst_ip;
  s.remote_port = c.dst_port;
  s.next_hop = c.next_hop;
  s.snd_mss = kDefaultPeerMss;
  s.sbuf_len = 0;
  s.snd_wnd = 0;
  s.life_at = now_ms + kLifeMs;
  s.linger_at = 0;
  s.rto_at = 0;
  s.retry_at = 0;
  std::memset(s.rmap, 0, sizeof s.rmap);

  const std::uint16_t port = take_port();
  if (port == 0) {
    ++stats_.unreachable;
    finish(s, true, ProbeEventKind::kUnreachable, now_ms, io);
    return;
  }
  s.local_port = port;
  port_slot_[port - kProbeFirstPort] = slot_index(s);
  // The ISN for this 4-tuple as the splice's server side gets it (RFC 6528), keyed like
  // Flow::server_key(): a server still in TIME_WAIT on it takes our SYN as new.
  s.iss =
      offsets_.isn(FlowKey{s.remote_ip, s.local_ip, s.remote_port, rte_cpu_to_be_16(port)}, now_ms);
  s.snd_una = s.iss;
  s.snd_nxt = s.iss + 1;
  s.snd_max = s.snd_nxt;
  s.data_seq = s.snd_nxt;
  s.rcv_nxt = Seq(0);
  s.state = State::kSynSent;
  send(s, s.iss, kSyn, nullptr, 0, io);
  ++stats_.opens;
  s.rto_at = now_ms + kSynRtoMs;
}

void ProbeTable::queue(Slot& s, const ProbeCommand& c, std::uint64_t now_ms,
                       const Io& io) noexcept {
  if (c.len > kProbeChunk || (c.len != 0 && s.has(kFinQueued))) {
    ++stats_.refused;
    return;
  }
  if (s.sbuf_len + c.len > kSendBuffer) {
    // More than a check can mean: the request would reach the server cut. End the check now
    // so the engine sees it fail, as kAbort would.
    ++stats_.refused;
    abort(s, now_ms, io);
    return;
  }
  std::memcpy(s.sbuf + s.sbuf_len, c.data, c.len);
  s.sbuf_len = static_cast<std::uint16_t>(s.sbuf_len + c.len);
  if (c.fin) {
    s.set(kFinQueued);
  }
  output(s, now_ms, false, io);
}

void ProbeTable::abort(Slot& s, std::uint64_t now_ms, const Io& io) noexcept {
  if (s.state == State::kConnected && !s.has(kFinSent)) {
    if (s.snd_max == s.iss + 1) {
      // Not one byte of ours went, so no PROXY header can have: the server's end goes at once.
      send(s, s.snd_nxt, kRst | kAck, nullptr, 0, io);
      ++stats_.rsts_sent;
    } else {
      // Bytes went, a PROXY header among them maybe: Postfix's smtpd exits fatally when a RST
      // follows one. A FIN after everything sent is an ordinary end of the stream.
      send(s, s.snd_max, kFin | kAck, nullptr, 0, io);
    }
  }
  finish(s, false, ProbeEventKind::kFreed, now_ms, io);
}

// ---- Segments ----

bool ProbeTable::segment_impl(const FrameView& v, std::uint64_t now_ms, const Io& io) noexcept {
  if (v.ip == nullptr || v.tcp == nullptr) {
    return false;
  }
  Slot* sp = slot_by_port(rte_be_to_cpu_16(v.tcp->dst_port));
  if (sp == nullptr || v.ip->src_addr != sp->remote_ip || v.tcp->src_port != sp->remote_port ||
      v.ip->dst_addr != sp->local_ip) {
    return false;
  }
  Slot& s = *sp;
  Seg g;
  g.seq = Seq(rte_be_to_cpu_32(v.tcp->sent_seq));
  g.ack = Seq(rte_be_to_cpu_32(v.tcp->recv_ack));
  g.flags = v.tcp->tcp_flags;
  g.win = rte_be_to_cpu_16(v.tcp->rx_win);
  g.data = v.payload();
  g.len = v.payload_len;
  if (s.state == State::kSynSent) {
    on_syn_sent(s, v, g, now_ms, io);
  } else if (s.state == State::kConnected) {
    on_connected(s, g, now_ms, io);
  }
  // kEnding: the probe is over for us; stragglers are absorbed until its kFreed is out.
  schedule(s);
  return true;
}

void ProbeTable::on_syn_sent(Slot& s, const FrameView& v, const Seg& g, std::uint64_t now_ms,
                             const Io& io) noexcept {
  const bool has_ack = (g.flags & kAck) != 0;
  const bool acks_syn = has_ack && g.ack == s.iss + 1;
  if ((g.flags & kRst) != 0) {
    // RFC 9293 section 3.10.7.3: a RST is taken in SYN-SENT only if it acknowledges our SYN
    // (the port is closed); one without ACK could be anyone's.
    if (acks_syn) {
      ++stats_.resets;
      finish(s, true, ProbeEventKind::kReset, now_ms, io);
    }
    return;
  }
  if (has_ack && !acks_syn) {
    // It acknowledges something we never sent: a connection the server still holds on this
    // 4-tuple from an earlier check. RFC 9293 section 3.10.7.3: <SEQ=SEG.ACK><CTL=RST> ends
    // it; our SYN goes again on its timer.
    send(s, g.ack, kRst, nullptr, 0, io);
    ++stats_.rsts_sent;
    return;
  }
  if ((g.flags & (kSyn | kAck)) != (kSyn | kAck)) {
    return;  // a bare SYN (simultaneous open) or no control bits: nothing a check needs
  }
  // No kConnected, no ACK: the server sends its SYN-ACK again, as for a lost ACK.
  if (!emit(s, ProbeEventKind::kConnected, io)) {
    return;
  }
  const TcpOptions opts = parse_tcp_options(v.tcp_options(), v.tcp_options_len());
  const std::uint16_t peer_mss = opts.mss != 0 ? opts.mss : kDefaultPeerMss;
  s.snd_mss = std::clamp<std::uint16_t>(peer_mss, kMinPeerMss, kMss);
  // Bytes on the SYN-ACK (TCP Fast Open) are not taken; the server sends them again.
  s.rcv_nxt = g.seq + 1;
  s.snd_una = g.ack;
  s.snd_wnd = g.win;  // never scaled: we offered no window scale (RFC 7323 section 2.2)
  s.snd_wl1 = g.seq;
  s.snd_wl2 = g.ack;
  s.state = State::kConnected;
  s.backoff = 0;
  s.rto_at = 0;
  ++stats_.connected;
  send_ack(s, io);
  output(s, now_ms, false, io);
}

void ProbeTable::on_connected(Slot& s, const Seg& g, std::uint64_t now_ms, const Io& io) noexcept {
  if ((g.flags & kRst) != 0) {
    // RFC 5961 section 3.2: only a RST at exactly RCV.NXT resets; one elsewhere in the window
    // gets a challenge ACK, to which a peer that really reset answers with an exact RST.
    if (g.seq == s.rcv_nxt) {
      ++stats_.resets;
      finish(s, true, ProbeEventKind::kReset, now_ms, io);
    } else if (after(g.seq, s.rcv_nxt) && before(g.seq, s.rcv_nxt + kWindow)) {
      send_ack(s, io);
    }
    return;
  }
  if ((g.flags & kSyn) != 0) {
    // RFC 5961 section 4.2: a SYN once synchronized gets a challenge ACK. That is also the
    // answer to a SYN-ACK sent again because our ACK was lost.
    send_ack(s, io);
    return;
  }
  if ((g.flags & kAck) == 0) {
    return;  // RFC 9293 section 3.10.7.4, fifth check
  }
  const std::uint16_t fin = (g.flags & kFin) != 0 ? 1 : 0;
  // Sequence check (RFC 9293 section 3.10.7.4, first): beyond the window, or wholly before
  // RCV.NXT, the segment is only answered with an ACK. A segment ending at RCV.NXT (a
  // retransmission of what we have) goes on, so its acknowledgement counts, as in Linux.
  if (!before(g.seq, s.rcv_nxt + kWindow) || before(g.seq + g.len + fin, s.rcv_nxt)) {
    send_ack(s, io);
    return;
  }
  if (after(g.ack, s.snd_max)) {
    send_ack(s, io);  // it acknowledges what we never sent (RFC 9293 section 3.10.7.4)
    return;
  }
  take_ack(s, g, now_ms);

  bool ack_now = false;
  if (g.len != 0 && !s.has(kPeerFin)) {
    const bool in_order = before_eq(g.seq, s.rcv_nxt) && after(g.seq + g.len, s.rcv_nxt);
    const bool ahead = after(g.seq, s.rcv_nxt);
    if (in_order || ahead) {
      store(s, g);
    }
    if (in_order) {
      // Nothing handed over means the event ring is full: no ACK, the server sends it again.
      ack_now = deliver(s, io) != 0;
    } else {
      // A duplicate (our ACK was lost: say again) or a gap (a duplicate ACK at once, RFC 5681
      // section 4.2, so the server retransmits fast).
      ack_now = true;
    }
  } else if (g.len != 0) {
    ack_now = true;  // bytes at or after the server's own FIN: ACK what we have
  }
  if (fin != 0 && s.has(kPeerFin)) {
    ack_now = true;  // its FIN again: our ACK was lost
  } else if (fin != 0 && !before(g.seq + g.len, s.rcv_nxt)) {
    // Taken once every byte before it is in: now, or when a gap fills (or, when the event
    // ring was full, when the bytes are handed over after all).
    s.set(kPeerFinAhead);
    s.peer_fin_seq = g.seq + g.len;
    if (g.len == 0 && after(s.peer_fin_seq, s.rcv_nxt)) {
      ack_now = true;  // a FIN beyond a gap: a duplicate ACK, as for bytes
    }
  }
  if (s.has(kPeerFinAhead) && !s.has(kPeerFin) && s.peer_fin_seq == s.rcv_nxt) {
    ack_now = take_fin(s, io) || ack_now;
  }
  const bool sent = output(s, now_ms, false, io);
  if (ack_now && !sent) {
    send_ack(s, io);
  }
  finish_if_done(s, now_ms, io);
}

void ProbeTable::take_ack(Slot& s, const Seg& g, std::uint64_t now_ms) noexcept {
  if (after(g.ack, s.snd_una)) {
    const auto acked = static_cast<std::uint32_t>(g.ack - s.data_seq);
    const auto data_acked = static_cast<std::uint16_t>(std::min<std::uint32_t>(acked, s.sbuf_len));
    if (data_acked != 0) {
      std::memmove(s.sbuf, s.sbuf + data_acked, s.sbuf_len - data_acked);
      s.sbuf_len = static_cast<std::uint16_t>(s.sbuf_len - data_acked);
      s.data_seq = s.data_seq + data_acked;
    }
    if (s.has(kFinSent) && s.sbuf_len == 0 && g.ack == s.data_seq + 1) {
      s.set(kFinAcked);
    }
    s.snd_una = g.ack;
    if (before(s.snd_nxt, s.snd_una)) {
      s.snd_nxt = s.snd_una;
    }
    // RFC 6298 section 5.3: new data acknowledged restarts the timer; 5.2: all of it stops it.
    s.backoff = 0;
    s.rto_at = s.snd_una == s.snd_max ? 0 : now_ms + kRtoMs;
  }
  // RFC 9293 section 3.10.7.4: the window is taken from the newest segment only, and from
  // none whose acknowledgement is older than SND.UNA.
  if (before_eq(s.snd_una, g.ack) &&
      (before(s.snd_wl1, g.seq) || (s.snd_wl1 == g.seq && before_eq(s.snd_wl2, g.ack)))) {
    s.snd_wnd = g.win;
    s.snd_wl1 = g.seq;
    s.snd_wl2 = g.ack;
  }
}

void ProbeTable::store(Slot& s, const Seg& g) noexcept {
  Seq seq = g.seq;
  const std::uint8_t* data = g.data;
  std::uint32_t len = g.len;
  const std::int32_t old = s.rcv_nxt - seq;
  if (old > 0) {
    seq = s.rcv_nxt;
    data += old;
    len -= static_cast<std::uint32_t>(old);
  }
  const auto off = static_cast<std::uint32_t>(seq - s.rcv_nxt);
  if (off >= kRecvBuffer) {
    return;
  }
  len = std::min(len, kRecvBuffer - off);
  if (s.has(kPeerFinAhead)) {
    // Nothing after the server's FIN is data.
    len = std::min<std::uint32_t>(len, std::max<std::int32_t>(s.peer_fin_seq - seq, 0));
  }
  for (std::uint32_t i = 0; i < len; ++i) {
    const std::uint32_t pos = (seq + static_cast<std::int32_t>(i)).value() & kRecvMask;
    s.rbuf[pos] = data[i];
    s.rmap[pos / 64] |= std::uint64_t{1} << (pos % 64);
  }
}

std::uint32_t ProbeTable::deliver(Slot& s, const Io& io) noexcept {
  std::uint32_t total = 0;
  for (;;) {
    ProbeEvent e;
    e.kind = ProbeEventKind::kData;
    e.slot = slot_index(s);
    std::uint16_t n = 0;
    while (n < kProbeChunk) {
      const std::uint32_t pos = (s.rcv_nxt + n).value() & kRecvMask;
      if ((s.rmap[pos / 64] & (std::uint64_t{1} << (pos % 64))) == 0) {
        break;
      }
      e.data[n] = s.rbuf[pos];
      ++n;
    }
    if (n == 0) {
      break;
    }
    e.len = n;
    if (!io.emit(io.emit_ctx, e)) {
      break;  // the bytes stay in the ring; the server's retransmission tries again
    }
    for (std::uint16_t i = 0; i < n; ++i) {
      const std::uint32_t pos = (s.rcv_nxt + i).value() & kRecvMask;
      s.rmap[pos / 64] &= ~(std::uint64_t{1} << (pos % 64));
    }
    s.rcv_nxt = s.rcv_nxt + n;
    total += n;
  }
  return total;
}

bool ProbeTable::take_fin(Slot& s, const Io& io) noexcept {
  if (!emit(s, ProbeEventKind::kPeerClosed, io)) {
    return false;  // not acknowledged: the server sends its FIN again
  }
  s.rcv_nxt = s.rcv_nxt + 1;
  s.set(kPeerFin);
  s.clear(kPeerFinAhead);
  // Nothing the server sends after its FIN is data; forget whatever was stored past it.
  std::memset(s.rmap, 0, sizeof s.rmap);
  return true;
}

// ---- Output ----

bool ProbeTable::output(Slot& s, std::uint64_t now_ms, bool one, const Io& io) noexcept {
  if (s.state != State::kConnected) {
    return false;
  }
  bool sent = false;
  const Seq data_end = s.data_seq + s.sbuf_len;
  while (before(s.snd_nxt, data_end)) {
    std::int32_t room = (s.snd_una + static_cast<std::int32_t>(s.snd_wnd)) - s.snd_nxt;
    if (room <= 0) {
      if (!one) {
        break;
      }
      room = 1;  // a window probe (RFC 9293 section 3.8.6.1)
    }
    const auto off = static_cast<std::uint16_t>(s.snd_nxt - s.data_seq);
    const auto len =
        static_cast<std::uint16_t>(std::min<std::int32_t>({s.snd_mss, data_end - s.snd_nxt, room}));
    const bool last = s.snd_nxt + len == data_end;
    const bool fin = last && s.has(kFinQueued);
    const auto flags = static_cast<std::uint8_t>(kAck | (last ? kPsh : 0) | (fin ? kFin : 0));
    send(s, s.snd_nxt, flags, s.sbuf + off, len, io);
    s.snd_nxt = s.snd_nxt + len + (fin ? 1 : 0);
    if (fin) {
      note_fin_sent(s, now_ms);
    }
    sent = true;
    if (after(s.snd_nxt, s.snd_max)) {
      s.snd_max = s.snd_nxt;
    }
    if (one) {
      break;
    }
  }
  if (!sent && s.has(kFinQueued) && s.snd_nxt == data_end) {
    // A FIN takes no window (RFC 9293 section 3.8.6: the window covers data).
    send(s, s.snd_nxt, kFin | kAck, nullptr, 0, io);
    s.snd_nxt = s.snd_nxt + 1;
    if (after(s.snd_nxt, s.snd_max)) {
      s.snd_max = s.snd_nxt;
    }
    note_fin_sent(s, now_ms);
    sent = true;
  }
  // The timer runs while anything is unacknowledged, or bytes wait for a closed window.
  const bool pending = s.snd_una != s.snd_max || before(s.snd_nxt, s.data_seq + s.sbuf_len);
  if (!pending) {
    s.rto_at = 0;
  } else if (s.rto_at == 0) {
    s.rto_at = now_ms + (kRtoMs << s.backoff);
  }
  return sent;
}

void ProbeTable::note_fin_sent(Slot& s, std::uint64_t now_ms) noexcept {
  if (!s.has(kFinSent)) {
    s.set(kFinSent);
    s.linger_at = now_ms + kLingerMs;
  }
}

void ProbeTable::send(const Slot& s, Seq seq, std::uint8_t flags, const std::uint8_t* data,
                      std::uint16_t len, const Io& io) noexcept {
  const std::uint16_t opt_len = (flags & kSyn) != 0 ? 4 : 0;
  const auto tcp_len = static_cast<std::uint16_t>(sizeof(rte_tcp_hdr) + opt_len + len);
  const rte_ether_addr zero{};
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(
      write_ipv4_headers(frame_, zero, zero, s.local_ip, s.remote_ip, IPPROTO_TCP, tcp_len));
  tcp->src_port = rte_cpu_to_be_16(s.local_port);
  tcp->dst_port = s.remote_port;
  tcp->sent_seq = rte_cpu_to_be_32(seq.value());
  tcp->recv_ack = (flags & kAck) != 0 ? rte_cpu_to_be_32(s.rcv_nxt.value()) : 0;
  tcp->data_off = static_cast<std::uint8_t>(((sizeof(rte_tcp_hdr) + opt_len) / 4) << 4);
  tcp->tcp_flags = flags;
  tcp->rx_win = rte_cpu_to_be_16(kWindow);
  tcp->cksum = 0;
  tcp->tcp_urp = 0;
  auto* p = reinterpret_cast<std::uint8_t*>(tcp + 1);
  if (opt_len != 0) {
    p[0] = 2;  // MSS (RFC 9293 section 3.2)
    p[1] = 4;
    p[2] = static_cast<std::uint8_t>(kMss >> 8);
    p[3] = static_cast<std::uint8_t>(kMss & 0xff);
    p += opt_len;
  }
  if (len != 0) {
    std::memcpy(p, data, len);
  }
  tcp->cksum = tcp4_checksum(s.local_ip, s.remote_ip, tcp, tcp_len);
  io.out(io.out_ctx, s.port_id, s.next_hop, frame_,
         static_cast<std::uint16_t>(sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + tcp_len));
}

void ProbeTable::send_ack(const Slot& s, const Io& io) noexcept {
  send(s, s.snd_nxt, kAck, nullptr, 0, io);
}

void ProbeTable::retransmit(Slot& s, std::uint64_t now_ms, const Io& io) noexcept {
  ++stats_.retransmits;
  if (s.backoff < kMaxBackoff) {
    ++s.backoff;
  }
  s.rto_at = 0;
  if (s.state == State::kSynSent) {
    send(s, s.iss, kSyn, nullptr, 0, io);
    s.rto_at = now_ms + (kSynRtoMs << s.backoff);
    return;
  }
  // RFC 5681 section 3.1 and RFC 6298 section 5.4: after a timeout, one segment from
  // SND.UNA; the ACKs that follow clock out the rest (go-back-N).
  s.snd_nxt = s.snd_una;
  output(s, now_ms, true, io);
}

// ---- The end of a probe ----

void ProbeTable::finish(Slot& s, bool with_kind, ProbeEventKind kind, std::uint64_t now_ms,
                        const Io& io) noexcept {
  s.state = State::kEnding;
  s.last_word = with_kind;
  s.last_kind = kind;
  s.life_at = 0;
  s.linger_at = 0;
  s.rto_at = 0;
  s.retry_at = 0;
  flush_events(s, now_ms, io);
}

void ProbeTable::flush_events(Slot& s, std::uint64_t now_ms, const Io& io) noexcept {
  if (s.last_word) {
    if (!emit(s, s.last_kind, io)) {
      s.retry_at = now_ms + 1;
      return;
    }
    s.last_word = false;
  }
  if (!emit(s, ProbeEventKind::kFreed, io)) {
    s.retry_at = now_ms + 1;
    return;
  }
  release(s);
}

void ProbeTable::finish_if_done(Slot& s, std::uint64_t now_ms, const Io& io) noexcept {
  // Both FINs sent and acknowledged: no TIME_WAIT for a client whose next SYN on this
  // 4-tuple carries a larger ISN (RFC 6191), so the slot is free at once.
  if (s.state == State::kConnected && s.has(kFinAcked) && s.has(kPeerFin)) {
    finish(s, false, ProbeEventKind::kFreed, now_ms, io);
  }
}

bool ProbeTable::emit(const Slot& s, ProbeEventKind kind, const Io& io) noexcept {
  ProbeEvent e;
  e.kind = kind;
  e.slot = slot_index(s);
  return io.emit(io.emit_ctx, e);
}

void ProbeTable::release(Slot& s) noexcept {
  if (s.local_port != 0) {
    port_slot_[s.local_port - kProbeFirstPort] = kNoSlot;
    give_back_port(s.local_port);
    s.local_port = 0;
  }
  s.state = State::kFree;
  s.life_at = 0;
  s.linger_at = 0;
  s.rto_at = 0;
  s.retry_at = 0;
  s.due = kNever;
}

// ---- Timers ----

void ProbeTable::tick_impl(std::uint64_t now_ms, const Io& io) noexcept {
  std::uint64_t next = kNever;
  for (Slot& s : slots_) {
    if (s.state == State::kFree) {
      continue;
    }
    if (s.due <= now_ms) {
      if (s.state == State::kEnding) {
        flush_events(s, now_ms, io);
      } else if (s.life_at <= now_ms || (s.linger_at != 0 && s.linger_at <= now_ms)) {
        // Never a RST here: a PROXY header may have gone (see abort()).
        ++stats_.expired;
        finish(s, false, ProbeEventKind::kFreed, now_ms, io);
      } else if (s.rto_at != 0 && s.rto_at <= now_ms) {
        retransmit(s, now_ms, io);
      }
      schedule(s);
    }
    if (s.state != State::kFree) {
      next = std::min(next, s.due);
    }
  }
  next_due_ = next;
}

void ProbeTable::schedule(Slot& s) noexcept {
  std::uint64_t due = kNever;
  for (const std::uint64_t t : {s.life_at, s.linger_at, s.rto_at, s.retry_at}) {
    if (t != 0) {
      due = std::min(due, t);
    }
  }
  s.due = due;
  next_due_ = std::min(next_due_, due);
}

// ---- Errors from the network and the worker ----

bool ProbeTable::icmp_impl(const IcmpQuote& q, std::uint64_t now_ms, const Io& io) noexcept {
  Slot* sp = slot_by_port(rte_be_to_cpu_16(q.sport));
  if (sp == nullptr || q.src != sp->local_ip || q.dst != sp->remote_ip ||
      q.dport != sp->remote_port) {
    return false;
  }
  Slot& s = *sp;
  // Fragmentation needed is not about reachability, and the MSS is not lowered for it: a
  // check's segments are a few hundred bytes. (A full-sized one on a path with a smaller MTU
  // goes unacknowledged until the linger or life bound.)
  if (s.state != State::kSynSent || q.type != kIcmpDestUnreachable ||
      q.code == kIcmpCodeFragNeeded || q.seq != s.iss) {
    return true;
  }
  ++stats_.unreachable;
  finish(s, true, ProbeEventKind::kUnreachable, now_ms, io);
  schedule(s);
  return true;
}

bool ProbeTable::unreachable_impl(std::uint16_t local_port, std::uint64_t now_ms,
                                  const Io& io) noexcept {
  Slot* sp = slot_by_port(local_port);
  if (sp == nullptr) {
    return false;
  }
  Slot& s = *sp;
  if (s.state == State::kSynSent || s.state == State::kConnected) {
    ++stats_.unreachable;
    finish(s, true, ProbeEventKind::kUnreachable, now_ms, io);
    schedule(s);
  }
  return true;
}

// ---- Slots and ports ----

std::uint16_t ProbeTable::slot_index(const Slot& s) const noexcept {
  return static_cast<std::uint16_t>(&s - slots_.data());
}

ProbeTable::Slot* ProbeTable::slot_by_port(std::uint16_t port) noexcept {
  if (port < kProbeFirstPort) {
    return nullptr;
  }
  const std::uint16_t i = port_slot_[port - kProbeFirstPort];
  return i == kNoSlot ? nullptr : &slots_[i];
}

std::uint16_t ProbeTable::take_port() noexcept {
  if (port_count_ == 0) {
    return 0;
  }
  const std::uint16_t p = port_ring_[port_head_];
  port_head_ = (port_head_ + 1) % static_cast<std::uint32_t>(port_ring_.size());
  --port_count_;
  return p;
}

void ProbeTable::give_back_port(std::uint16_t port) noexcept {
  const auto size = static_cast<std::uint32_t>(port_ring_.size());
  if (port_count_ == size) {
    return;
  }
  port_ring_[(port_head_ + port_count_) % size] = port;
  ++port_count_;
}

}  // namespace postern::dataplane
