// The splice state machine: handshake (RFC 9293 3.5), the header's sequence space, FIN and
// RST (RFC 9293 3.6, RFC 5961), and the timers of DESIGN.md step 6.
#include "flow/tcp_splice.hpp"

#include <rte_byteorder.h>
#include <rte_tcp.h>

#include <algorithm>
#include <cstring>

#include "flow/segment_screen.hpp"
#include "net/tcp_options.hpp"

namespace postern::dataplane::splice {
namespace {

Action forward(std::uint16_t flags = 0) {
  return {Verdict::kForward, DropReason::kCount, flags, 0};
}
Action drop(DropReason r) {
  return {Verdict::kDrop, r, 0, 0};
}

// The window a segment advertises in bytes: SYN segments are never scaled (RFC 7323 2.2).
std::uint32_t window_bytes(const Segment& s, std::uint8_t scale, bool scaled) {
  const std::uint32_t w = s.win;
  return (scaled && !s.syn()) ? (w << scale) : w;
}

// Records a segment's acknowledgement if it moves forward.
void note_ack(Seq& acked, const Segment& s) {
  if (s.ack_set() && after(s.ack, acked)) {
    acked = s.ack;
  }
}

// The header goes out now: from here on the client's bytes are shifted by its length.
std::uint16_t commit_header(Flow& f, std::uint16_t consumed, std::uint64_t now_ms) {
  f.in_len = consumed;
  f.delta = static_cast<std::int32_t>(f.hdr_len) - consumed;
  f.set(kFlowHeaderSent);
  f.state = FlowState::kEstablished;
  f.deadline_ms = 0;
  if (f.hdr_len == 0) {
    return kActArm | kActServerOk;
  }
  f.set(kFlowHeaderUnacked);
  f.rtx_count = 0;
  f.rtx_at_ms = now_ms + kHeaderRtoMs;
  return kActSendHeader | kActHeaderFirstSent | kActArm;
}

// Where the session was when it ended, as HAProxy's second termination letter names it.
EndPhase phase_of(FlowState state) {
  switch (state) {
    case FlowState::kSynSent:
    case FlowState::kSynReceived:
      return EndPhase::kConnect;
    case FlowState::kAwaitHeader:
      return EndPhase::kRequest;
    default:
      return EndPhase::kData;
  }
}

Action close(Flow& f, std::uint16_t flags, std::uint64_t now_ms, EndCause cause) {
  f.end = cause == EndCause::kNone ? SessionEnd{} : SessionEnd{cause, phase_of(f.state)};
  f.state = FlowState::kClosed;
  f.rtx_at_ms = 0;
  f.deadline_ms = 0;
  f.clear(kFlowHeaderUnacked);
  f.last_seen_ms = now_ms;
  Action a = forward(static_cast<std::uint16_t>(flags | kActClose | kActArm));
  return a;
}

// Both FINs sent and acknowledged: the connection is over on both sides.
bool both_fins_acked(const Flow& f) {
  return f.has(kFlowClientFinAcked) && f.has(kFlowServerFinAcked);
}

}  // namespace

Segment read_segment(const FrameView& v, bool options) noexcept {
  Segment s;
  s.seq = Seq(rte_be_to_cpu_32(v.tcp->sent_seq));
  s.ack = Seq(rte_be_to_cpu_32(v.tcp->recv_ack));
  s.flags = v.tcp->tcp_flags;
  s.win = rte_be_to_cpu_16(v.tcp->rx_win);
  s.payload_len = v.payload_len;
  s.opts = v.tcp_options();
  s.opts_len = static_cast<std::uint8_t>(v.tcp_options_len());
  if (options && s.opts_len != 0) {
    const TcpOptions o = parse_tcp_options(s.opts, s.opts_len);
    s.has_ts = o.has_timestamp;
    s.ts_val = o.ts_val;
    s.ts_ecr = o.ts_ecr;
    s.sack_permitted = o.sack_permitted;
    s.wscale = o.wscale;
  }
  return s;
}

bool rst_in_window(Seq seq, Seq rcv_nxt, std::uint32_t wnd) noexcept {
  // Inclusive right edge as Linux's tcp_sequence(): a receiver's RCV.NXT may be ahead of the
  // last acknowledgement Postern saw, never behind it.
  const std::int64_t d = seq - rcv_nxt;
  return d >= 0 && d <= static_cast<std::int64_t>(std::max<std::uint32_t>(wnd, 1));
}

Seq to_client_ack(const Flow& f, Seq ack) noexcept {
  if (f.has(kFlowHeaderSent) && f.hdr_len != 0 && before(ack, f.header_end())) {
    return f.client_isn + 1;
  }
  return ack - f.seq_shift();
}

void start(Flow& f, const Segment& syn, std::uint64_t now_ms) noexcept {
  f.client_isn = syn.seq;
  f.syn_win = syn.win;
  f.client_win = syn.win;
  f.client_wnd = syn.win;
  f.syn_opts_len = std::min<std::uint8_t>(syn.opts_len, sizeof f.syn_opts);
  if (f.syn_opts_len != 0) {
    std::memcpy(f.syn_opts, syn.opts, f.syn_opts_len);
  }
  // Offered by the client; confirmed or cleared by the SYN-ACK.
  f.clear(kFlowTimestamps);
  f.clear(kFlowSack);
  f.clear(kFlowWindowScale);
  if (syn.has_ts) {
    f.set(kFlowTimestamps);
    // Until the handshake ACK says otherwise, the header segment repeats the SYN's TSval.
    f.ts_val = syn.ts_val;
    f.ts_ecr = 0;
  }
  if (syn.sack_permitted) {
    f.set(kFlowSack);
  }
  if (syn.wscale >= 0) {
    f.set(kFlowWindowScale);
    f.client_wscale = static_cast<std::uint8_t>(std::min<std::int16_t>(syn.wscale, 14));
  }
  f.state = FlowState::kSynSent;
  f.last_seen_ms = now_ms;
}

Action on_client(Flow& f, const Segment& s, std::uint64_t now_ms) noexcept {
  if (f.state == FlowState::kClosed) {
    if (s.syn() && !s.rst()) {
      // The client reuses its port for a new connection while the old flow lingers.
      return {Verdict::kRestart, DropReason::kCount, 0, 0};
    }
    // Stragglers of a closed flow change nothing: the flow stays closed and goes when its
    // linger ends. Retransmitted FINs and final ACKs pass; the rest is absorbed.
    return straggler_passes(f, s, true) ? forward() : drop(DropReason::kFlowClosed);
  }
  if (client_ack_beyond_sent(f, s)) {
    return drop(DropReason::kAckOutOfWindow);
  }
  // SYN retransmissions do not postpone `timeout connect`: it runs from the first SYN.
  if (f.state != FlowState::kSynSent) {
    f.last_seen_ms = now_ms;
  }
  if (s.rst()) {
    // Where the server expects the client's next byte, in the server's view.
    const bool believed = f.state == FlowState::kSynSent || f.state == FlowState::kSynReceived ||
                          rst_in_window(s.seq + f.seq_shift(), f.server_acked, f.server_wnd);
    if (!believed) {
      return forward();
    }
    if (f.state != FlowState::kSynSent && f.state != FlowState::kSynReceived) {
      // A RST|ACK says what the client took: its delayed ACK may never have gone out (the
      // log's byte count reads the acknowledgements).
      note_ack(f.client_acked, s);
    }
    return close(f, 0, now_ms, EndCause::kClientAbort);
  }
  if (f.state == FlowState::kSynSent) {
    if (!s.syn()) {
      return drop(DropReason::kNoFlow);
    }
    // A retransmitted SYN follows the first one. A SYN with another ISN is a new attempt by
    // the client: the server-side ISN stays (so the server sees a retransmission), the
    // offset to the client's space moves.
    if (s.seq != f.client_isn) {
      const Seq server_side = f.client_isn + static_cast<std::int32_t>(f.isn_off);
      const std::uint32_t ts_off = f.ts_off;
      start(f, s, f.last_seen_ms);
      f.isn_off = static_cast<std::uint32_t>(server_side - f.client_isn);
      f.ts_off = ts_off;
    }
    return forward();
  }
  note_ack(f.client_acked, s);
  if (s.ack_set()) {
    f.client_win = s.win;
    f.client_wnd = window_bytes(s, f.client_wscale, f.has(kFlowWindowScale));
  }
  if (s.has_ts && (f.state == FlowState::kSynReceived || f.has(kFlowHeaderUnacked) ||
                   f.state == FlowState::kAwaitHeader)) {
    // The header segment repeats the client's latest timestamps (RFC 7323 section 3.2: a
    // segment must carry a TSval no older than the ones before it).
    f.ts_val = s.ts_val;
    f.ts_ecr = s.ts_ecr;
  }
  std::uint16_t flags = 0;
  if (f.state == FlowState::kSynReceived) {
    if (s.syn() || !s.ack_set()) {
      return forward();  // a retransmitted SYN: the server answers it again
    }
    // The handshake completes with the SYN-ACK the client acknowledged: a server may answer
    // a retransmitted SYN with another ISN (SYN cookies, a request that expired), and our
    // header must acknowledge the one the client took.
    const Seq acked_isn = s.ack - 1;
    if (acked_isn != f.server_isn && acked_isn != f.server_isn_prev) {
      return forward();  // acknowledges no SYN-ACK we passed on: the server judges it
    }
    f.server_isn = acked_isn;
    f.client_acked = s.ack;
    if (f.has(kFlowAcceptProxy)) {
      f.state = FlowState::kAwaitHeader;
      // Absolute: a trickle of header bytes does not extend it.
      f.deadline_ms = now_ms + kAcceptProxyTimeoutMs;
      flags = kActArm;
    } else if (f.has(kFlowSendProxy) && f.hdr_len != 0) {
      // Mail servers speak first: the header goes out now, on the handshake ACK, ahead of
      // the client segment that completed the handshake (DESIGN.md step 3).
      flags = commit_header(f, 0, now_ms);
    } else {
      f.state = FlowState::kEstablished;
      f.deadline_ms = 0;
      flags = kActArm | kActServerOk;
    }
  }
  if (f.state == FlowState::kAwaitHeader) {
    if (s.payload_len == 0 && !s.fin()) {
      return forward(flags);  // the handshake ACK and pure ACKs: no bytes move yet
    }
    return {Verdict::kReadHeader, DropReason::kCount, flags, 0};
  }
  Action a = forward(flags);
  if (f.in_len != 0 && s.payload_len != 0 && before(s.seq, f.client_first())) {
    // The upstream proxy sends its header again after Postern consumed it: those bytes
    // must never reach the server (they would land where our header sits).
    const std::int32_t stale = f.client_first() - s.seq;
    if (stale >= s.payload_len && !s.fin()) {
      return drop(DropReason::kProxyHeaderRepeated);
    }
    a.trim = static_cast<std::uint16_t>(std::min<std::int32_t>(stale, s.payload_len));
  }
  if (s.fin() && !f.has(kFlowClientFin)) {
    f.set(kFlowClientFin);
    f.client_fin_seq = s.seq + static_cast<std::int32_t>(s.payload_len);
    f.state = FlowState::kClosing;
  }
  if (s.ack_set() && f.has(kFlowServerFin) && !f.has(kFlowServerFinAcked) &&
      after(s.ack, f.server_fin_seq)) {
    f.set(kFlowServerFinAcked);
  }
  if (both_fins_acked(f)) {
    Action c = close(f, a.flags, now_ms, EndCause::kNone);
    c.trim = a.trim;
    return c;
  }
  return a;
}

Action on_server(Flow& f, const Segment& s, std::uint64_t now_ms) noexcept {
  if (s.rst()) {
    if (f.state == FlowState::kSynSent) {
      // In SYN-SENT a RST counts only if it acknowledges our SYN (RFC 9293 3.10.7.3);
      // anything else is stale or forged.
      if (!s.ack_set() || s.ack != f.server_first()) {
        return drop(DropReason::kBadTcpHeader);
      }
      // Refused by this server: like an unanswered SYN, the next one if allowed; else the
      // client gets the RST.
      return close(f, kActRedispatch | kActConnectFailure, now_ms, EndCause::kServerAbort);
    }
    if (f.state == FlowState::kClosed) {
      return straggler_passes(f, s, false) ? forward() : drop(DropReason::kFlowClosed);
    }
    if (rst_in_window(s.seq, f.client_acked, f.client_wnd)) {
      note_ack(f.server_acked, s);  // what the server took, as for the client's RST
      return close(f, 0, now_ms, EndCause::kServerAbort);
    }
    // A RST the client would not take (RFC 5961 3.2): still passed on, for the end host to
    // judge, but it does not make Postern forget a connection that may well survive it.
    return forward();
  }
  if (f.state == FlowState::kClosed) {
    return straggler_passes(f, s, false) ? forward() : drop(DropReason::kFlowClosed);
  }
  if (server_ack_beyond_sent(f, s)) {
    return drop(DropReason::kAckOutOfWindow);
  }
  f.last_seen_ms = now_ms;
  if (s.syn()) {
    if (!s.ack_set()) {
      // A SYN towards our source port (simultaneous open, RFC 9293 section 3.5): never a
      // reply to the SYN we sent. The flow goes on as if it had not come.
      return drop(DropReason::kSimultaneousOpen);
    }
    if (s.ack != f.server_first()) {
      return drop(DropReason::kBadSynAck);  // acknowledges no SYN of this flow
    }
    if (f.state == FlowState::kSynSent) {
      f.set(kFlowSynAcked);
      f.synack_ms = static_cast<std::uint32_t>(now_ms - f.accept_ms);
      f.server_isn = s.seq;
      f.server_isn_prev = s.seq;
      f.server_acked = s.ack;
      f.server_wnd = s.win;
      if (!s.has_ts) {
        f.clear(kFlowTimestamps);
      }
      if (!s.sack_permitted) {
        f.clear(kFlowSack);
      }
      if (s.wscale < 0 || !f.has(kFlowWindowScale)) {
        f.clear(kFlowWindowScale);
        f.client_wscale = 0;
        f.server_wscale = 0;
      } else {
        f.server_wscale = static_cast<std::uint8_t>(std::min<std::int16_t>(s.wscale, 14));
      }
      f.state = FlowState::kSynReceived;
    } else if (f.state == FlowState::kSynReceived && s.seq != f.server_isn) {
      // Another ISN for the same SYN (see on_client): keep both until the client chooses.
      f.server_isn_prev = f.server_isn;
      f.server_isn = s.seq;
    }
    if (f.state == FlowState::kSynReceived) {
      // Until the client says otherwise it expects what follows this SYN-ACK, and echoes
      // its TSval (the header's TSecr if the handshake ACK carries none).
      f.client_acked = s.seq + 1;
      if (s.has_ts) {
        f.ts_ecr = s.ts_val;
      }
      return forward(kActArm);
    }
    return forward();  // a SYN-ACK sent again after the handshake: the client ACKs it again
  }
  if (f.state == FlowState::kSynSent) {
    return drop(DropReason::kNoFlow);
  }
  note_ack(f.server_acked, s);
  if (s.ack_set()) {
    f.server_wnd = window_bytes(s, f.server_wscale, f.has(kFlowWindowScale));
  }
  std::uint16_t flags = 0;
  if (s.ack_set() && f.has(kFlowHeaderUnacked)) {
    if (after_eq(s.ack, f.header_end())) {
      f.clear(kFlowHeaderUnacked);
      f.rtx_at_ms = 0;
      flags = kActServerOk;
    } else if (s.ack == f.server_first() && s.payload_len == 0 && !f.has(kFlowFastRetransmitted)) {
      // A pure ACK stopping where our header starts, after the handshake: the server received
      // later client bytes but not the header, the only thing that can be missing. Resend at
      // once (RFC 5681 fast retransmit, on the first duplicate), once per timer period: the
      // dozens of duplicates that follow a burst must not each resend it.
      f.set(kFlowFastRetransmitted);
      flags = kActSendHeader | kActHeaderResend;
    }
  }
  if (s.fin() && !f.has(kFlowServerFin)) {
    f.set(kFlowServerFin);
    f.server_fin_seq = s.seq + static_cast<std::int32_t>(s.payload_len);
    f.state = FlowState::kClosing;
  }
  if (s.ack_set() && f.has(kFlowClientFin) && !f.has(kFlowClientFinAcked) &&
      after(to_client_ack(f, s.ack), f.client_fin_seq)) {
    f.set(kFlowClientFinAcked);
  }
  if (both_fins_acked(f)) {
    return close(f, flags, now_ms, EndCause::kNone);
  }
  return forward(flags);
}

Action header_consumed(Flow& f, std::uint16_t consumed, std::uint16_t hdr_len,
                       std::uint64_t now_ms) noexcept {
  f.hdr_len = hdr_len;
  return forward(commit_header(f, consumed, now_ms));
}

Action abort(Flow& f, EndCause cause, std::uint64_t now_ms) noexcept {
  Action a = close(f, kActResetBoth, now_ms, cause);
  a.verdict = Verdict::kNone;
  return a;
}

void restart_handshake(Flow& f, std::uint64_t now_ms) noexcept {
  f.state = FlowState::kSynSent;
  f.clear(kFlowSynAcked);
  f.last_seen_ms = now_ms;
  f.deadline_ms = 0;
}

Action on_timer(Flow& f, std::uint64_t now_ms) noexcept {
  Action a{Verdict::kNone, DropReason::kCount, 0, 0};
  if (f.state == FlowState::kClosed) {
    a.flags = now_ms >= f.last_seen_ms + kClosedLingerMs ? kActRelease : kActArm;
    return a;
  }
  if (f.has(kFlowHeaderUnacked) && f.rtx_at_ms != 0 && now_ms >= f.rtx_at_ms) {
    if (f.rtx_count >= kHeaderMaxRetransmits) {
      // The server never took the header: give up on the connection as a whole.
      Action c = close(f, kActConnectFailure | kActResetBoth, now_ms, EndCause::kServerTimeout);
      c.verdict = Verdict::kNone;
      return c;
    }
    ++f.rtx_count;
    f.rtx_at_ms = now_ms + (kHeaderRtoMs << f.rtx_count);
    f.clear(kFlowFastRetransmitted);
    a.flags = kActSendHeader | kActHeaderResend;
  }
  std::uint16_t ending = 0;
  // HAProxy's letter for the side whose timeout struck: the server's for a connect that got
  // no answer; for the client's silence during the handshake or its header, the client's; for
  // an idle session, the side with the shorter timeout (equal ones: the client's).
  EndCause cause = EndCause::kClientTimeout;
  switch (f.state) {
    case FlowState::kSynSent:
      if (now_ms >= f.last_seen_ms + f.connect_ms) {
        ending = kActConnectFailure | kActRedispatch | kActResetBoth;
        cause = EndCause::kServerTimeout;
      }
      break;
    case FlowState::kSynReceived:
      if (f.deadline_ms != 0 && now_ms >= f.deadline_ms) {
        // The half-open timeout: the server answered, the client never completed.
        a.reason = DropReason::kHalfOpenTimeout;
        ending = kActResetBoth;
      } else if (now_ms >= f.last_seen_ms + f.connect_ms) {
        ending = kActConnectFailure | kActResetBoth;
      }
      break;
    case FlowState::kAwaitHeader:
      if (now_ms >= f.deadline_ms) {
        a.reason = DropReason::kProxyHeaderTimeout;
        ending = kActResetBoth;
      }
      break;
    default:
      if (now_ms >= f.last_seen_ms + f.idle_limit_ms()) {
        ending = kActExpired | kActResetBoth;
        if (f.has(kFlowServerIdleFirst)) {
          cause = EndCause::kServerTimeout;
        }
      }
      break;
  }
  if (ending != 0) {
    // A pending header resend is moot: the flow ends (or, on redispatch, starts over).
    Action c = close(f, ending, now_ms, cause);
    c.verdict = Verdict::kNone;
    c.reason = a.reason;
    return c;
  }
  a.flags = static_cast<std::uint16_t>(a.flags | kActArm);
  return a;
}

std::uint64_t deadline(const Flow& f) noexcept {
  std::uint64_t d;
  switch (f.state) {
    case FlowState::kSynSent:
      d = f.last_seen_ms + f.connect_ms;
      break;
    case FlowState::kSynReceived:
      d = f.last_seen_ms + f.connect_ms;
      if (f.deadline_ms != 0 && f.deadline_ms < d) {
        d = f.deadline_ms;  // the half-open timeout (the worker sets it at the SYN-ACK)
      }
      break;
    case FlowState::kAwaitHeader:
      d = f.deadline_ms;
      break;
    case FlowState::kClosed:
      d = f.last_seen_ms + kClosedLingerMs;
      break;
    default:
      d = f.last_seen_ms + f.idle_limit_ms();
      break;
  }
  if (f.rtx_at_ms != 0 && f.rtx_at_ms < d) {
    d = f.rtx_at_ms;
  }
  return d;
}

}  // namespace postern::dataplane::splice
