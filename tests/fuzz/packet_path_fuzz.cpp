// libFuzzer target for the packet path: one Worker, built once, fed frames on both sides
// (port 0 towards clients, port 1 towards servers) by inputs read as small programs of
// operations, so a run reaches established, half-closed, redispatched and accept-proxy flows
// rather than only the parser. The flow table (1024 flows), the neighbour cache, the clock
// and the counters persist across inputs, as in a running worker; each input brings its own
// view of the peers (docs/fuzzing.md describes the program format).
//
// Checked besides the sanitizers, with an abort when broken: every frame the worker sends
// parses with parse_frame as TCP, ARP or ICMP, its IPv4 header checksum and its TCP or ICMP
// checksum are right by full recomputation, and its IPv4 (or ARP sender) address is one of
// Postern's own; after every operation the counters agree with each other (flows created
// minus closed is the active count, which never exceeds the table's used slots nor its
// capacity); after every input the flow table agrees with the counters (open flows per
// listener and per server, header buffers, both keys of every flow indexed) and no mbuf is
// lost (the pool's free count plus the frames waiting for ARP is the count at start).
#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_tcp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "net/frame.hpp"
#include "postern/dataplane/log_record.hpp"
#include "postern/dataplane/probe.hpp"
#include "support/eal_env.hpp"
#include "worker/worker.hpp"

namespace postern::fuzz {
namespace {

namespace dp = postern::dataplane;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "packet_path_fuzz: invariant broken: %s\n", what);
  std::abort();
}

void check(bool condition, const char* what) {
  if (!condition) {
    broken(what);
  }
}

void dump(const char* what, const std::uint8_t* frame, std::size_t len, std::uint16_t port) {
  std::fprintf(stderr, "packet_path_fuzz: %s port %u, %zu bytes:", what, port, len);
  for (std::size_t i = 0; i < len; ++i) {
    std::fprintf(stderr, "%s%02x", i % 16 == 0 ? "\n  " : " ", frame[i]);
  }
  std::fprintf(stderr, "\n");
}

// A sent frame that breaks an invariant is printed before the abort.
void check_frame(bool condition, const char* what, const std::uint8_t* frame, std::size_t len,
                 std::uint16_t port) {
  if (!condition) {
    dump("frame sent on", frame, len, port);
    broken(what);
  }
}

constexpr std::uint32_t ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  // Network order as it lies in memory on a little-endian host (x86, what DPDK runs on here).
  return static_cast<std::uint32_t>(a) | static_cast<std::uint32_t>(b) << 8 |
         static_cast<std::uint32_t>(c) << 16 | static_cast<std::uint32_t>(d) << 24;
}

// The lab of the unit tests: clients on 198.18.0.0/24 behind port 0, servers on 198.19.0.0/24
// behind port 1, two source addresses, VIPs .100 (always) and .101 (in one snapshot).
constexpr std::uint32_t kClientIface = ipv4(198, 18, 0, 1);
constexpr std::uint32_t kServerIface = ipv4(198, 19, 0, 1);
constexpr std::uint32_t kSource2 = ipv4(198, 19, 0, 2);
constexpr std::uint32_t kVip = ipv4(198, 18, 0, 100);
constexpr std::uint32_t kVip2 = ipv4(198, 18, 0, 101);
constexpr std::array<std::uint32_t, 5> kOwnAddresses = {kClientIface, kServerIface, kSource2, kVip,
                                                        kVip2};

constexpr std::uint32_t kFlows = 1024;
constexpr std::size_t kMaxFrame = 2048;
constexpr std::size_t kEnds = 16;           // peers remembered per input, on each side
constexpr std::size_t kFloodBudget = 2048;  // flood SYNs per input: twice the flow table
constexpr std::uint8_t kFin = RTE_TCP_FIN_FLAG;
constexpr std::uint8_t kSyn = RTE_TCP_SYN_FLAG;
constexpr std::uint8_t kRst = RTE_TCP_RST_FLAG;
constexpr std::uint8_t kAck = RTE_TCP_ACK_FLAG;

rte_ether_addr mac(std::uint8_t last) {
  return rte_ether_addr{{0x02, 0x00, 0x00, 0x00, 0x00, last}};
}
const rte_ether_addr kPortMac[2] = {mac(0x01), mac(0x02)};

// The checks' own arithmetic is left out of the coverage feedback (it is the same for every
// input and only slows the fuzzer down).
#if defined(__clang__)
#define POSTERN_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define POSTERN_NO_COVERAGE
#endif

// RFC 1071 one's complement sum, written here rather than taken from net/checksum so the
// check does not share the code it checks.
POSTERN_NO_COVERAGE std::uint32_t sum_words(const std::uint8_t* p, std::size_t n,
                                            std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2) {
    sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
  }
  if ((n & 1) != 0) {
    sum += static_cast<std::uint32_t>(p[n - 1] << 8);
  }
  return sum;
}
POSTERN_NO_COVERAGE std::uint16_t fold(std::uint32_t sum) {
  while (sum >> 16 != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<std::uint16_t>(sum);
}
// The checksum to store over an IPv4 header (its checksum field zero).
std::uint16_t ip_checksum(const std::uint8_t* ip, std::size_t ihl) {
  return static_cast<std::uint16_t>(~fold(sum_words(ip, ihl)));
}
// The TCP pseudo-header sum plus the segment (its checksum field as it is).
std::uint16_t tcp_sum(const std::uint8_t* ip, const std::uint8_t* tcp, std::size_t len) {
  std::uint32_t s = sum_words(ip + 12, 8);
  s += 6 + static_cast<std::uint32_t>(len);
  return fold(sum_words(tcp, len, s));
}
void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
  put16(p, static_cast<std::uint16_t>(v >> 16));
  put16(p + 2, static_cast<std::uint16_t>(v));
}

// The input, read front to back; past its end every read gives zeros.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
  bool done() const { return at_ >= n_; }
  std::uint8_t u8() { return at_ < n_ ? p_[at_++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() << 8 | u8()); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(u16()) << 16 | u16(); }
  // Up to `n` bytes into `out` (zero-filled past the end of the input).
  void bytes(std::uint8_t* out, std::size_t n) {
    const std::size_t have = std::min(n, n_ - std::min(n_, at_));
    if (have != 0) {
      std::memcpy(out, p_ + at_, have);
    }
    std::memset(out + have, 0, n - have);
    at_ += n;
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
  std::size_t at_ = 0;
};

// One TCP segment to build.
struct Segment {
  rte_ether_addr src_mac{};
  rte_ether_addr dst_mac{};
  std::uint32_t src = 0;  // network order
  std::uint32_t dst = 0;
  std::uint16_t sport = 0;  // host order
  std::uint16_t dport = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0;
  std::uint16_t window = 64240;
  std::uint16_t urgent = 0;
  std::uint8_t ttl = 64;
  std::uint8_t options[40] = {};
  std::uint8_t options_len = 0;  // a multiple of 4
  std::uint8_t payload[kMaxFrame] = {};
  std::uint16_t payload_len = 0;
};

// Ethernet + IPv4 (20 bytes, DF) + TCP; returns the frame's length.
POSTERN_NO_COVERAGE std::size_t build_tcp(const Segment& s, std::uint8_t* out) {
  const std::size_t tcp_len = 20U + s.options_len + s.payload_len;
  std::memcpy(out, s.dst_mac.addr_bytes, 6);
  std::memcpy(out + 6, s.src_mac.addr_bytes, 6);
  put16(out + 12, RTE_ETHER_TYPE_IPV4);
  std::uint8_t* ip = out + 14;
  std::memset(ip, 0, 20);
  ip[0] = 0x45;
  put16(ip + 2, static_cast<std::uint16_t>(20 + tcp_len));
  put16(ip + 6, 0x4000);
  ip[8] = s.ttl;
  ip[9] = IPPROTO_TCP;
  std::memcpy(ip + 12, &s.src, 4);
  std::memcpy(ip + 16, &s.dst, 4);
  put16(ip + 10, ip_checksum(ip, 20));
  std::uint8_t* t = ip + 20;
  put16(t, s.sport);
  put16(t + 2, s.dport);
  put32(t + 4, s.seq);
  put32(t + 8, s.ack);
  t[12] = static_cast<std::uint8_t>((20 + s.options_len) / 4 << 4);
  t[13] = s.flags;
  put16(t + 14, s.window);
  put16(t + 16, 0);
  put16(t + 18, s.urgent);
  std::memcpy(t + 20, s.options, s.options_len);
  std::memcpy(t + 20 + s.options_len, s.payload, s.payload_len);
  put16(t + 16, static_cast<std::uint16_t>(~tcp_sum(ip, t, tcp_len)));
  return 34 + tcp_len;
}

// The peers as this input sees them: each end's next sequence number to send and the next
// it expects (learnt from what the worker sent it).
struct ClientEnd {
  std::uint32_t ip = 0;
  std::uint32_t vip = 0;
  std::uint16_t port = 0;
  std::uint16_t vport = 0;
  rte_ether_addr mac{};
  std::uint32_t snd_nxt = 0;
  std::uint32_t rcv_nxt = 0;
  std::uint32_t ts = 0;         // the end's TSval clock
  std::uint32_t ts_recent = 0;  // the latest TSval it was sent, echoed in its TSecr
};
struct ServerEnd {
  std::uint32_t ip = 0;
  std::uint32_t local_ip = 0;
  std::uint16_t port = 0;
  std::uint16_t local_port = 0;
  std::uint32_t snd_nxt = 0;
  std::uint32_t rcv_nxt = 0;
  std::uint32_t ts = 0;         // the end's TSval clock
  std::uint32_t ts_recent = 0;  // the latest TSval it was sent, echoed in its TSecr
};

// Remembers the latest kEnds ends; index 0 is the newest.
template <typename End>
class Ends {
 public:
  void clear() { n_ = 0; }
  bool empty() const { return n_ == 0; }
  End& pick(std::uint8_t i) { return ends_[(head_ + kEnds - 1 - i % n_) % kEnds]; }
  End& add(const End& e) {
    End& slot = ends_[head_];
    slot = e;
    head_ = (head_ + 1) % kEnds;
    n_ = std::min(n_ + 1, kEnds);
    return slot;
  }
  template <typename Match>
  End* find(Match&& match) {
    for (std::size_t i = 0; i < n_; ++i) {
      End& e = ends_[(head_ + kEnds - 1 - i) % kEnds];
      if (match(e)) {
        return &e;
      }
    }
    return nullptr;
  }

 private:
  std::array<End, kEnds> ends_{};
  std::size_t head_ = 0;
  std::size_t n_ = 0;
};

// The operations of a program: one byte each (modulo kOps), then its fields.
enum Op : std::uint8_t {
  kOpClientSyn,
  kOpServerSynAck,
  kOpClientSegment,
  kOpServerSegment,
  kOpRawFrame,
  kOpPatchedSegment,
  kOpAdvance,
  kOpServerHealth,
  kOpSnapshot,
  kOpIcmpError,
  kOpArp,
  kOpShutdownServer,
  kOpEcho,
  kOpFlood,
  kOpProbe,
  kOps,
};

// PROXY headers an upstream proxy would send first on an accept-proxy bind.
constexpr char kProxyV1[] = "PROXY TCP4 192.0.2.7 198.18.0.100 51000 993\r\n";
constexpr std::uint8_t kProxyV2[] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
                                     0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 192,  0,    2,    7,
                                     198,  18,   0,    100,  0xc7, 0x38, 0x03, 0xe1};

class Rig {
 public:
  Rig();
  void run(Input& in);

 private:
  static std::uint16_t capture(void* ctx, std::uint16_t port, std::uint16_t queue, rte_mbuf** pkts,
                               std::uint16_t n);
  void check_sent(std::uint16_t port, const rte_mbuf* m);
  void learn(std::uint16_t port, const dp::FrameView& v);

  void deliver(const std::uint8_t* frame, std::size_t len, std::uint16_t port);
  void deliver(const Segment& s, std::uint16_t port);
  void after_op();
  void check_counters();
  void check_table();
  void drain_rings();
  void publish(std::size_t variant);

  void client_syn(Input& in);
  void server_synack(Input& in);
  bool client_segment(Input& in, Segment& s);
  bool server_segment(Input& in, Segment& s);
  void raw_frame(Input& in);
  void patched_segment(Input& in);
  void advance(Input& in);
  void server_health(Input& in);
  void icmp_error(Input& in);
  void arp(Input& in);
  void shutdown_server(Input& in);
  void echo(Input& in);
  void flood(Input& in);
  void probe(Input& in);
  void options(Input& in, Segment& s, bool syn, std::uint32_t ts_val, std::uint32_t ts_ecr);
  void payload(Input& in, Segment& s);

  dp::Settings settings_;
  dp::SeqOffsets offsets_{std::array<std::uint64_t, 2>{0x0123456789abcdefULL, 0x5eed}};
  dp::SipKey cookie_key_{0xc00c1e5ULL, 0xfeedULL};
  std::array<dp::Snapshot, 4> snaps_;
  std::unique_ptr<dp::ServerLive[]> live_;
  std::atomic<const dp::Snapshot*> published_{nullptr};
  std::uint32_t generation_ = 0;
  rte_ring* probe_commands_ = nullptr;
  rte_ring* probe_events_ = nullptr;
  rte_ring* session_log_ = nullptr;
  rte_mempool* pool_ = nullptr;
  std::unique_ptr<dp::Worker> worker_;
  std::uint64_t now_ = 1000000;
  unsigned pool_free_ = 0;  // the pool's free count once the worker started
  Ends<ClientEnd> clients_;
  Ends<ServerEnd> servers_;
  Segment seg_;
  std::uint8_t frame_[kMaxFrame] = {};
  // A TCP segment with a wrong checksum went in and may still come out.
  bool lax_tcp_checksum_ = false;
  std::size_t flood_budget_ = 0;  // SYNs the flood operation may still send in this input
  // PACKET_PATH_FUZZ_TRACE set: the counters after each input, on stderr (to see how deep a
  // seed goes).
  bool trace_ = std::getenv("PACKET_PATH_FUZZ_TRACE") != nullptr;
};

dp::ServerSlot server(std::uint32_t addr, std::uint16_t port, bool proxy) {
  dp::ServerSlot sv;
  sv.name = "fuzz";
  sv.ip = addr;
  sv.port = rte_cpu_to_be_16(port);
  sv.send_proxy = proxy;
  sv.port_id = 1;
  sv.next_hop = addr;
  return sv;
}

Rig::Rig() {
  pool_ = test::test_pool();
  settings_.workers = 1;
  settings_.flows = kFlows;
  dp::InterfaceSettings c;
  c.name = "client";
  c.ip = kClientIface;
  c.prefix_len = 24;
  c.port_id = 0;
  c.mac = kPortMac[0];
  dp::InterfaceSettings s = c;
  s.name = "servers";
  s.ip = kServerIface;
  s.port_id = 1;
  s.mac = kPortMac[1];
  settings_.interfaces = {c, s};
  settings_.source_addresses = {kServerIface, kSource2};

  // Snapshot 0: listeners imap (:143, two servers with send-proxy-v2, 3 retries), plain
  // (:110, no header, the server's idle timeout shorter), edge (:993, accept-proxy, a server
  // nobody has resolved yet) and smtp (*:25, a server and a backup).
  dp::Snapshot& base = snaps_[0];
  base.vips = {kVip};
  dp::ListenerSlot imap;
  imap.name = "imap";
  imap.servers = {0, 1};
  imap.timeout_connect_ms = 5000;
  imap.timeout_client_ms = 60000;
  imap.timeout_server_ms = 60000;
  imap.timeout_fin_ms = 30000;
  dp::ListenerSlot plain = imap;
  plain.name = "plain";
  plain.servers = {2};
  plain.retries = 1;
  plain.timeout_connect_ms = 2000;
  plain.timeout_client_ms = 30000;
  plain.timeout_server_ms = 10000;
  dp::ListenerSlot edge = imap;
  edge.name = "edge";
  edge.servers = {3};
  dp::ListenerSlot smtp = imap;
  smtp.name = "smtp";
  smtp.servers = {4, 5};
  smtp.retries = 2;
  base.listeners = {imap, plain, edge, smtp};
  base.servers = {server(ipv4(198, 19, 0, 10), 143, true),  server(ipv4(198, 19, 0, 11), 143, true),
                  server(ipv4(198, 19, 0, 10), 110, false), server(ipv4(198, 19, 0, 12), 143, true),
                  server(ipv4(198, 19, 0, 11), 25, false),  server(ipv4(198, 19, 0, 13), 25, true)};
  base.servers[5].backup = true;
  base.binds = {
      {kVip, 143, 0, false}, {kVip, 110, 1, false}, {kVip, 993, 2, true}, {0, 25, 3, false}};
  // The SYN proxy in `auto` switches on at 64 half-open flows (a flood reaches that), one
  // client address may hold 16, and a half-open flow lives 3 s.
  base.defense.syn_proxy_above = 64;
  base.defense.half_open_per_source = 16;
  base.defense.half_open_timeout_ms = 3000;
  // Snapshot 1: a second VIP; plain removed (its listener and server retired, as a reload
  // keeps their slots); maxconn on imap, on a server and globally; imap's SYN proxy on.
  dp::Snapshot& v1 = snaps_[1] = base;
  v1.vips = {kVip, kVip2};
  v1.listeners[1].retired = true;
  v1.listeners[1].servers.clear();
  v1.servers[2].retired = true;
  v1.binds = {
      {kVip, 143, 0, false}, {kVip2, 143, 0, false}, {kVip, 993, 2, true}, {0, 25, 3, false}};
  v1.listeners[0].maxconn = 3;
  v1.servers[1].maxconn = 2;
  v1.global_maxconn = 8;
  v1.listeners[0].syn_proxy = dp::SynProxyMode::kOn;  // imap answers every SYN with a cookie
  // Snapshot 2: short timeouts and no retries on imap, a server weighted 0, edge without
  // accept-proxy, smtp's main server disabled (its backup takes over), the SYN proxy on for
  // every listener and refusals silent.
  dp::Snapshot& v2 = snaps_[2] = base;
  for (auto& l : v2.listeners) {
    l.timeout_connect_ms = 200;
    l.timeout_client_ms = 2000;
    l.timeout_server_ms = 1000;
    l.timeout_fin_ms = 500;
  }
  v2.listeners[0].retries = 0;
  v2.servers[0].weight = 0;
  v2.binds[2].accept_proxy = false;
  v2.servers[4].disabled = true;
  v2.defense.syn_proxy = dp::SynProxyMode::kOn;  // every listener, refusing in silence
  for (auto& l : v2.listeners) {
    l.syn_proxy = dp::SynProxyMode::kOn;
  }
  v2.defense.refuse = dp::RefuseMode::kDrop;
  // Snapshot 3: the headers turned off, imap's first server behind a gateway, the SYN proxy
  // and the per-source limit off.
  dp::Snapshot& v3 = snaps_[3] = base;
  v3.servers[0].send_proxy = false;
  v3.servers[1].send_proxy = false;
  v3.servers[0].next_hop = ipv4(198, 19, 0, 250);
  v3.defense.syn_proxy = dp::SynProxyMode::kOff;
  for (auto& l : v3.listeners) {
    l.syn_proxy = dp::SynProxyMode::kOff;
  }
  v3.defense.half_open_per_source = 0;

  live_ = std::make_unique<dp::ServerLive[]>(dp::kMaxServers);
  for (auto& snap : snaps_) {
    snap.live = live_.get();
  }
  probe_commands_ = rte_ring_create_elem("fuzz_cmd", sizeof(dp::ProbeCommand), 64, SOCKET_ID_ANY,
                                         RING_F_SP_ENQ | RING_F_SC_DEQ);
  probe_events_ = rte_ring_create_elem("fuzz_evt", sizeof(dp::ProbeEvent), 1024, SOCKET_ID_ANY,
                                       RING_F_SP_ENQ | RING_F_SC_DEQ);
  session_log_ = rte_ring_create_elem("fuzz_log", sizeof(dp::SessionRecord), dp::kLogRingSize,
                                      SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  check(probe_commands_ != nullptr && probe_events_ != nullptr && session_log_ != nullptr,
        "rings created");
  snaps_[0].generation = ++generation_;
  published_.store(&snaps_[0]);

  dp::WorkerDeps deps;
  deps.settings = &settings_;
  deps.pool = pool_;
  deps.snapshot = &published_;
  deps.tx = &Rig::capture;
  deps.tx_ctx = this;
  deps.offsets = &offsets_;
  deps.probe_commands = probe_commands_;
  deps.probe_events = probe_events_;
  deps.session_log = session_log_;
  deps.cookie_key = &cookie_key_;
  worker_ = std::make_unique<dp::Worker>(deps);
  worker_->set_now_ms(now_);
  worker_->start();  // announces the addresses, asks for the servers' MACs
  worker_->housekeeping();
  pool_free_ = rte_mempool_avail_count(pool_) + worker_->frames_waiting();
}

// ---------------------------------------------------------------------------------------
// What the worker sends

std::uint16_t Rig::capture(void* ctx, std::uint16_t port, std::uint16_t, rte_mbuf** pkts,
                           std::uint16_t n) {
  auto* self = static_cast<Rig*>(ctx);
  for (std::uint16_t i = 0; i < n; ++i) {
    self->check_sent(port, pkts[i]);
    rte_pktmbuf_free(pkts[i]);
  }
  return n;
}

bool own_address(std::uint32_t a) {
  return std::find(kOwnAddresses.begin(), kOwnAddresses.end(), a) != kOwnAddresses.end();
}

void Rig::check_sent(std::uint16_t port, const rte_mbuf* m) {
  check(port < 2, "sent on an existing port");
  check(m->nb_segs == 1, "one segment per frame");
  const std::uint16_t len = rte_pktmbuf_data_len(m);
  check(len <= kMaxFrame, "frame fits an mbuf");
  std::uint8_t copy[kMaxFrame];
  std::memcpy(copy, rte_pktmbuf_mtod(m, const std::uint8_t*), len);
  dp::FrameView v;
  dp::DropReason reason = dp::DropReason::kCount;
  if (trace_) {
    dump("sent on", copy, len, port);
  }
  const dp::FrameKind kind = dp::parse_frame(copy, len, v, reason);
  check_frame(kind != dp::FrameKind::kDrop, "a sent frame parses", copy, len, port);
  check_frame(std::memcmp(v.eth->src_addr.addr_bytes, kPortMac[port].addr_bytes, 6) == 0,
              "sent from the port's own MAC", copy, len, port);
  if (kind == dp::FrameKind::kArp) {
    check_frame(own_address(v.arp->arp_data.arp_sip), "ARP from an own address", copy, len, port);
    return;
  }
  const auto* ip = reinterpret_cast<const std::uint8_t*>(v.ip);
  const std::size_t ihl = static_cast<std::size_t>(ip[0] & 0x0f) * 4;
  check_frame(fold(sum_words(ip, ihl)) == 0xffff, "IPv4 header checksum", copy, len, port);
  check_frame(own_address(v.ip->src_addr), "IPv4 source is an own address", copy, len, port);
  check_frame(v.ip->time_to_live != 0, "TTL above zero", copy, len, port);
  const std::uint8_t* l4 = ip + ihl;
  if (kind == dp::FrameKind::kIcmp4) {
    check_frame(fold(sum_words(l4, v.l4_len)) == 0xffff, "ICMP checksum", copy, len, port);
    return;
  }
  // A segment that came in with a wrong checksum goes on with it (the checksum is updated,
  // never recomputed, so the receiver still sees the damage and drops it).
  check_frame(lax_tcp_checksum_ || tcp_sum(ip, l4, v.l4_len) == 0xffff, "TCP checksum", copy, len,
              port);
  learn(port, v);
}

// The peers learn what they were sent: the next sequence number they expect, and the server
// side of each connection the worker opens.
// The TSval of a segment's timestamp option, if it has one.
bool timestamp_of(const dp::FrameView& v, std::uint32_t& val) {
  const std::uint8_t* o = v.tcp_options();
  const std::size_t n = v.tcp_options_len();
  for (std::size_t i = 0; i < n;) {
    if (o[i] == 0) {
      return false;
    }
    if (o[i] == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= n || o[i + 1] < 2 || i + o[i + 1] > n) {
      return false;
    }
    if (o[i] == 8 && o[i + 1] == 10) {
      val = static_cast<std::uint32_t>(o[i + 2] << 24 | o[i + 3] << 16 | o[i + 4] << 8 | o[i + 5]);
      return true;
    }
    i += o[i + 1];
  }
  return false;
}

void Rig::learn(std::uint16_t port, const dp::FrameView& v) {
  const std::uint8_t fl = v.tcp->tcp_flags;
  std::uint32_t tsval = 0;
  const bool has_ts = timestamp_of(v, tsval);
  const std::uint32_t end = rte_be_to_cpu_32(v.tcp->sent_seq) + v.payload_len +
                            ((fl & kSyn) != 0 ? 1 : 0) + ((fl & kFin) != 0 ? 1 : 0);
  const std::uint16_t sport = rte_be_to_cpu_16(v.tcp->src_port);
  const std::uint16_t dport = rte_be_to_cpu_16(v.tcp->dst_port);
  if ((fl & kRst) != 0) {
    return;
  }
  if (port == 0) {
    ClientEnd* c = clients_.find([&](const ClientEnd& e) {
      return e.ip == v.ip->dst_addr && e.port == dport && e.vip == v.ip->src_addr &&
             e.vport == sport;
    });
    if (c != nullptr) {
      c->rcv_nxt = end;
      c->ts_recent = has_ts ? tsval : c->ts_recent;
    }
    return;
  }
  ServerEnd* s = servers_.find([&](const ServerEnd& e) {
    return e.ip == v.ip->dst_addr && e.port == dport && e.local_ip == v.ip->src_addr &&
           e.local_port == sport;
  });
  if (s == nullptr && (fl & (kSyn | kAck)) == kSyn) {
    ServerEnd e;
    e.ip = v.ip->dst_addr;
    e.port = dport;
    e.local_ip = v.ip->src_addr;
    e.local_port = sport;
    s = &servers_.add(e);
  }
  if (s != nullptr) {
    s->rcv_nxt = end;
    s->ts_recent = has_ts ? tsval : s->ts_recent;
  }
}

// ---------------------------------------------------------------------------------------
// Invariants

void Rig::check_counters() {
  const dp::WorkerCounters& c = worker_->counters();
  const dp::FlowTable& t = worker_->flows();
  check(t.size() <= t.capacity(), "flow table used <= capacity");
  check(c.flows_closed <= c.flows_created, "flows closed <= created");
  check(c.active_flows == c.flows_created - c.flows_closed, "active = created - closed");
  check(c.active_flows <= c.flow_table_used, "active flows <= flow table used");
  check(c.flow_table_used == t.size(), "flow_table_used counter = table");
  check(c.active_flows <= t.capacity(), "active flows <= capacity");
}

void Rig::check_table() {
  const dp::FlowTable& t = worker_->flows();
  const dp::WorkerSlots& slots = worker_->slots();
  std::array<std::uint64_t, 8> per_listener{};
  std::array<std::uint64_t, 8> per_server{};
  std::uint32_t used = 0;
  std::uint32_t open = 0;
  std::uint32_t buffers = 0;
  for (std::uint32_t i = 0; i < t.capacity(); ++i) {
    const dp::Flow& f = t.at(i);
    if (!f.in_use) {
      continue;
    }
    ++used;
    const dp::FlowRef c = t.lookup(f.client_key());
    check(c.index == i && c.side == dp::FlowSide::kClient, "flow indexed under its client key");
    if (f.state != dp::FlowState::kClosed) {
      const dp::FlowRef s = t.lookup(f.server_key());
      check(s.index == i && s.side == dp::FlowSide::kServer, "flow indexed under its server key");
      ++open;
      check(f.listener < per_listener.size() && f.server < per_server.size(),
            "flow's listener and server exist");
      ++per_listener[f.listener];
      ++per_server[f.server];
    }
    if (f.proxy_buf != dp::kNoBuffer) {
      ++buffers;
    }
  }
  check(used == t.size(), "in-use flows = table size");
  check(open == worker_->counters().active_flows, "open flows = active_flows");
  for (std::size_t l = 0; l < per_listener.size(); ++l) {
    check(per_listener[l] == slots.listener_active[l].get(), "open flows per listener");
  }
  for (std::size_t s = 0; s < per_server.size(); ++s) {
    check(per_server[s] == slots.server_active[s].get(), "open flows per server");
  }
  check(buffers + worker_->header_buffers_free() == std::min(kFlows, dp::kProxyBuffers),
        "header buffers held + free = all");
  check(rte_mempool_avail_count(pool_) + worker_->frames_waiting() == pool_free_,
        "no mbuf lost: free + waiting for ARP = free at start");
}

void Rig::drain_rings() {
  // What the control thread does: takes session log records and probe events.
  std::array<dp::SessionRecord, 32> records;
  while (unsigned n = rte_ring_dequeue_burst_elem(session_log_, records.data(),
                                                  sizeof(dp::SessionRecord), 32, nullptr)) {
    for (unsigned i = 0; i < n; ++i) {
      check(records[i].listener < snaps_[0].listeners.size(), "record's listener exists");
      check(records[i].server < snaps_[0].servers.size() || records[i].server == dp::kNoServerSlot,
            "record's server exists");
    }
  }
  std::array<dp::ProbeEvent, 8> events;
  while (rte_ring_dequeue_burst_elem(probe_events_, events.data(), sizeof(dp::ProbeEvent), 8,
                                     nullptr) != 0) {
  }
}

void Rig::after_op() {
  worker_->housekeeping();  // as the loop does between bursts (timers due now, TX drain)
  check_counters();
}

// ---------------------------------------------------------------------------------------
// Operations

void Rig::deliver(const std::uint8_t* frame, std::size_t len, std::uint16_t port) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  check(m != nullptr, "the pool has an mbuf for the next frame");
  len = std::min<std::size_t>(len, rte_pktmbuf_tailroom(m));
  char* p = rte_pktmbuf_append(m, static_cast<std::uint16_t>(len));
  if (len != 0) {
    std::memcpy(p, frame, len);
  }
  m->port = port;
  dp::FrameView v;
  dp::DropReason reason = dp::DropReason::kCount;
  std::uint8_t copy[kMaxFrame];
  std::memcpy(copy, frame, len);
  if (dp::parse_frame(copy, static_cast<std::uint16_t>(len), v, reason) == dp::FrameKind::kTcp4 &&
      tcp_sum(reinterpret_cast<const std::uint8_t*>(v.ip),
              reinterpret_cast<const std::uint8_t*>(v.tcp), v.l4_len) != 0xffff) {
    lax_tcp_checksum_ = true;
  }
  if (trace_) {
    dump("received on", frame, len, port);
  }
  worker_->handle(m);
  worker_->flush();
}

void Rig::deliver(const Segment& s, std::uint16_t port) {
  deliver(frame_, build_tcp(s, frame_), port);
}

std::uint32_t client_address(std::uint8_t sel) {
  static constexpr std::array<std::uint32_t, 8> kOdd = {
      ipv4(10, 1, 2, 3),        kVip,
      ipv4(255, 255, 255, 255), ipv4(224, 0, 0, 1),
      ipv4(0, 0, 0, 0),         ipv4(198, 19, 0, 10),
      ipv4(198, 18, 0, 255),    ipv4(127, 0, 0, 1)};
  sel &= 0x0f;
  return sel < 8 ? ipv4(198, 18, 0, static_cast<std::uint8_t>(2 + sel)) : kOdd[sel - 8];
}

std::uint32_t server_address(std::uint8_t sel) {
  static constexpr std::array<std::uint32_t, 8> kAddrs = {
      ipv4(198, 19, 0, 10),  ipv4(198, 19, 0, 11), ipv4(198, 19, 0, 12), ipv4(198, 19, 0, 13),
      ipv4(198, 19, 0, 250), kServerIface,         ipv4(0, 0, 0, 0),     ipv4(198, 18, 0, 2)};
  return kAddrs[sel % kAddrs.size()];
}

rte_ether_addr server_mac(std::uint32_t addr) {
  return mac(static_cast<std::uint8_t>(0x20 + (rte_be_to_cpu_32(addr) & 0x0f)));
}

// Options: mode 0 is what the end would usually send (a SYN's MSS, SACK-permitted, timestamps
// and window scale; a timestamp on other segments), 1 a chosen set with chosen values, 2 raw
// bytes, 3 a chosen set followed by raw bytes. Padded with NOPs to a multiple of 4.
void Rig::options(Input& in, Segment& s, bool syn, std::uint32_t ts_val, std::uint32_t ts_ecr) {
  const std::uint8_t mode = in.u8();
  std::uint8_t* o = s.options;
  std::size_t n = 0;
  auto room = [&](std::size_t k) { return n + k <= sizeof s.options; };
  auto ts = [&](std::uint32_t val, std::uint32_t ecr) {
    if (room(10)) {
      o[n] = 8;
      o[n + 1] = 10;
      put32(o + n + 2, val);
      put32(o + n + 6, ecr);
      n += 10;
    }
  };
  switch (mode & 3) {
    case 0:
      if (syn) {
        const std::uint8_t std_syn[] = {2, 4, 0x05, 0xb4, 4, 2, 1, 3, 3, 7};
        std::memcpy(o, std_syn, sizeof std_syn);
        n = sizeof std_syn;
      }
      if ((mode & 4) == 0) {
        ts(ts_val, ts_ecr);
      }
      break;
    case 1:
    case 3: {
      const std::uint8_t set = in.u8();
      if ((set & 0x40) != 0 && room(2)) {
        o[n++] = 1;
        o[n++] = 1;
      }
      if ((set & 1) != 0 && room(4)) {
        o[n] = 2;
        o[n + 1] = 4;
        put16(o + n + 2, in.u16());
        n += 4;
      }
      if ((set & 2) != 0 && room(3)) {
        o[n] = 3;
        o[n + 1] = 3;
        o[n + 2] = in.u8();
        n += 3;
      }
      if ((set & 4) != 0 && room(2)) {
        o[n++] = 4;
        o[n++] = 2;
      }
      if ((set & 8) != 0) {
        const std::uint32_t val = in.u32();
        ts(val, in.u32());
      }
      if ((set & 0x10) != 0) {
        const std::size_t blocks = std::min<std::size_t>(1 + (set >> 7), (40 - n - 2) / 8);
        if (blocks != 0 && room(2 + 8 * blocks)) {
          o[n] = 5;
          o[n + 1] = static_cast<std::uint8_t>(2 + 8 * blocks);
          n += 2;
          for (std::size_t b = 0; b < 2 * blocks; ++b) {
            put32(o + n, in.u32());
            n += 4;
          }
        }
      }
      if ((set & 0x20) != 0 && room(1)) {
        o[n++] = 0;  // end of options
      }
      if ((mode & 3) == 1) {
        break;
      }
      [[fallthrough]];
    }
    case 2: {
      const std::size_t k = std::min<std::size_t>(in.u8() % 41, sizeof s.options - n);
      in.bytes(o + n, k);
      n += k;
      break;
    }
    default:
      break;
  }
  while (n % 4 != 0) {
    o[n++] = 1;
  }
  s.options_len = static_cast<std::uint8_t>(n);
}

// Payload: 0 bytes from the input (up to 255), 1 a piece of a PROXY v1 header, 2 of a v2
// header, 3 up to 1900 bytes of one value (past the MSS, near the mbuf's room).
void Rig::payload(Input& in, Segment& s) {
  const std::uint8_t kind = in.u8();
  const std::size_t max = kMaxFrame - 34 - 20 - s.options_len;
  std::size_t n = 0;
  switch (kind & 3) {
    case 0:
      n = std::min<std::size_t>(in.u8(), max);
      in.bytes(s.payload, n);
      break;
    case 1:
    case 2: {
      const auto* hdr =
          (kind & 3) == 1 ? reinterpret_cast<const std::uint8_t*>(kProxyV1) : kProxyV2;
      const std::size_t len = (kind & 3) == 1 ? sizeof kProxyV1 - 1 : sizeof kProxyV2;
      const std::size_t from = in.u8() % (len + 1);
      const std::uint8_t take = in.u8();
      n = std::min<std::size_t>(take == 0 ? len : take, len - from);
      std::memcpy(s.payload, hdr + from, n);
      // The header's first segment may carry client data after it.
      if ((kind & 4) != 0) {
        const std::size_t more = std::min<std::size_t>(in.u8(), max - n);
        in.bytes(s.payload + n, more);
        n += more;
      }
      break;
    }
    case 3:
      n = std::min<std::size_t>(in.u16() % 1901, max);
      std::memset(s.payload, in.u8(), n);
      break;
    default:
      break;
  }
  s.payload_len = static_cast<std::uint16_t>(n);
}

// Where a sequence or acknowledgement number comes from: 0 the expected one, 1 it plus a
// signed byte, 2 it plus a signed 32-bit word, 3 any value.
std::uint32_t number(Input& in, std::uint8_t mode, std::uint32_t expected) {
  switch (mode & 3) {
    case 1:
      return expected + static_cast<std::uint32_t>(static_cast<std::int8_t>(in.u8()));
    case 2:
    case 3: {
      const std::uint32_t v = in.u32();
      return (mode & 3) == 2 ? expected + v : v;
    }
    default:
      return expected;
  }
}

// A new connection from a client: whose, to which VIP and port, its ISN, flags (XOR SYN:
// zero gives a plain SYN), window, options and payload (SYN with data).
void Rig::client_syn(Input& in) {
  const std::uint8_t who = in.u8();
  static constexpr std::array<std::uint16_t, 8> kPorts = {143, 110, 993, 25, 143, 0, 143, 143};
  static constexpr std::array<std::uint32_t, 8> kDst = {
      kVip, kVip, kVip, kVip, kVip2, kVip, kClientIface, ipv4(198, 18, 0, 200)};
  ClientEnd c;
  c.ip = client_address(who);
  c.vip = kDst[who >> 4 & 7];
  c.port = static_cast<std::uint16_t>(in.u16() ^ 40000);
  c.vport = kPorts[who >> 4 & 7];
  if (c.vport == 0) {
    c.vport = in.u16();
  }
  c.mac = (who & 0x80) != 0 ? mac(0x10) : mac(static_cast<std::uint8_t>(0x30 + (who & 0x0f)));
  const std::uint32_t isn = in.u32();
  Segment& s = seg_;
  s = Segment{};
  s.src_mac = c.mac;
  s.dst_mac = kPortMac[0];
  s.src = c.ip;
  s.dst = c.vip;
  s.sport = c.port;
  s.dport = c.vport;
  s.seq = isn;
  s.flags = static_cast<std::uint8_t>(kSyn ^ in.u8());
  s.window = static_cast<std::uint16_t>(in.u16() ^ 64240);
  c.ts = in.u32();
  options(in, s, true, c.ts, 0);
  payload(in, s);
  c.snd_nxt = isn + 1 + s.payload_len;
  clients_.add(c);
  deliver(s, 0);
}

// A server's SYN-ACK to a SYN the worker sent: which one (0 the newest), the server's ISN,
// flags (XOR SYN|ACK), the acknowledgement, window, options.
void Rig::server_synack(Input& in) {
  const std::uint8_t which = in.u8();
  if (servers_.empty()) {
    return;
  }
  ServerEnd& e = servers_.pick(which);
  const std::uint32_t isn = in.u32();
  Segment& s = seg_;
  s = Segment{};
  s.src_mac = server_mac(e.ip);
  s.dst_mac = kPortMac[1];
  s.src = e.ip;
  s.dst = e.local_ip;
  s.sport = e.port;
  s.dport = e.local_port;
  s.seq = isn;
  s.flags = static_cast<std::uint8_t>((kSyn | kAck) ^ in.u8());
  s.ack = number(in, in.u8(), e.rcv_nxt);
  s.window = static_cast<std::uint16_t>(in.u16() ^ 65160);
  e.ts = in.u32();
  options(in, s, true, e.ts, e.ts_recent);
  if ((which & 0x80) != 0) {
    payload(in, s);
  }
  e.snd_nxt = isn + 1 + s.payload_len;
  deliver(s, 1);
}

// A segment on an existing connection: which one, flags (XOR ACK), sequence and
// acknowledgement modes (number()), window (XOR 502), options and payload. The end's next
// sequence number moves on when the segment starts where the end expected.
bool Rig::client_segment(Input& in, Segment& s) {
  const std::uint8_t which = in.u8();
  if (clients_.empty()) {
    return false;
  }
  ClientEnd& c = clients_.pick(which);
  const std::uint8_t modes = in.u8();
  s = Segment{};
  s.src_mac = c.mac;
  s.dst_mac = kPortMac[0];
  s.src = c.ip;
  s.dst = c.vip;
  s.sport = c.port;
  s.dport = c.vport;
  s.flags = static_cast<std::uint8_t>(kAck ^ in.u8());
  s.seq = number(in, modes, c.snd_nxt);
  s.ack = number(in, static_cast<std::uint8_t>(modes >> 2), c.rcv_nxt);
  s.window = static_cast<std::uint16_t>(in.u16() ^ 502);
  s.urgent = (modes & 0x10) != 0 ? in.u16() : 0;
  s.ttl = (modes & 0x20) != 0 ? in.u8() : 64;
  ++c.ts;
  options(in, s, false, c.ts, c.ts_recent);
  payload(in, s);
  const std::uint32_t end =
      s.seq + s.payload_len + ((s.flags & kFin) != 0 ? 1 : 0) + ((s.flags & kSyn) != 0 ? 1 : 0);
  if (s.seq == c.snd_nxt) {
    c.snd_nxt = end;
  }
  return true;
}

bool Rig::server_segment(Input& in, Segment& s) {
  const std::uint8_t which = in.u8();
  if (servers_.empty()) {
    return false;
  }
  ServerEnd& e = servers_.pick(which);
  const std::uint8_t modes = in.u8();
  s = Segment{};
  s.src_mac = server_mac(e.ip);
  s.dst_mac = kPortMac[1];
  s.src = e.ip;
  s.dst = e.local_ip;
  s.sport = e.port;
  s.dport = e.local_port;
  s.flags = static_cast<std::uint8_t>(kAck ^ in.u8());
  s.seq = number(in, modes, e.snd_nxt);
  s.ack = number(in, static_cast<std::uint8_t>(modes >> 2), e.rcv_nxt);
  s.window = static_cast<std::uint16_t>(in.u16() ^ 509);
  s.urgent = (modes & 0x10) != 0 ? in.u16() : 0;
  s.ttl = (modes & 0x20) != 0 ? in.u8() : 64;
  ++e.ts;
  options(in, s, false, e.ts, e.ts_recent);
  payload(in, s);
  const std::uint32_t end =
      s.seq + s.payload_len + ((s.flags & kFin) != 0 ? 1 : 0) + ((s.flags & kSyn) != 0 ? 1 : 0);
  if (s.seq == e.snd_nxt) {
    e.snd_nxt = end;
  }
  return true;
}

// Bytes as given, on either port.
void Rig::raw_frame(Input& in) {
  const std::uint8_t port = in.u8() & 1;
  const std::size_t len = in.u16() % (kMaxFrame + 1);
  in.bytes(frame_, len);
  deliver(frame_, len, port);
}

// A segment of an existing connection with some bytes overwritten (header fields parse_frame
// and the splice must survive: IHL, total length, data offset, fragments, ports), then the
// checksums fixed or not.
void Rig::patched_segment(Input& in) {
  const std::uint8_t side = in.u8() & 1;
  Segment& s = seg_;
  if (!(side == 0 ? client_segment(in, s) : server_segment(in, s))) {
    return;
  }
  const std::size_t len = build_tcp(s, frame_);
  const std::uint8_t patches = static_cast<std::uint8_t>(1 + in.u8() % 4);
  for (std::uint8_t i = 0; i < patches; ++i) {
    const std::size_t at = in.u16() % len;
    frame_[at] = in.u8();
  }
  const std::uint8_t fix = in.u8();
  std::uint8_t* ip = frame_ + 14;
  if ((fix & 1) != 0) {
    put16(ip + 10, 0);
    const std::size_t ihl = std::max<std::size_t>(20, static_cast<std::size_t>(ip[0] & 0x0f) * 4);
    put16(ip + 10, ip_checksum(ip, std::min(ihl, len - 14)));
  }
  if ((fix & 2) != 0) {
    put16(ip + 36, 0);
    put16(ip + 36, static_cast<std::uint16_t>(~tcp_sum(ip, ip + 20, len - 34)));
  }
  deliver(frame_, len, side);
}

// The clock moves on by 1..65535 ms times 1, 10, 100 or 1000 (timers fire: connect
// timeouts, header retransmissions, redispatch, idle and lingering flows, ARP refreshes).
void Rig::advance(Input& in) {
  static constexpr std::array<std::uint64_t, 4> kScale = {1, 10, 100, 1000};
  const std::uint8_t scale = in.u8();
  const std::uint64_t ms = (1 + static_cast<std::uint64_t>(in.u16())) * kScale[scale & 3];
  now_ += ms;
  worker_->set_now_ms(now_);
}

// The health engine's and the operator's word on a server: up, admin state, slowstart share,
// runtime weight.
void Rig::server_health(Input& in) {
  dp::ServerLive& l = live_[in.u8() % snaps_[0].servers.size()];
  const std::uint8_t what = in.u8();
  switch (what & 3) {
    case 0:
      l.up.store(static_cast<std::uint8_t>((what >> 2) & 1));
      break;
    case 1:
      l.admin.store(static_cast<std::uint8_t>((what >> 2) % 3));
      break;
    case 2:
      l.weight_pct.store(static_cast<std::uint8_t>(std::min(100, what >> 2)));
      break;
    default:
      l.user_weight.store(static_cast<std::int16_t>((what >> 2) == 63 ? -1 : (what >> 2)));
      break;
  }
}

void Rig::publish(std::size_t variant) {
  dp::Snapshot& s = snaps_[variant % snaps_.size()];
  if (&s != published_.load()) {
    s.generation = ++generation_;
    published_.store(&s);
  }
  worker_->poll_snapshot();
  worker_->flush();
}

// An ICMP error about a segment the worker sent one of the ends: which end and side, the
// type (fragmentation needed with an MTU, port or host unreachable, time exceeded, parameter
// problem, or any), who sends it, how much of the segment it quotes.
void Rig::icmp_error(Input& in) {
  const std::uint8_t target = in.u8();
  const std::uint16_t port = target & 1;
  std::uint32_t from = 0;
  std::uint32_t to = 0;
  rte_ether_addr src_mac{};
  Segment& q = seg_;
  q = Segment{};
  if (port == 0) {
    if (clients_.empty()) {
      return;
    }
    const ClientEnd& c = clients_.pick(static_cast<std::uint8_t>(target >> 1));
    q.src = c.vip;
    q.dst = c.ip;
    q.sport = c.vport;
    q.dport = c.port;
    q.seq = c.rcv_nxt;
    q.ack = c.snd_nxt;
    from = c.ip;
    to = c.vip;
    src_mac = c.mac;
  } else {
    if (servers_.empty()) {
      return;
    }
    const ServerEnd& e = servers_.pick(static_cast<std::uint8_t>(target >> 1));
    q.src = e.local_ip;
    q.dst = e.ip;
    q.sport = e.local_port;
    q.dport = e.port;
    q.seq = e.rcv_nxt;
    q.ack = e.snd_nxt;
    from = e.ip;
    to = e.local_ip;
    src_mac = server_mac(e.ip);
  }
  q.flags = kAck;
  const std::uint8_t kind = in.u8();
  std::uint8_t type = 3;
  std::uint8_t code = 4;
  std::uint32_t rest = 0;
  switch (kind % 6) {
    case 0:
      rest = in.u16();  // next-hop MTU
      break;
    case 1:
      code = 3;
      break;
    case 2:
      code = 1;
      break;
    case 3:
      type = 11;
      code = 0;
      break;
    case 4:
      type = 12;
      code = 0;
      rest = static_cast<std::uint32_t>(in.u8()) << 24;
      break;
    default:
      type = in.u8();
      code = in.u8();
      rest = in.u32();
      break;
  }
  if ((kind & 0x40) != 0) {
    from = port == 0 ? ipv4(198, 18, 0, 254) : ipv4(198, 19, 0, 254);  // a router on the path
  }
  q.seq += static_cast<std::uint32_t>(static_cast<std::int8_t>(in.u8()));
  const std::uint8_t quote = in.u8();
  q.ttl = static_cast<std::uint8_t>(1 + (quote >> 4));
  std::uint8_t inner[kMaxFrame];
  const std::size_t inner_len = build_tcp(q, inner) - 14;
  std::size_t qlen = 28;  // the IP header and 8 bytes, the least a router sends
  if ((quote & 3) == 1) {
    qlen = inner_len;
  } else if ((quote & 3) >= 2) {
    qlen = std::min<std::size_t>(in.u8(), inner_len);
  }
  std::uint8_t* f = frame_;
  std::memcpy(f, kPortMac[port].addr_bytes, 6);
  std::memcpy(f + 6, src_mac.addr_bytes, 6);
  put16(f + 12, RTE_ETHER_TYPE_IPV4);
  std::uint8_t* ip = f + 14;
  std::memset(ip, 0, 20);
  ip[0] = 0x45;
  put16(ip + 2, static_cast<std::uint16_t>(20 + 8 + qlen));
  ip[8] = 64;
  ip[9] = IPPROTO_ICMP;
  std::memcpy(ip + 12, &from, 4);
  std::memcpy(ip + 16, &to, 4);
  put16(ip + 10, ip_checksum(ip, 20));
  std::uint8_t* icmp = ip + 20;
  icmp[0] = type;
  icmp[1] = code;
  put16(icmp + 2, 0);
  put32(icmp + 4, rest);
  std::memcpy(icmp + 8, inner + 14, qlen);
  put16(icmp + 2, static_cast<std::uint16_t>(~fold(sum_words(icmp, 8 + qlen))));
  deliver(frame_, 14 + 20 + 8 + qlen, port);
}

// ARP on either port: request or reply (or another opcode), from a server, a client, a
// gateway, one of our own addresses or 0.0.0.0, about one of ours or another address.
void Rig::arp(Input& in) {
  const std::uint8_t a = in.u8();
  const std::uint16_t port = a & 1;
  const std::uint16_t op = (a & 0x80) != 0 ? in.u16() : ((a & 2) != 0 ? 2 : 1);
  const std::uint32_t sip = server_address(static_cast<std::uint8_t>(a >> 2));
  static constexpr std::array<std::uint32_t, 4> kTargets = {kServerIface, kVip, kSource2,
                                                            ipv4(198, 19, 0, 99)};
  const std::uint8_t b = in.u8();
  std::uint32_t tip = kTargets[b & 3];
  if (tip == kServerIface && port == 0) {
    tip = kClientIface;
  }
  const rte_ether_addr sha =
      (b >> 2) == 0 ? server_mac(sip) : mac(static_cast<std::uint8_t>(0x40 + (b >> 2)));
  std::uint8_t* f = frame_;
  if (op == 1) {
    std::memset(f, 0xff, 6);
  } else {
    std::memcpy(f, kPortMac[port].addr_bytes, 6);
  }
  std::memcpy(f + 6, sha.addr_bytes, 6);
  put16(f + 12, RTE_ETHER_TYPE_ARP);
  put16(f + 14, 1);
  put16(f + 16, RTE_ETHER_TYPE_IPV4);
  f[18] = 6;
  f[19] = 4;
  put16(f + 20, op);
  std::memcpy(f + 22, sha.addr_bytes, 6);
  std::memcpy(f + 28, &sip, 4);
  if (op == 1) {
    std::memset(f + 32, 0, 6);
  } else {
    std::memcpy(f + 32, kPortMac[port].addr_bytes, 6);
  }
  std::memcpy(f + 38, &tip, 4);
  deliver(frame_, 42, port);
}

// on-marked-down shutdown-sessions: every flow of a server reset.
void Rig::shutdown_server(Input& in) {
  dp::ProbeCommand c;
  c.op = dp::ProbeOp::kShutdownServer;
  c.server = static_cast<std::uint16_t>(in.u8() % 8);
  rte_ring_enqueue_elem(probe_commands_, &c, sizeof c);
}

// An ICMP echo request to one of our addresses or elsewhere.
void Rig::echo(Input& in) {
  const std::uint8_t a = in.u8();
  const std::uint16_t port = a & 1;
  static constexpr std::array<std::uint32_t, 4> kDst = {kVip, kClientIface, kServerIface,
                                                        ipv4(198, 18, 0, 77)};
  const std::uint32_t dst = kDst[(a >> 1) & 3];
  const std::uint32_t src = port == 0 ? client_address(a >> 3) : server_address(a >> 3);
  const std::size_t n = in.u8();
  std::uint8_t* f = frame_;
  std::memcpy(f, kPortMac[port].addr_bytes, 6);
  const rte_ether_addr smac = mac(0x10);
  std::memcpy(f + 6, smac.addr_bytes, 6);
  put16(f + 12, RTE_ETHER_TYPE_IPV4);
  std::uint8_t* ip = f + 14;
  std::memset(ip, 0, 20);
  ip[0] = 0x45;
  put16(ip + 2, static_cast<std::uint16_t>(20 + 8 + n));
  ip[8] = 64;
  ip[9] = IPPROTO_ICMP;
  std::memcpy(ip + 12, &src, 4);
  std::memcpy(ip + 16, &dst, 4);
  put16(ip + 10, ip_checksum(ip, 20));
  std::uint8_t* icmp = ip + 20;
  icmp[0] = 8;
  icmp[1] = 0;
  put16(icmp + 2, 0);
  put32(icmp + 4, in.u32());
  in.bytes(icmp + 8, n);
  if ((a & 0x80) == 0) {
    put16(icmp + 2, static_cast<std::uint16_t>(~fold(sum_words(icmp, 8 + n))));
  }
  deliver(frame_, 14 + 28 + n, port);
}

// Many SYNs from one client address, or each from another, on consecutive ports (8 to 2048
// of them, kFloodBudget in all per input): fills the flow table, which persists, so the
// exhaustion paths are reached (with the SYN proxy off; with it on, the cookie paths).
void Rig::flood(Input& in) {
  const std::uint8_t a = in.u8();
  // At most kFloodBudget SYNs per input, so one input never takes more than milliseconds.
  const std::size_t count =
      std::min<std::size_t>(8 * (static_cast<std::size_t>(in.u8()) + 1), flood_budget_);
  flood_budget_ -= count;
  const std::uint16_t first = in.u16();
  Segment& s = seg_;
  s = Segment{};
  s.src_mac = mac(0x10);
  s.dst_mac = kPortMac[0];
  s.src = client_address(a);
  s.dst = kVip;
  s.dport = (a & 0x10) != 0 ? 25 : 143;
  s.flags = kSyn;
  s.options_len = 4;
  const std::uint8_t mss[] = {2, 4, 0x05, 0xb4};
  std::memcpy(s.options, mss, 4);
  for (std::size_t i = 0; i < count; ++i) {
    s.sport = static_cast<std::uint16_t>(first + i);
    if ((a & 0x20) != 0) {  // each from another address (10.0.x.y): past per-source limits
      s.src = ipv4(10, 0, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i));
    }
    s.seq = static_cast<std::uint32_t>(i * 2654435761U);
    deliver(s, 0);
    if (i % 32 == 31) {
      worker_->housekeeping();
    }
  }
}

// Health-check connections (the probe table shares the worker's ports and clock): open a
// slot towards a server, send bytes, close, abort.
void Rig::probe(Input& in) {
  dp::ProbeCommand c;
  const std::uint8_t a = in.u8();
  c.slot = static_cast<std::uint16_t>(in.u8() % 8);
  switch (a & 3) {
    case 0:
      c.op = dp::ProbeOp::kOpen;
      c.dst_ip = server_address(a >> 2);
      c.next_hop = (a & 0x80) != 0 ? ipv4(198, 19, 0, 250) : c.dst_ip;
      c.dst_port = rte_cpu_to_be_16(in.u16());
      c.src_ip = (a & 0x40) != 0 ? kSource2 : kServerIface;
      c.port_id = 1;
      c.server = static_cast<std::uint16_t>(a % 6);
      break;
    case 1:
      c.op = dp::ProbeOp::kSend;
      c.len = static_cast<std::uint16_t>(in.u16() % (dp::kProbeChunk + 1));
      in.bytes(c.data, c.len);
      c.fin = (a & 4) != 0;
      break;
    case 2:
      c.op = dp::ProbeOp::kClose;
      break;
    default:
      c.op = dp::ProbeOp::kAbort;
      break;
  }
  rte_ring_enqueue_elem(probe_commands_, &c, sizeof c);
}

void Rig::run(Input& in) {
  clients_.clear();
  servers_.clear();
  flood_budget_ = kFloodBudget;
  while (!in.done()) {
    if (worker_->frames_waiting() == 0) {
      lax_tcp_checksum_ = false;  // no segment with a wrong checksum is still inside
    }
    switch (in.u8() % kOps) {
      case kOpClientSyn:
        client_syn(in);
        break;
      case kOpServerSynAck:
        server_synack(in);
        break;
      case kOpClientSegment:
        if (client_segment(in, seg_)) {
          deliver(seg_, 0);
        }
        break;
      case kOpServerSegment:
        if (server_segment(in, seg_)) {
          deliver(seg_, 1);
        }
        break;
      case kOpRawFrame:
        raw_frame(in);
        break;
      case kOpPatchedSegment:
        patched_segment(in);
        break;
      case kOpAdvance:
        advance(in);
        break;
      case kOpServerHealth:
        server_health(in);
        break;
      case kOpSnapshot:
        publish(in.u8());
        break;
      case kOpIcmpError:
        icmp_error(in);
        break;
      case kOpArp:
        arp(in);
        break;
      case kOpShutdownServer:
        shutdown_server(in);
        break;
      case kOpEcho:
        echo(in);
        break;
      case kOpFlood:
        flood(in);
        break;
      case kOpProbe:
        probe(in);
        break;
      default:
        break;
    }
    after_op();
  }
  drain_rings();
  check_table();
  if (trace_) {
    const dp::WorkerCounters& c = worker_->counters();
    std::fprintf(stderr,
                 "packet_path_fuzz: flows created %lu closed %lu expired %lu active %lu; headers "
                 "sent %lu received %lu; redispatched %lu; ICMP forwarded %lu; RST sent %lu; "
                 "table full %lu; tx %lu\n",
                 c.flows_created, c.flows_closed, c.flows_expired, c.active_flows,
                 c.proxy_headers_sent, c.proxy_headers_received, c.syn_redispatched,
                 c.icmp_errors_forwarded, c.rst_sent, c.dropped(dp::DropReason::kFlowTableFull),
                 c.tx_packets);
  }
}

Rig& rig() {
  static Rig* r = new Rig();  // lives as long as the process (EAL is never torn down)
  return *r;
}

}  // namespace
}  // namespace postern::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  postern::fuzz::rig();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  postern::fuzz::Input in(data, size);
  postern::fuzz::rig().run(in);
  return 0;
}
