// The TCP splice state machine (DESIGN.md "The packet walk", steps 2-6): what a segment or
// a timer does to a flow seen from the middle — handshake, the PROXY header's place in the
// stream, the sequence spaces, FIN/RST, timeouts — and what the worker must do about it.
// Pure: a flow and a parsed segment in, the flow updated and an Action out; no mbufs, no
// output, no clock of its own, so it is tested with tables of segments.
#pragma once

#include <cstdint>

#include "flow/flow.hpp"
#include "net/frame.hpp"
#include "net/seq.hpp"
#include "postern/dataplane/drop_reason.hpp"

namespace postern::dataplane::splice {

// How long a closed flow lingers to absorb retransmitted FINs and final ACKs.
inline constexpr std::uint64_t kClosedLingerMs = 2000;
// First retransmission of Postern's header (Linux's TCP_RTO_MIN is 200 ms), doubled each time.
inline constexpr std::uint64_t kHeaderRtoMs = 200;
inline constexpr std::uint8_t kHeaderMaxRetransmits = 7;
// accept-proxy: time allowed for the upstream proxy's header, counted from the handshake.
inline constexpr std::uint64_t kAcceptProxyTimeoutMs = 5000;

// The fields of a TCP segment the state machine reads, host order.
struct Segment {
  Seq seq;
  Seq ack;
  std::uint8_t flags = 0;
  std::uint16_t win = 0;  // raw window field
  std::uint16_t payload_len = 0;
  bool has_ts = false;
  std::uint32_t ts_val = 0;
  std::uint32_t ts_ecr = 0;
  // Read on SYN segments only.
  bool sack_permitted = false;
  std::int16_t wscale = -1;
  const std::uint8_t* opts = nullptr;
  std::uint8_t opts_len = 0;

  bool syn() const { return (flags & 0x02) != 0; }
  bool ack_set() const { return (flags & 0x10) != 0; }
  bool fin() const { return (flags & 0x01) != 0; }
  bool rst() const { return (flags & 0x04) != 0; }
};

// Reads a segment; options are parsed when `options` (a SYN, or a flow with timestamps).
Segment read_segment(const FrameView& v, bool options) noexcept;

enum class Verdict : std::uint8_t {
  kForward,     // rewrite towards the other side and send
  kDrop,        // free it and count `reason`
  kReadHeader,  // accept-proxy: payload for the upstream header reader
  kRestart,     // the flow is over: release it and handle the segment as a new one
  kNone,        // a timer: no segment
};

enum ActionFlags : std::uint16_t {
  kActSendHeader = 1U << 0,       // send our header segment to the server (before forwarding)
  kActHeaderResend = 1U << 1,     // ... as a retransmission
  kActRedispatch = 1U << 2,       // try the next server; if the worker can, the rest is void
  kActResetBoth = 1U << 3,        // RST towards both ends, each in its receiver's window
  kActClose = 1U << 4,            // the flow just became kClosed: stop counting it
  kActRelease = 1U << 5,          // the linger is over: forget the flow
  kActConnectFailure = 1U << 6,   // count a failed connection attempt
  kActExpired = 1U << 7,          // count an idle expiry
  kActArm = 1U << 8,              // the flow's deadline moved: re-arm its timer
  kActHeaderFirstSent = 1U << 9,  // count a header sent
  kActServerOk = 1U << 10,        // the server took the connection (and our header): it works
};

struct Action {
  Verdict verdict = Verdict::kForward;
  DropReason reason = DropReason::kCount;  // kDrop, or a drop counted by a timer
  std::uint16_t flags = 0;
  // kForward: bytes to cut from the front of the payload first (an upstream proxy's header
  // that Postern already consumed, sent again).
  std::uint16_t trim = 0;

  bool has(ActionFlags f) const { return (flags & f) != 0; }
};

// A client SYN starting the flow: remembers its ISN, window and options; the worker has set
// the addresses, isn_off and ts_off. Leaves the flow in kSynSent.
void start(Flow& f, const Segment& syn, std::uint64_t now_ms) noexcept;

// A segment from the client / from the server of an existing flow.
Action on_client(Flow& f, const Segment& s, std::uint64_t now_ms) noexcept;
Action on_server(Flow& f, const Segment& s, std::uint64_t now_ms) noexcept;

// accept-proxy: the upstream header was read (`consumed` bytes); Postern's own header is
// `hdr_len` bytes (0: the server takes none). Commits the shift; the flow is established.
Action header_consumed(Flow& f, std::uint16_t consumed, std::uint16_t hdr_len,
                       std::uint64_t now_ms) noexcept;

// Ends the flow now (a malformed upstream header, no buffer for it, its server shut down):
// RST both ways; `cause` is the first letter of the session's termination state.
Action abort(Flow& f, EndCause cause, std::uint64_t now_ms) noexcept;

// The worker sends the SYN again, to another server or the same one: back to kSynSent, with
// `timeout connect` counted from now.
void restart_handshake(Flow& f, std::uint64_t now_ms) noexcept;

// The flow's timer fired (its deadline() has passed).
Action on_timer(Flow& f, std::uint64_t now_ms) noexcept;

// When the flow's timer must fire next.
std::uint64_t deadline(const Flow& f) noexcept;

// The acknowledgement the client should see for server acknowledgement `ack`: our header's
// bytes are ours, so until all of them are acknowledged the client has nothing acknowledged
// beyond its SYN.
Seq to_client_ack(const Flow& f, Seq ack) noexcept;

// RFC 5961 3.2 with RFC 9293 3.10.7.4: would a RST with sequence number `seq` be taken by a
// receiver whose RCV.NXT is `rcv_nxt` and window `wnd`?
bool rst_in_window(Seq seq, Seq rcv_nxt, std::uint32_t wnd) noexcept;

}  // namespace postern::dataplane::splice
