// The splice state machine alone, as tables: a flow in a given phase, one segment (or a timer)
// in, the verdict, the actions and the phase after. Sequence numbers are chosen so that the
// client's space and the server's view of it differ (isn_off) and the header is 28 bytes.
#include "flow/tcp_splice.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "worker/session_log.hpp"

namespace postern::dataplane::splice {
namespace {

constexpr std::uint8_t F = 0x01;  // FIN
constexpr std::uint8_t S = 0x02;  // SYN
constexpr std::uint8_t R = 0x04;  // RST
constexpr std::uint8_t A = 0x10;  // ACK

constexpr std::uint32_t kClientIsn = 1000;
constexpr std::uint32_t kIsnOff = 0x40000000;                // server view = client space + this
constexpr std::uint32_t kServerView = kClientIsn + kIsnOff;  // our SYN's seq towards the server
constexpr std::uint32_t kServerIsn = 0xfffffff0;             // wraps during the exchange
constexpr std::uint16_t kHdr = 28;
constexpr std::uint64_t kT0 = 1000000;

Segment seg(std::uint32_t seq, std::uint32_t ack, std::uint8_t flags, std::uint16_t len = 0,
            std::uint16_t win = 1000) {
  Segment s;
  s.seq = Seq(seq);
  s.ack = Seq(ack);
  s.flags = flags;
  s.payload_len = len;
  s.win = win;
  return s;
}

enum class Phase { kSynSent, kSynReceived, kEstablished, kHeaderAcked, kAwaitHeader, kProxied };

// A flow as the worker would have it in `phase`: listener with send-proxy-v2 (28-byte header),
// `timeout connect` 5 s, idle 60 s, fin 30 s; the client offered wscale 7, the server 2.
Flow flow_in(Phase phase, bool accept_proxy = false) {
  Flow f;
  f.set(kFlowSendProxy);
  if (accept_proxy) {
    f.set(kFlowAcceptProxy);
  }
  f.hdr_len = kHdr;
  f.connect_ms = 5000;
  f.idle_ms = 60000;
  f.fin_ms = 30000;
  Segment syn = seg(kClientIsn, 0, S, 0, 64240);
  syn.wscale = 7;
  syn.has_ts = true;
  syn.ts_val = 111;
  start(f, syn, kT0);
  f.isn_off = kIsnOff;
  if (phase == Phase::kSynSent) {
    return f;
  }
  Segment sa = seg(kServerIsn, kServerView + 1, S | A, 0, 65160);
  sa.wscale = 2;
  sa.has_ts = true;
  sa.ts_val = 900;
  EXPECT_EQ(on_server(f, sa, kT0).verdict, Verdict::kForward);
  if (phase == Phase::kSynReceived) {
    return f;
  }
  on_client(f, seg(kClientIsn + 1, kServerIsn + 1, A, 0, 502), kT0);
  if (phase == Phase::kAwaitHeader) {
    EXPECT_EQ(f.state, FlowState::kAwaitHeader);
    return f;
  }
  if (phase == Phase::kProxied) {
    header_consumed(f, 50, kHdr, kT0);  // a 50-byte v1 header replaced by our 28 bytes
    return f;
  }
  if (phase == Phase::kHeaderAcked) {
    on_server(f, seg(kServerIsn + 1, kServerView + 1 + kHdr, A, 0, 1000), kT0);
  }
  return f;
}

struct Row {
  std::string what;
  Phase phase;
  bool from_client;
  Segment s;
  Verdict verdict;
  std::uint16_t must;      // action flags that must be set
  std::uint16_t must_not;  // action flags that must not be set
  FlowState after;
};

void run(const std::vector<Row>& rows, bool accept_proxy = false) {
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    Flow f = flow_in(r.phase, accept_proxy);
    const Action a = r.from_client ? on_client(f, r.s, kT0 + 10) : on_server(f, r.s, kT0 + 10);
    EXPECT_EQ(a.verdict, r.verdict);
    EXPECT_EQ(a.flags & r.must, r.must) << "flags " << a.flags;
    EXPECT_EQ(a.flags & r.must_not, 0) << "flags " << a.flags;
    EXPECT_EQ(f.state, r.after);
  }
}

TEST(TcpSplice, Handshake) {
  run({
      {"a retransmitted SYN goes on", Phase::kSynSent, true, seg(kClientIsn, 0, S),
       Verdict::kForward, 0, kActSendHeader, FlowState::kSynSent},
      {"a non-SYN before the SYN-ACK is not ours to pass", Phase::kSynSent, true,
       seg(kClientIsn + 1, 5, A), Verdict::kDrop, 0, 0, FlowState::kSynSent},
      {"the SYN-ACK acknowledging our SYN", Phase::kSynSent, false,
       seg(kServerIsn, kServerView + 1, S | A), Verdict::kForward, kActArm, 0,
       FlowState::kSynReceived},
      {"a SYN-ACK acknowledging something else", Phase::kSynSent, false,
       seg(kServerIsn, kClientIsn + 1, S | A), Verdict::kDrop, 0, 0, FlowState::kSynSent},
      {"a bare SYN from the server", Phase::kSynSent, false, seg(kServerIsn, 0, S), Verdict::kDrop,
       0, 0, FlowState::kSynSent},
      {"data from the server before its SYN-ACK", Phase::kSynSent, false,
       seg(kServerIsn + 1, kServerView + 1, A, 10), Verdict::kDrop, 0, 0, FlowState::kSynSent},
      {"the handshake ACK sends the header", Phase::kSynReceived, true,
       seg(kClientIsn + 1, kServerIsn + 1, A), Verdict::kForward,
       kActSendHeader | kActHeaderFirstSent | kActArm, kActHeaderResend, FlowState::kEstablished},
      {"data instead of a lost handshake ACK also sends the header", Phase::kSynReceived, true,
       seg(kClientIsn + 1, kServerIsn + 1, A, 20), Verdict::kForward, kActSendHeader, 0,
       FlowState::kEstablished},
      {"an ACK of no SYN-ACK we passed completes nothing", Phase::kSynReceived, true,
       seg(kClientIsn + 1, 77, A), Verdict::kForward, 0, kActSendHeader, FlowState::kSynReceived},
      {"the client's retransmitted SYN goes on", Phase::kSynReceived, true, seg(kClientIsn, 0, S),
       Verdict::kForward, 0, kActSendHeader, FlowState::kSynReceived},
      {"a SYN-ACK sent again goes on", Phase::kEstablished, false,
       seg(kServerIsn, kServerView + 1, S | A), Verdict::kForward, 0, kActClose,
       FlowState::kEstablished},
  });
}

TEST(TcpSplice, TheHandshakeCompletesWithTheSynAckTheClientAcknowledged) {
  // A server answers the retransmitted SYN with another ISN (SYN cookies, an expired
  // request): whichever the client acknowledges is the one our header must acknowledge.
  for (const bool client_takes_second : {true, false}) {
    SCOPED_TRACE(client_takes_second ? "client ACKs the second" : "client ACKs the first");
    Flow f = flow_in(Phase::kSynReceived);
    const std::uint32_t second = 0x12345678;
    EXPECT_EQ(on_server(f, seg(second, kServerView + 1, S | A), kT0 + 1000).verdict,
              Verdict::kForward);
    const std::uint32_t chosen = client_takes_second ? second : kServerIsn;
    const Action a = on_client(f, seg(kClientIsn + 1, chosen + 1, A), kT0 + 1001);
    EXPECT_TRUE(a.has(kActSendHeader));
    EXPECT_EQ(f.server_isn, Seq(chosen));
    EXPECT_EQ(f.client_acked, Seq(chosen + 1));
  }
}

TEST(TcpSplice, TheHeaderRepeatsTheSynsTimestampsWhenTheHandshakeAckHasNone) {
  Flow f = flow_in(Phase::kSynReceived);
  on_client(f, seg(kClientIsn + 1, kServerIsn + 1, A), kT0);
  EXPECT_EQ(f.ts_val, 111U);  // the SYN's TSval
  EXPECT_EQ(f.ts_ecr, 900U);  // the SYN-ACK's TSval, which the client echoes
  Flow g = flow_in(Phase::kSynReceived);
  Segment ack = seg(kClientIsn + 1, kServerIsn + 1, A);
  ack.has_ts = true;
  ack.ts_val = 115;
  ack.ts_ecr = 900;
  on_client(g, ack, kT0);
  EXPECT_EQ(g.ts_val, 115U);
}

TEST(TcpSplice, SequenceSpaces) {
  Flow f = flow_in(Phase::kEstablished);
  EXPECT_EQ(f.server_first(), Seq(kServerView + 1));
  EXPECT_EQ(f.seq_shift(), static_cast<std::int32_t>(kIsnOff + kHdr));
  // Server acknowledgements inside our header are nothing for the client.
  EXPECT_EQ(to_client_ack(f, Seq(kServerView + 1)), Seq(kClientIsn + 1));
  EXPECT_EQ(to_client_ack(f, Seq(kServerView + 1 + kHdr - 1)), Seq(kClientIsn + 1));
  EXPECT_EQ(to_client_ack(f, Seq(kServerView + 1 + kHdr)), Seq(kClientIsn + 1));
  EXPECT_EQ(to_client_ack(f, Seq(kServerView + 1 + kHdr + 500)), Seq(kClientIsn + 501));
  // Before the header is out only the ISN offset applies.
  Flow g = flow_in(Phase::kSynReceived);
  EXPECT_EQ(to_client_ack(g, Seq(kServerView + 1)), Seq(kClientIsn + 1));
}

TEST(TcpSplice, HeaderAcknowledgement) {
  run({
      {"the header acknowledged", Phase::kEstablished, false,
       seg(kServerIsn + 1, kServerView + 1 + kHdr, A), Verdict::kForward, 0, kActSendHeader,
       FlowState::kEstablished},
      {"a duplicate ACK stopping where the header starts resends it", Phase::kEstablished, false,
       seg(kServerIsn + 1, kServerView + 1, A), Verdict::kForward,
       kActSendHeader | kActHeaderResend, 0, FlowState::kEstablished},
      {"the server's greeting acknowledging only the handshake resends nothing",
       Phase::kEstablished, false, seg(kServerIsn + 1, kServerView + 1, A, 40), Verdict::kForward,
       0, kActSendHeader, FlowState::kEstablished},
  });
  Flow f = flow_in(Phase::kEstablished);
  EXPECT_TRUE(on_server(f, seg(kServerIsn + 1, kServerView + 1, A), kT0).has(kActSendHeader));
  EXPECT_FALSE(on_server(f, seg(kServerIsn + 1, kServerView + 1, A), kT0).has(kActSendHeader))
      << "once per timer period";
  on_server(f, seg(kServerIsn + 1, kServerView + 1 + kHdr, A), kT0);
  EXPECT_FALSE(f.has(kFlowHeaderUnacked));
  EXPECT_EQ(f.rtx_at_ms, 0U);
}

TEST(TcpSplice, ResetsAreBelievedOnlyInTheReceiversWindow) {
  // Client window 502 << 7 = 64256 bytes from the client's last ACK (kServerIsn + 1); server
  // window 1000 << 2 = 4000 bytes from the server's last ACK (our header's end).
  const std::uint32_t cnxt = kServerIsn + 1;
  const std::uint32_t snxt_client_space = kClientIsn + 1;  // maps to the header's end
  run({
      {"server RST at the client's RCV.NXT", Phase::kHeaderAcked, false, seg(cnxt, 0, R),
       Verdict::kForward, kActClose, 0, FlowState::kClosed},
      {"server RST inside the client's scaled window", Phase::kHeaderAcked, false,
       seg(cnxt + 60000, 0, R), Verdict::kForward, kActClose, 0, FlowState::kClosed},
      {"server RST beyond the client's window passes but ends nothing", Phase::kHeaderAcked, false,
       seg(cnxt + 70000, 0, R), Verdict::kForward, 0, kActClose, FlowState::kEstablished},
      {"server RST before the client's RCV.NXT", Phase::kHeaderAcked, false, seg(cnxt - 1, 0, R),
       Verdict::kForward, 0, kActClose, FlowState::kEstablished},
      {"client RST at the server's RCV.NXT (shifted)", Phase::kHeaderAcked, true,
       seg(snxt_client_space, 0, R), Verdict::kForward, kActClose, 0, FlowState::kClosed},
      {"client RST inside the server's window", Phase::kHeaderAcked, true,
       seg(snxt_client_space + 3999, 0, R), Verdict::kForward, kActClose, 0, FlowState::kClosed},
      {"client RST beyond the server's window", Phase::kHeaderAcked, true,
       seg(snxt_client_space + 5000, 0, R), Verdict::kForward, 0, kActClose,
       FlowState::kEstablished},
      {"a RST from the server in SYN-SENT acknowledging our SYN: next server", Phase::kSynSent,
       false, seg(0, kServerView + 1, R | A), Verdict::kForward,
       kActRedispatch | kActConnectFailure | kActClose, 0, FlowState::kClosed},
      {"a RST in SYN-SENT acknowledging anything else is forged", Phase::kSynSent, false,
       seg(0, kClientIsn + 1, R | A), Verdict::kDrop, 0, 0, FlowState::kSynSent},
  });
}

TEST(TcpSplice, FinsCloseTheFlowOnceBothAreAcknowledged) {
  Flow f = flow_in(Phase::kHeaderAcked);
  EXPECT_EQ(
      on_server(f, seg(kServerIsn + 1, kServerView + 1 + kHdr, F | A, 10), kT0).flags & kActClose,
      0);
  EXPECT_EQ(f.state, FlowState::kClosing);
  EXPECT_EQ(f.server_fin_seq, Seq(kServerIsn + 11));
  // The client acknowledges the server's FIN and sends its own.
  EXPECT_FALSE(on_client(f, seg(kClientIsn + 1, kServerIsn + 12, F | A), kT0).has(kActClose));
  EXPECT_TRUE(f.has(kFlowServerFinAcked));
  // The server acknowledges the client's FIN in its own view.
  const Action last = on_server(f, seg(kServerIsn + 12, kServerView + 1 + kHdr + 1, A), kT0);
  EXPECT_TRUE(last.has(kActClose));
  EXPECT_EQ(f.state, FlowState::kClosed);
  // Stragglers pass; a SYN from the same client port starts afresh.
  EXPECT_EQ(on_client(f, seg(kClientIsn + 2, kServerIsn + 12, A), kT0).verdict, Verdict::kForward);
  EXPECT_EQ(on_client(f, seg(99, 0, S), kT0).verdict, Verdict::kRestart);
}

TEST(TcpSplice, AcceptProxyHeaderPhase) {
  run(
      {
          {"the handshake ACK waits for the upstream header", Phase::kSynReceived, true,
           seg(kClientIsn + 1, kServerIsn + 1, A), Verdict::kForward, kActArm, kActSendHeader,
           FlowState::kAwaitHeader},
          {"payload goes to the header reader", Phase::kAwaitHeader, true,
           seg(kClientIsn + 1, kServerIsn + 1, A, 30), Verdict::kReadHeader, 0, 0,
           FlowState::kAwaitHeader},
          {"a FIN goes to the header reader too", Phase::kAwaitHeader, true,
           seg(kClientIsn + 1, kServerIsn + 1, F | A), Verdict::kReadHeader, 0, 0,
           FlowState::kAwaitHeader},
          {"a pure ACK passes", Phase::kAwaitHeader, true, seg(kClientIsn + 1, kServerIsn + 1, A),
           Verdict::kForward, 0, 0, FlowState::kAwaitHeader},
      },
      true);
}

TEST(TcpSplice, AnUpstreamHeaderSentAgainNeverReachesTheServer) {
  // 50 bytes of upstream header consumed: client bytes start at kClientIsn + 51.
  Flow f = flow_in(Phase::kProxied, true);
  EXPECT_EQ(f.client_first(), Seq(kClientIsn + 51));
  EXPECT_EQ(f.delta, kHdr - 50);
  Action a = on_client(f, seg(kClientIsn + 1, kServerIsn + 1, A, 50), kT0);
  EXPECT_EQ(a.verdict, Verdict::kDrop);
  EXPECT_EQ(a.reason, DropReason::kProxyHeaderRepeated);
  a = on_client(f, seg(kClientIsn + 1, kServerIsn + 1, A, 80), kT0);
  EXPECT_EQ(a.verdict, Verdict::kForward);
  EXPECT_EQ(a.trim, 50) << "the header part is cut, the 30 new bytes go on";
  a = on_client(f, seg(kClientIsn + 1, kServerIsn + 1, F | A, 50), kT0);
  EXPECT_EQ(a.verdict, Verdict::kForward) << "the FIN behind a repeated header is kept";
  EXPECT_EQ(a.trim, 50);
  EXPECT_EQ(f.client_fin_seq, Seq(kClientIsn + 51));
  a = on_client(f, seg(kClientIsn + 51, kServerIsn + 1, A, 10), kT0);
  EXPECT_EQ(a.trim, 0);
}

TEST(TcpSplice, Timers) {
  {
    SCOPED_TRACE("connect timeout in SYN-SENT: the next server, else RST");
    Flow f = flow_in(Phase::kSynSent);
    EXPECT_EQ(deadline(f), kT0 + 5000);
    const Action a = on_timer(f, kT0 + 5000);
    EXPECT_TRUE(a.has(kActRedispatch));
    EXPECT_TRUE(a.has(kActResetBoth));
    EXPECT_TRUE(a.has(kActConnectFailure));
  }
  {
    SCOPED_TRACE("header retransmission backs off, then gives up");
    Flow f = flow_in(Phase::kEstablished);
    std::uint64_t t = kT0;
    std::uint64_t gap = kHeaderRtoMs;
    for (int i = 0; i < kHeaderMaxRetransmits; ++i) {
      t += gap;
      EXPECT_EQ(deadline(f), t);
      const Action a = on_timer(f, t);
      EXPECT_TRUE(a.has(kActSendHeader) && a.has(kActHeaderResend));
      gap *= 2;
    }
    t += gap;
    const Action last = on_timer(f, t);
    EXPECT_TRUE(last.has(kActResetBoth));
    EXPECT_TRUE(last.has(kActClose));
    EXPECT_EQ(f.state, FlowState::kClosed);
  }
  {
    SCOPED_TRACE("the upstream header's deadline is absolute");
    Flow f = flow_in(Phase::kAwaitHeader, true);
    // A trickle of bytes every second does not move it.
    for (int i = 1; i <= 4; ++i) {
      on_client(f, seg(kClientIsn + 1, kServerIsn + 1, A, 1),
                kT0 + static_cast<std::uint64_t>(i) * 1000);
    }
    EXPECT_EQ(deadline(f), kT0 + kAcceptProxyTimeoutMs);
    const Action a = on_timer(f, kT0 + kAcceptProxyTimeoutMs);
    EXPECT_EQ(a.reason, DropReason::kProxyHeaderTimeout);
    EXPECT_TRUE(a.has(kActResetBoth) && a.has(kActClose));
  }
  {
    SCOPED_TRACE("idle expiry, and the linger after close");
    Flow f = flow_in(Phase::kHeaderAcked);
    EXPECT_EQ(deadline(f), kT0 + 60000);
    EXPECT_TRUE(on_timer(f, kT0 + 60000).has(kActExpired));
    EXPECT_EQ(deadline(f), kT0 + 60000 + kClosedLingerMs);
    EXPECT_TRUE(on_timer(f, kT0 + 60000 + kClosedLingerMs).has(kActRelease));
  }
}

TEST(TcpSplice, ANewClientIsnInSynSentKeepsTheServerSideIsn) {
  Flow f = flow_in(Phase::kSynSent);
  const Seq server_side = f.server_first();
  EXPECT_EQ(on_client(f, seg(7000, 0, S), kT0 + 1000).verdict, Verdict::kForward);
  EXPECT_EQ(f.client_isn, Seq(7000));
  EXPECT_EQ(f.server_first(), server_side);
}

// HAProxy's termination state (configuration.txt 8.5) for each way a splice ends, as the log
// record carries it, and the bytes each side took as the acknowledgements tell them.
TEST(TcpSplice, EachEndingGivesHaproxysTerminationState) {
  struct Ending {
    std::string what;
    Phase phase;
    bool accept_proxy;
    std::uint16_t set;  // flags the worker sets at the SYN
    std::function<void(Flow&)> end;
    char cause;
    char where;
  };
  const std::uint64_t late = kT0 + 10 * 60 * 1000;
  const std::vector<Ending> endings = {
      {"the client resets", Phase::kHeaderAcked, false, 0,
       [](Flow& f) { on_client(f, seg(kClientIsn + 1, 0, R), kT0); }, 'C', 'D'},
      {"the server resets", Phase::kHeaderAcked, false, 0,
       [](Flow& f) { on_server(f, seg(kServerIsn + 1, 0, R), kT0); }, 'S', 'D'},
      {"the server refuses the connection", Phase::kSynSent, false, 0,
       [](Flow& f) { on_server(f, seg(0, kServerView + 1, R | A), kT0); }, 'S', 'C'},
      {"the server never answers the SYN", Phase::kSynSent, false, 0,
       [](Flow& f) { on_timer(f, kT0 + 5000); }, 's', 'C'},
      {"the client never completes the handshake", Phase::kSynReceived, false, 0,
       [](Flow& f) { on_timer(f, kT0 + 5000); }, 'c', 'C'},
      {"the server never takes our header", Phase::kEstablished, false, 0,
       [&](Flow& f) {
         for (int i = 0; i <= kHeaderMaxRetransmits; ++i) {
           on_timer(f, deadline(f));
         }
       },
       's', 'D'},
      {"the upstream proxy's header never comes", Phase::kAwaitHeader, true, 0,
       [](Flow& f) { on_timer(f, kT0 + kAcceptProxyTimeoutMs); }, 'c', 'R'},
      {"the upstream proxy's header is malformed", Phase::kAwaitHeader, true, 0,
       [](Flow& f) { abort(f, EndCause::kProxy, kT0); }, 'P', 'R'},
      {"idle, timeout client <= timeout server", Phase::kHeaderAcked, false, 0,
       [&](Flow& f) { on_timer(f, late); }, 'c', 'D'},
      {"idle, timeout server < timeout client", Phase::kHeaderAcked, false, kFlowServerIdleFirst,
       [&](Flow& f) { on_timer(f, late); }, 's', 'D'},
      {"its server went DOWN (shutdown-sessions)", Phase::kHeaderAcked, false, 0,
       [](Flow& f) { abort(f, EndCause::kDown, kT0); }, 'D', 'D'},
  };
  for (const Ending& e : endings) {
    SCOPED_TRACE(e.what);
    Flow f = flow_in(e.phase, e.accept_proxy);
    f.flags = static_cast<std::uint16_t>(f.flags | e.set);
    e.end(f);
    EXPECT_EQ(f.state, FlowState::kClosed);
    EXPECT_EQ(static_cast<char>(f.end.cause), e.cause);
    EXPECT_EQ(static_cast<char>(f.end.phase), e.where);
  }
}

TEST(TcpSplice, BothFinsEndCleanlyAndTheAcknowledgementsCountTheBytes) {
  Flow f = flow_in(Phase::kHeaderAcked);
  // The server greets (20 bytes, sequence numbers wrapping past 2^32), the client sends 6.
  on_server(f, seg(kServerIsn + 1, kServerView + 1 + kHdr, A, 20), kT0);
  on_client(f, seg(kClientIsn + 1, kServerIsn + 21, A, 6), kT0);
  on_server(f, seg(kServerIsn + 21, kServerView + 1 + kHdr + 6, F | A), kT0);
  on_client(f, seg(kClientIsn + 7, kServerIsn + 22, F | A), kT0);
  EXPECT_TRUE(on_server(f, seg(kServerIsn + 22, kServerView + kHdr + 8, A), kT0).has(kActClose));
  EXPECT_EQ(f.end, SessionEnd{});
  EXPECT_EQ(bytes_to_client(f), 20U);
  EXPECT_EQ(bytes_from_client(f), 6U);
}

TEST(TcpSplice, AResetsAcknowledgementCountsTheBytesItsSenderTook) {
  // The client reads the server's 20 bytes and resets before its delayed ACK goes out.
  Flow f = flow_in(Phase::kHeaderAcked);
  on_server(f, seg(kServerIsn + 1, kServerView + 1 + kHdr, A, 20), kT0);
  EXPECT_TRUE(on_client(f, seg(kClientIsn + 1, kServerIsn + 21, R | A), kT0).has(kActClose));
  EXPECT_EQ(bytes_to_client(f), 20U);
  // The server reads the client's 6 bytes and resets.
  f = flow_in(Phase::kHeaderAcked);
  on_client(f, seg(kClientIsn + 1, kServerIsn + 1, A, 6), kT0);
  EXPECT_TRUE(
      on_server(f, seg(kServerIsn + 1, kServerView + 1 + kHdr + 6, R | A), kT0).has(kActClose));
  EXPECT_EQ(bytes_from_client(f), 6U);
}

TEST(TcpSplice, TheConnectTimeRunsFromTheClientsSynToTheServersSynAck) {
  Flow f = flow_in(Phase::kSynSent);
  f.accept_ms = kT0 - 3;
  on_server(f, seg(kServerIsn, kServerView + 1, S | A), kT0);
  EXPECT_EQ(f.synack_ms, 3U);
}

TEST(TcpSplice, NoBytesBeforeTheHandshake) {
  Flow f = flow_in(Phase::kSynSent);
  EXPECT_EQ(bytes_to_client(f), 0U);
  EXPECT_EQ(bytes_from_client(f), 0U);
  f = flow_in(Phase::kHeaderAcked);
  EXPECT_EQ(bytes_to_client(f), 0U);
  EXPECT_EQ(bytes_from_client(f), 0U);
}

}  // namespace
}  // namespace postern::dataplane::splice
