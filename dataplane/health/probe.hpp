// Health-check connections run by a worker (DESIGN.md "Threads and cores": checks are
// packets). A ProbeTable is a small one-shot TCP client per slot of probe.hpp's interface:
// SYN, the bytes the control thread's health engine queues, FIN, and an end that never puts a
// bare RST after a PROXY header. Pure, like flow/tcp_splice: commands, segments and time in;
// frames and events out through callbacks; no mbufs, no ethdev.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "nat/seq_offsets.hpp"
#include "net/frame.hpp"
#include "net/icmp.hpp"
#include "net/seq.hpp"
#include "postern/dataplane/probe.hpp"

namespace postern::dataplane {

// What a table has done since it was made, for tests and metrics (the worker keeps the
// counters that are summed per worker).
struct ProbeStats {
  std::uint64_t opens = 0;        // SYNs sent for kOpen
  std::uint64_t connected = 0;    // handshakes completed
  std::uint64_t retransmits = 0;  // SYNs, data and FINs sent again by the timer
  std::uint64_t resets = 0;       // RSTs taken from servers
  std::uint64_t rsts_sent = 0;    // kAbort before any byte of ours; old SYN-ACKs (RFC 9293)
  std::uint64_t unreachable = 0;  // no free port, ICMP unreachable, frames that could not go
  std::uint64_t expired = 0;      // freed by the linger or life bound, without RST
  std::uint64_t refused = 0;      // commands outside the contract, and sends over the buffer
};

class ProbeTable {
 public:
  // Our SYN offers MSS 1460 (Ethernet) and a 29200-byte window (20 segments, what Linux
  // advertises before scaling) and nothing else: a check moves a few hundred bytes each way,
  // so window scaling (RFC 7323 section 2) buys nothing, SACK (RFC 2018) saves at most one
  // retransmission of at most 2 KiB, and timestamps (RFC 7323 sections 3-5) are not needed
  // for TIME_WAIT: with no timestamps on either connection, a server in TIME_WAIT takes a
  // SYN whose sequence number is above the old connection's (RFC 6191 section 2, Linux's
  // tcp_timewait_state_process). RFC 6528 ISNs grow by 250 a millisecond, far more than a
  // check's bytes in the time a port takes to come round the FIFO again.
  static constexpr std::uint16_t kMss = 1460;
  static constexpr std::uint16_t kWindow = 29200;
  // Bytes queued and not yet acknowledged, per slot: a PROXY v2 LOCAL header and a LOGOUT or
  // QUIT fit many times over. It is within RFC 3390's initial window for any MSS >= 512, so
  // there is no congestion window to keep.
  static constexpr std::uint16_t kSendBuffer = 2048;
  // Out-of-order bytes kept for reassembly, per slot: [RCV.NXT, RCV.NXT + 2048). In-order
  // bytes are handed over at once and need no room; what lies beyond is dropped and sent
  // again by the server.
  static constexpr std::uint16_t kRecvBuffer = 2048;
  // Linux's floor for a peer's MSS (TCP_MIN_SND_MSS): a tiny MSS cannot make us send a
  // frame per byte.
  static constexpr std::uint16_t kMinPeerMss = 48;
  // SYN retransmission: 1 s (RFC 6298 section 2.1), doubling. Data and FIN: 200 ms
  // (Linux's TCP_RTO_MIN, as the splice's header), doubling up to 64 times that.
  static constexpr std::uint64_t kSynRtoMs = 1000;
  static constexpr std::uint64_t kRtoMs = 200;
  static constexpr std::uint8_t kMaxBackoff = 6;
  // Once our FIN has gone, how long the slot waits for everything to be over before it is
  // freed without a RST; and the longest any slot lives, counted from kOpen.
  static constexpr std::uint64_t kLingerMs = 10000;
  static constexpr std::uint64_t kLifeMs = 60000;
  // Ethernet + IPv4 + TCP with the MSS option + one full segment.
  static constexpr std::uint16_t kFrameMax = 14 + 20 + 24 + kMss;

  // Takes the local ports in [kProbeFirstPort, 65535] with port % workers == worker.
  // Allocates everything it will use; nothing after.
  ProbeTable(std::uint32_t worker, std::uint32_t workers, const SeqOffsets& offsets);
  ProbeTable(const ProbeTable&) = delete;
  ProbeTable& operator=(const ProbeTable&) = delete;

  // `out(port_id, next_hop, frame, len)` sends a complete Ethernet frame whose MACs are zero
  // (the worker fills them from its neighbour cache); the frame is only valid during the
  // call. `emit(const ProbeEvent&) -> bool` reports to the health engine; false means its
  // ring is full and the event was not taken. Every slot's events end with one kFreed.

  // A command from the health engine:
  // - kOpen: a local port from the FIFO and a SYN; no free port: kUnreachable, kFreed.
  // - kSend: queued (at most kSendBuffer bytes not yet acknowledged), sent once connected in
  //   segments of the server's MSS within its window; `fin`: our FIN follows the bytes. Bytes
  //   past the buffer end the check as kAbort does: a request cut short must not reach the
  //   server, and the engine sees the check fail at once.
  // - kClose: our FIN after whatever is queued.
  // - kAbort: kFreed at once. A RST only when connected and no byte of ours went (so no
  //   PROXY header can have); after bytes, a FIN after them instead; before the handshake,
  //   nothing.
  // - kShutdownServer: the worker's, not ours; ignored.
  // Commands for a slot that is ending or free (they crossed its last events) are ignored; a
  // kOpen of a busy slot, a slot out of range, a kSend longer than kProbeChunk or after our
  // FIN are refused (stats().refused).
  template <class Out, class Emit>
  void command(const ProbeCommand& c, std::uint64_t now_ms, Out&& out, Emit&& emit) noexcept {
    command_impl(c, now_ms, io_of(out, emit));
  }

  // A TCP segment to a probe port, from an address with no flow. Returns false when it
  // belongs to no live probe (another port, another peer): the worker treats it as any
  // segment with no flow.
  template <class Out, class Emit>
  bool segment(const FrameView& v, std::uint64_t now_ms, Out&& out, Emit&& emit) noexcept {
    return segment_impl(v, now_ms, io_of(out, emit));
  }

  // Retransmissions, the linger and life bounds, events that found the ring full. Returns at
  // once while nothing is due.
  template <class Out, class Emit>
  void tick(std::uint64_t now_ms, Out&& out, Emit&& emit) noexcept {
    if (now_ms < next_due_) {
      return;
    }
    tick_impl(now_ms, io_of(out, emit));
  }

  // An ICMP error quoting a segment of ours (`q` from parse_icmp_error). Destination
  // unreachable, except "fragmentation needed", ends a probe still in SYN-SENT with
  // kUnreachable (RFC 1122 section 4.2.3.9); once connected it is a soft error and ignored,
  // as Linux does, so a stray or forged error cannot end a check that works. The quoted
  // sequence number must be one we sent (RFC 5927 section 4.1). Returns false when the quote
  // is about no probe of this table.
  template <class Emit>
  bool icmp_error(const IcmpQuote& q, std::uint64_t now_ms, Emit&& emit) noexcept {
    return icmp_impl(q, now_ms, io_of(no_out_, emit));
  }

  // The worker could not send a frame of the probe on local port `local_port` (host order):
  // its next hop did not resolve. Ends the probe with kUnreachable. False if no such probe.
  template <class Emit>
  bool unreachable(std::uint16_t local_port, std::uint64_t now_ms, Emit&& emit) noexcept {
    return unreachable_impl(local_port, now_ms, io_of(no_out_, emit));
  }

  const ProbeStats& stats() const noexcept { return stats_; }
  // Ports of this worker's share, and those free now.
  std::uint32_t ports() const noexcept { return static_cast<std::uint32_t>(port_ring_.size()); }
  std::uint32_t free_ports() const noexcept { return port_count_; }
  // Whether the slot is in use (kFreed not yet taken by the engine), and its local port
  // (host order, 0 when it has none).
  bool busy(std::uint16_t slot) const noexcept;
  std::uint16_t local_port(std::uint16_t slot) const noexcept;
  // No timer of any slot is due before this.
  std::uint64_t next_due() const noexcept { return next_due_; }

 private:
  static constexpr std::uint16_t kNoSlot = 0xffff;
  static constexpr std::uint64_t kNever = ~std::uint64_t{0};

  // The callbacks without their types, so the state machine lives in probe.cpp.
  struct Io {
    void* out_ctx;
    void (*out)(void*, std::uint8_t, std::uint32_t, const std::uint8_t*, std::uint16_t) noexcept;
    void* emit_ctx;
    bool (*emit)(void*, const ProbeEvent&) noexcept;
  };
  template <class Out, class Emit>
  static Io io_of(Out& out, Emit& emit) noexcept {
    using O = std::remove_reference_t<Out>;
    using E = std::remove_reference_t<Emit>;
    return Io{const_cast<void*>(static_cast<const void*>(&out)),
              [](void* c, std::uint8_t port, std::uint32_t hop, const std::uint8_t* f,
                 std::uint16_t n) noexcept { (*static_cast<O*>(c))(port, hop, f, n); },
              const_cast<void*>(static_cast<const void*>(&emit)),
              [](void* c, const ProbeEvent& e) noexcept -> bool {
                return static_cast<bool>((*static_cast<E*>(c))(e));
              }};
  }
  struct NoOut {
    void operator()(std::uint8_t, std::uint32_t, const std::uint8_t*, std::uint16_t) const {}
  };
  static constexpr NoOut no_out_{};

  enum class State : std::uint8_t {
    kFree,
    kSynSent,
    kConnected,
    kEnding,  // over: its last events wait for room in the ring
  };
  enum SlotFlags : std::uint8_t {
    kFinQueued = 1U << 0,     // the engine asked for our FIN after the queued bytes
    kFinSent = 1U << 1,       // it went at least once (the linger runs)
    kFinAcked = 1U << 2,      //
    kPeerFin = 1U << 3,       // the server's FIN was taken and reported
    kPeerFinAhead = 1U << 4,  // the server's FIN came ahead of missing bytes: peer_fin_seq
  };

  struct Slot {
    State state = State::kFree;
    std::uint8_t flags = 0;
    std::uint8_t port_id = 0;
    std::uint8_t backoff = 0;  // retransmissions since the last progress
    bool last_word = false;    // `last_kind` goes before kFreed
    ProbeEventKind last_kind = ProbeEventKind::kFreed;
    std::uint16_t local_port = 0;   // host order
    std::uint16_t remote_port = 0;  // network order
    std::uint32_t local_ip = 0;     // network order
    std::uint32_t remote_ip = 0;
    std::uint32_t next_hop = 0;
    std::uint16_t snd_mss = 0;
    std::uint16_t sbuf_len = 0;  // bytes in sbuf: data_seq onwards
    std::uint32_t snd_wnd = 0;
    // RFC 9293 section 3.3.1 names; snd_max is the highest sequence number sent, since a
    // retransmission timeout moves snd_nxt back to snd_una (go-back-N).
    Seq iss, snd_una, snd_nxt, snd_max, snd_wl1, snd_wl2;
    Seq data_seq;  // sequence number of sbuf[0]
    Seq rcv_nxt;
    Seq peer_fin_seq;
    std::uint64_t life_at = 0;  // timers: absolute, 0 when not running
    std::uint64_t linger_at = 0;
    std::uint64_t rto_at = 0;
    std::uint64_t retry_at = 0;  // kEnding: try the events again
    std::uint64_t due = kNever;  // the earliest of them
    std::uint8_t sbuf[kSendBuffer];
    std::uint8_t rbuf[kRecvBuffer];  // indexed by sequence number mod kRecvBuffer
    std::uint64_t rmap[kRecvBuffer / 64];

    bool has(SlotFlags f) const { return (flags & f) != 0; }
    void set(SlotFlags f) { flags = static_cast<std::uint8_t>(flags | f); }
    void clear(SlotFlags f) { flags = static_cast<std::uint8_t>(flags & ~f); }
  };

  // Inbound segment fields, host order.
  struct Seg {
    Seq seq;
    Seq ack;
    std::uint8_t flags = 0;
    std::uint16_t win = 0;
    const std::uint8_t* data = nullptr;
    std::uint16_t len = 0;
  };

  void command_impl(const ProbeCommand& c, std::uint64_t now_ms, const Io& io) noexcept;
  bool segment_impl(const FrameView& v, std::uint64_t now_ms, const Io& io) noexcept;
  void tick_impl(std::uint64_t now_ms, const Io& io) noexcept;
  bool icmp_impl(const IcmpQuote& q, std::uint64_t now_ms, const Io& io) noexcept;
  bool unreachable_impl(std::uint16_t local_port, std::uint64_t now_ms, const Io& io) noexcept;

  // Commands.
  void open(Slot& s, const ProbeCommand& c, std::uint64_t now_ms, const Io& io) noexcept;
  void queue(Slot& s, const ProbeCommand& c, std::uint64_t now_ms, const Io& io) noexcept;
  void abort(Slot& s, std::uint64_t now_ms, const Io& io) noexcept;

  // Segments, by state.
  void on_syn_sent(Slot& s, const FrameView& v, const Seg& g, std::uint64_t now_ms,
                   const Io& io) noexcept;
  void on_connected(Slot& s, const Seg& g, std::uint64_t now_ms, const Io& io) noexcept;
  void take_ack(Slot& s, const Seg& g, std::uint64_t now_ms) noexcept;
  // Puts the segment's bytes within [RCV.NXT, RCV.NXT + kRecvBuffer) in the ring.
  void store(Slot& s, const Seg& g) noexcept;
  // Hands over the bytes in order from RCV.NXT in kData events; returns how many went.
  std::uint32_t deliver(Slot& s, const Io& io) noexcept;
  // The server's FIN, now next in order: taken if its kPeerClosed goes.
  bool take_fin(Slot& s, const Io& io) noexcept;

  // Output.
  // Sends what the window allows of the queued bytes, then our FIN when due. `one`: a single
  // segment, at least one byte even into a closed window (a retransmission, a window probe).
  // Returns whether anything went.
  bool output(Slot& s, std::uint64_t now_ms, bool one, const Io& io) noexcept;
  void send(const Slot& s, Seq seq, std::uint8_t flags, const std::uint8_t* data, std::uint16_t len,
            const Io& io) noexcept;
  void send_ack(const Slot& s, const Io& io) noexcept;
  void note_fin_sent(Slot& s, std::uint64_t now_ms) noexcept;
  void retransmit(Slot& s, std::uint64_t now_ms, const Io& io) noexcept;

  // The end: `kind` (if `with_kind`) then kFreed, now or from tick() when the ring is full.
  void finish(Slot& s, bool with_kind, ProbeEventKind kind, std::uint64_t now_ms,
              const Io& io) noexcept;
  void flush_events(Slot& s, std::uint64_t now_ms, const Io& io) noexcept;
  bool emit(const Slot& s, ProbeEventKind kind, const Io& io) noexcept;
  void release(Slot& s) noexcept;
  void finish_if_done(Slot& s, std::uint64_t now_ms, const Io& io) noexcept;

  // Timers.
  void schedule(Slot& s) noexcept;

  std::uint16_t slot_index(const Slot& s) const noexcept;
  Slot* slot_by_port(std::uint16_t port) noexcept;
  std::uint16_t take_port() noexcept;
  void give_back_port(std::uint16_t port) noexcept;

  const SeqOffsets& offsets_;
  std::vector<Slot> slots_;
  std::vector<std::uint16_t> port_ring_;  // free ports: FIFO, the longest unused first
  std::uint32_t port_head_ = 0;
  std::uint32_t port_count_ = 0;
  std::vector<std::uint16_t> port_slot_;  // port - kProbeFirstPort -> slot, or kNoSlot
  std::uint64_t next_due_ = kNever;
  ProbeStats stats_;
  alignas(8) std::uint8_t frame_[kFrameMax];
};

}  // namespace postern::dataplane
