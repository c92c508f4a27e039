// Acknowledgement screening (RFC 5961 section 5) and stragglers of closed flows.
#include "flow/segment_screen.hpp"

namespace postern::dataplane::splice {
namespace {

// Where the segment ends in its sender's space: SYN and FIN take one sequence number each.
Seq segment_end(const Segment& s) noexcept {
  return s.seq + static_cast<std::int32_t>(s.payload_len + (s.syn() ? 1 : 0) + (s.fin() ? 1 : 0));
}

void advance(Seq& snd_nxt, Seq end) noexcept {
  if (after(end, snd_nxt)) {
    snd_nxt = end;
  }
}

bool synchronized(const Flow& f) noexcept {
  return f.state == FlowState::kEstablished || f.state == FlowState::kClosing;
}

bool pure_ack(const Segment& s) noexcept {
  return s.ack_set() && !s.syn() && !s.fin() && !s.rst() && s.payload_len == 0;
}

}  // namespace

bool client_ack_beyond_sent(Flow& f, const Segment& s) noexcept {
  if (s.rst()) {
    return false;
  }
  if (f.state == FlowState::kSynSent || f.state == FlowState::kSynReceived) {
    // Counted from the ISN the flow holds, whatever the flow was used for before.
    f.client_snd_nxt = f.client_isn + 1;
    const Seq acked_isn = s.ack - 1;
    if (f.state == FlowState::kSynReceived && s.ack_set() && !s.syn() &&
        (acked_isn == f.server_isn || acked_isn == f.server_isn_prev)) {
      // The handshake ACK names the SYN-ACK the client took: the server's bytes start there.
      f.server_snd_nxt = s.ack;
    }
  }
  advance(f.client_snd_nxt, segment_end(s));
  return synchronized(f) && pure_ack(s) && after(s.ack, f.server_snd_nxt);
}

bool server_ack_beyond_sent(Flow& f, const Segment& s) noexcept {
  if (s.rst()) {
    return false;
  }
  if (s.syn()) {
    // Only a SYN-ACK the splice takes (it acknowledges our SYN) during the handshake sets the
    // start; a forged one must not pull the limit back.
    if ((f.state == FlowState::kSynSent || f.state == FlowState::kSynReceived) && s.ack_set() &&
        s.ack == f.server_first()) {
      f.server_snd_nxt = segment_end(s);
    }
    return false;
  }
  advance(f.server_snd_nxt, segment_end(s));
  // The client's bytes as the server sees them: shifted by the ISN offset and our header.
  return synchronized(f) && pure_ack(s) && after(s.ack, f.client_snd_nxt + f.seq_shift());
}

bool straggler_passes(const Flow& f, const Segment& s, bool from_client) noexcept {
  if (f.end.cause != EndCause::kNone) {
    return false;
  }
  if (s.payload_len == 0) {
    return true;
  }
  const Seq fin = from_client ? f.client_fin_seq : f.server_fin_seq;
  return !after(s.seq + static_cast<std::int32_t>(s.payload_len), fin);
}

}  // namespace postern::dataplane::splice
