// The worker's SYN proxy (issue 9): SYNs answered with cookies while it is on, the flow opened
// only by the ACK that proves the client's address, the server's handshake completed on the
// client's behalf; and the half-open flows that decide when `auto` switches it on.
#include <rte_byteorder.h>

#include <algorithm>

#include "nat/rewrite.hpp"
#include "net/tcp_options.hpp"
#include "synproxy/segments.hpp"
#include "worker/worker.hpp"

namespace postern::dataplane {
namespace {

// `auto` switches off after this many seconds in a row with fewer unanswered cookies than
// `syn_proxy_above`.
constexpr std::uint32_t kCalmSeconds = 10;
// A SYN-ACK with a cookie whose client has not come back this long after is sent again, at
// most kCookieResends times: a client whose handshake ACK is lost that often gets through with
// its session timeout still ahead (Linux sends a SYN-ACK up to five times, 1 s apart at first).
constexpr std::uint64_t kCookieResendMs = 1000;
constexpr std::uint8_t kCookieResends = 3;
// A client that came back between two resends has a flow then, open or lingering after its
// close: the flow table alone says whether it came back.
static_assert(splice::kClosedLingerMs >= kCookieResendMs);

}  // namespace

bool Worker::syn_proxy_on(const ListenerSlot& l) noexcept {
  switch (l.syn_proxy) {
    case SynProxyMode::kOn:
      return true;
    case SynProxyMode::kOff:
      return false;
    case SynProxyMode::kAuto:
      break;
  }
  if (!proxy_auto_on_ && half_open_ >= snap_->defense.syn_proxy_above) {
    proxy_auto_on_ = true;
    calm_seconds_ = 0;
  }
  return proxy_auto_on_;
}

bool Worker::cookie_flood() const noexcept {
  // `auto` has switched the proxy on, or within the last calm period cookies went unanswered
  // at the rate that would (a flood, also on a listener with the proxy always on).
  return proxy_auto_on_ ||
         (flood_seen_ms_ != 0 && now_ms_ - flood_seen_ms_ < kCalmSeconds * std::uint64_t{1000});
}

bool Worker::cookie_may_answer() const noexcept {
  // A cookie is good for one to two periods: only that long after the last one went out can
  // an unknown ACK be a client completing a handshake.
  return last_cookie_ms_ != 0 && now_ms_ - last_cookie_ms_ <= 2 * synproxy::kPeriodMs;
}

void Worker::answer_with_cookie(rte_mbuf* m, FrameView& v) noexcept {
  const TcpOptions o = parse_tcp_options(v.tcp_options(), v.tcp_options_len());
  const FlowKey key{v.ip->src_addr, v.ip->dst_addr, v.tcp->src_port, v.tcp->dst_port};
  const Seq isn(rte_be_to_cpu_32(v.tcp->sent_seq));
  synproxy::SynAck a;
  a.cookie =
      cookies_.make(key, isn, synproxy::Cookies::mss_index(o.mss != 0 ? o.mss : 536), now_ms_);
  a.mss = snap_->defense.syn_proxy_mss;
  a.timestamps = o.has_timestamp;
  if (o.has_timestamp) {
    // The client's view of the server's timestamp clock starts here; per address pair, as a
    // kernel's, so it cannot be used to count Postern's connections.
    const std::int8_t ws =
        o.wscale < 0 ? -1 : static_cast<std::int8_t>(std::min<int>(o.wscale, 14));
    a.ts_val = synproxy::Cookies::ts_encode(
        offsets_.ts_clock(v.ip->dst_addr, v.ip->src_addr, now_ms_), ws, o.sack_permitted);
    a.ts_ecr = o.ts_val;
    a.sack = o.sack_permitted;
    a.wscale = o.wscale < 0 ? -1 : static_cast<std::int8_t>(synproxy::kProxyWscale);
  }
  if (!cookie_flood() || known_sources_->contains(key.src_ip)) {
    SentCookie sc;
    sc.key = key;
    sc.synack = a;
    sc.client_isn = isn;
    sc.client_mac = v.eth->src_addr;
    sc.port = static_cast<std::uint8_t>(m->port);
    sc.resends_left = kCookieResends;
    sc.sent_ms = now_ms_;
    remember_synack(sc);
  }
  // The SYN-ACK is written over the SYN: an mbuf has room for the largest one.
  const std::uint16_t cap =
      static_cast<std::uint16_t>(rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m));
  const std::uint16_t len = synproxy::make_synack(v, cap, a);
  if (len == 0) {
    drop(m, DropReason::kFrameTooShort);
    return;
  }
  if (len > rte_pktmbuf_data_len(m)) {
    rte_pktmbuf_append(m, static_cast<std::uint16_t>(len - rte_pktmbuf_data_len(m)));
  } else {
    rte_pktmbuf_trim(m, static_cast<std::uint16_t>(rte_pktmbuf_data_len(m) - len));
  }
  ++counters_.syn_cookies_sent;
  ++cookies_second_;
  if (cookies_second_ > valid_second_ &&
      cookies_second_ - valid_second_ >= snap_->defense.syn_proxy_above) {
    flood_seen_ms_ = now_ms_ != 0 ? now_ms_ : 1;
  }
  last_cookie_ms_ = now_ms_ != 0 ? now_ms_ : 1;
  reply(m->port, m);
}

void Worker::open_by_cookie(rte_mbuf* m, FrameView& v, const BindEntry& bind) noexcept {
  const FlowKey key{v.ip->src_addr, v.ip->dst_addr, v.tcp->src_port, v.tcp->dst_port};
  const Seq seq(rte_be_to_cpu_32(v.tcp->sent_seq));
  const Seq ack(rte_be_to_cpu_32(v.tcp->recv_ack));
  const std::optional<std::uint8_t> index = cookies_.check(key, seq, ack, now_ms_);
  if (!index) {
    // Not a handshake of ours: answered as any segment for no connection.
    counters_.drop(DropReason::kSynCookieInvalid);
    reply_rst(m, v);
    return;
  }
  const TcpOptions o = parse_tcp_options(v.tcp_options(), v.tcp_options_len());
  synproxy::SynOptions syn_opts;
  syn_opts.mss = synproxy::kMssTable[*index];
  if (o.has_timestamp) {
    synproxy::Cookies::ts_decode(o.ts_ecr, syn_opts);
  }
  // The client's SYN as the server will see it: the options the cookie kept, its window
  // unscaled (a SYN's window never is).
  std::uint8_t opts[20];
  const std::uint8_t opts_len = synproxy::syn_options(syn_opts, o.ts_val, opts);
  const std::uint16_t win = rte_be_to_cpu_16(v.tcp->rx_win);
  splice::Segment syn;
  syn.seq = seq - 1;
  syn.flags = RTE_TCP_SYN_FLAG;
  syn.win = syn_opts.wscale < 0 ? win
                                : static_cast<std::uint16_t>(std::min<std::uint32_t>(
                                      0xffffU, static_cast<std::uint32_t>(win) << syn_opts.wscale));
  syn.opts = opts;
  syn.opts_len = opts_len;
  syn.has_ts = syn_opts.timestamps;
  syn.ts_val = o.ts_val;
  syn.sack_permitted = syn_opts.sack;
  syn.wscale = syn_opts.wscale;
  const std::uint32_t fi = open_flow(m, v, bind, syn);
  if (fi == kNoIndex) {
    return;
  }
  ++counters_.syn_cookies_valid;
  ++valid_second_;
  known_sources_->add(key.src_ip);  // only a host at that address could answer the cookie
  Flow& f = flows_.at(fi);
  f.set(kFlowSynProxy);
  // Until the server answers, its ISN and TSval count as 0: the offsets are the cookie and the
  // SYN-ACK's TSval (proxy_server_answered subtracts the server's own).
  f.srv_off = (ack - 1).value();
  f.tsp_off = o.has_timestamp ? o.ts_ecr : 0;
  f.proxy_wscale = syn_opts.wscale < 0 ? kNoWscale : synproxy::kProxyWscale;
  f.syn_wscale = syn_opts.wscale < 0 ? kNoWscale : static_cast<std::uint8_t>(syn_opts.wscale);
  f.client_win = win;
  if (v.payload_len != 0) {
    // Bytes that came with the ACK cannot reach the server before its handshake and our
    // header: dropped; the client sends them again.
    counters_.drop(DropReason::kSynProxyPending);
  }
  rte_pktmbuf_free(m);
  send_syn(fi);
  timers_.schedule(fi, splice::deadline(f));
}

void Worker::proxy_server_answered(std::uint32_t fi) noexcept {
  Flow& f = flows_.at(fi);
  f.srv_off -= f.server_isn.value();
  if (f.has(kFlowTimestamps)) {
    f.tsp_off -= f.ts_ecr;  // the server's SYN-ACK TSval, which on_server kept
  }
}

void Worker::proxy_complete_handshake(std::uint32_t fi) noexcept {
  const Flow& f = flows_.at(fi);
  rte_mbuf* m = alloc();
  if (m == nullptr) {
    return;  // the server sends its SYN-ACK again
  }
  const std::uint16_t len = synproxy::client_handshake_ack(rte_pktmbuf_mtod(m, std::uint8_t*),
                                                           rte_pktmbuf_tailroom(m), f);
  rte_pktmbuf_append(m, len);
  FrameView v;
  DropReason reason = DropReason::kCount;
  if (len == 0 ||
      parse_frame(rte_pktmbuf_mtod(m, std::uint8_t*), len, v, reason) != FrameKind::kTcp4) {
    rte_pktmbuf_free(m);
    return;
  }
  m->port = f.client_port_id;
  // Through the splice as if the client had sent it: the handshake completes there, our
  // header goes first, and the ACK reaches the server in its own spaces.
  from_client(m, v, fi);
}

void Worker::enter_half_open(Flow& f) noexcept {
  f.half_open = true;
  ++half_open_;
  half_open_sources_->add(f.client_ip);
}

void Worker::leave_half_open(Flow& f) noexcept {
  if (!f.half_open) {
    return;
  }
  f.half_open = false;
  --half_open_;
  half_open_sources_->remove(f.client_ip);
}

void Worker::remember_synack(const SentCookie& sc) noexcept {
  (*sent_cookies_)[sent_tail_ % kSentCookies] = sc;
  ++sent_tail_;
  if (sent_tail_ - sent_head_ > kSentCookies) {
    sent_head_ = sent_tail_ - kSentCookies;  // the oldest was overwritten
  }
}

void Worker::resend_synacks() noexcept {
  // At most one burst per loop turn: the ring is oldest first, so this stops at the first
  // entry younger than a second.
  for (unsigned n = 0; n < kBurst && sent_head_ != sent_tail_; ++n) {
    SentCookie sc = (*sent_cookies_)[sent_head_ % kSentCookies];
    if (sc.sent_ms + kCookieResendMs > now_ms_) {
      return;
    }
    ++sent_head_;
    if (flows_.lookup(sc.key).found()) {
      continue;  // the client came back
    }
    if (cookie_flood() && !known_sources_->contains(sc.key.src_ip)) {
      continue;  // a flood's SYN-ACKs are not sent twice
    }
    const InterfaceSettings* ifc = iface_for_port(sc.port);
    rte_mbuf* m = ifc != nullptr ? alloc() : nullptr;
    if (m == nullptr) {
      continue;
    }
    const std::uint16_t len =
        synproxy::write_synack(rte_pktmbuf_mtod(m, std::uint8_t*), rte_pktmbuf_tailroom(m), sc.key,
                               sc.client_isn, ifc->mac, sc.client_mac, sc.synack);
    rte_pktmbuf_append(m, len);
    ++counters_.syn_cookies_resent;
    send(sc.port, m);
    if (--sc.resends_left != 0) {
      sc.sent_ms = now_ms_;
      remember_synack(sc);
    }
  }
}

void Worker::syn_proxy_tick() noexcept {
  resend_synacks();
  if (now_ms_ - proxy_second_ms_ >= 1000) {
    // While cookies answer the SYNs no flow is half-open: what measures the flood now is the
    // cookies no ACK came back for.
    if (proxy_auto_on_ && snap_ != nullptr) {
      const std::uint32_t unanswered =
          cookies_second_ > valid_second_ ? cookies_second_ - valid_second_ : 0;
      calm_seconds_ = unanswered < snap_->defense.syn_proxy_above ? calm_seconds_ + 1 : 0;
      if (calm_seconds_ >= kCalmSeconds && half_open_ < snap_->defense.syn_proxy_above) {
        proxy_auto_on_ = false;
      }
    }
    cookies_second_ = 0;
    valid_second_ = 0;
    proxy_second_ms_ = now_ms_;
  }
  counters_.syn_proxy_active = proxy_auto_on_ ? 1 : 0;
  counters_.half_open_flows = half_open_;
}

}  // namespace postern::dataplane
