// Checks the splice makes on a segment of a known flow before its state machine runs:
// acknowledgements of data the other side never sent (RFC 5961 section 5), and segments that
// arrive after the flow closed. Pure, like the state machine: a flow and a segment in.
#pragma once

#include "flow/flow.hpp"
#include "flow/tcp_splice.hpp"

namespace postern::dataplane::splice {

// Records how far the segment's sender has sent (its SND.NXT: SYN, payload and FIN count),
// then says whether a pure ACK (no SYN, FIN, RST or payload) acknowledges beyond what the
// other side sent as Postern saw it. Such an ACK is dropped rather than forwarded, so two
// desynchronized peers cannot bounce ACKs off each other through Postern (an ACK storm);
// duplicate and old ACKs go on. Only once the handshake is complete (established or
// closing): before that the sequence spaces are still settling. Errs towards forwarding:
// a forged segment can only move the limit further, never drop a genuine ACK.
bool client_ack_beyond_sent(Flow& f, const Segment& s) noexcept;
bool server_ack_beyond_sent(Flow& f, const Segment& s) noexcept;

// A segment for a flow in kClosed, lingering: does it go on to the other side? After an
// abortive end (a RST, or a timeout that reset both ends) the other end no longer has the
// connection: nothing goes on. After both FINs were acknowledged the other end may be in
// TIME-WAIT: retransmitted FINs and ACKs go on so it can acknowledge them again (a final
// ACK may have been lost), but data beyond the sender's FIN does not. The segment is
// absorbed (flow_closed), never answered: the end hosts already said goodbye.
bool straggler_passes(const Flow& f, const Segment& s, bool from_client) noexcept;

}  // namespace postern::dataplane::splice
