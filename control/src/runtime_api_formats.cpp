// The runtime API's formats: show stat (HAProxy 2.6's CSV), show info, show servers state
// (format 1), Postern's show health and help; and the server-state file read back at start.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "postern/control/runtime_api.hpp"

namespace postern::control::api {
namespace {

// HAProxy 2.6's show stat columns, in order (src/stats.c stat_fields[]): positions never move.
constexpr std::array<std::string_view, 128> kColumns = {
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
    "-",
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
    "h2_headers_rcvd",
    "h2_data_rcvd",
    "h2_settings_rcvd",
    "h2_rst_stream_rcvd",
    "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp",
    "h2_goaway_resp",
    "h2_open_connections",
    "h2_backend_open_streams",
    "h2_total_connections",
    "h2_backend_total_streams",
    "h1_open_connections",
    "h1_open_streams",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
};

constexpr std::size_t col(std::string_view name) {
  for (std::size_t i = 0; i < kColumns.size(); ++i) {
    if (kColumns[i] == name) {
      return i;
    }
  }
  return kColumns.size();  // a typo fails to compile where a constant is needed
}

// The h2_* and h1_* columns HAProxy fills with 0 on proxies (not on servers).
constexpr std::size_t kFirstMuxColumn = col("h2_headers_rcvd");

// HAProxy's HCHK_STATUS_* numbers (include/haproxy/check-t.h), for show servers state.
int haproxy_status_number(health::CheckStatus s) {
  switch (s) {
    case health::CheckStatus::kUnknown:
      return 0;
    case health::CheckStatus::kIni:
      return 1;
    case health::CheckStatus::kHana:
      return 4;
    case health::CheckStatus::kSockErr:
      return 5;
    case health::CheckStatus::kL4Ok:
      return 6;
    case health::CheckStatus::kL4Tout:
      return 7;
    case health::CheckStatus::kL4Con:
      return 8;
    case health::CheckStatus::kL7Tout:
      return 12;
    case health::CheckStatus::kL7Rsp:
      return 13;
    case health::CheckStatus::kL7Ok:
      return 15;
    case health::CheckStatus::kL7Sts:
      return 17;
  }
  return 0;
}

// srv_admin_state bits.
constexpr std::uint32_t kFMaint = 0x01;
constexpr std::uint32_t kFDrain = 0x08;

class Row {
 public:
  Row() : cells_(kColumns.size()) {}
  void set(std::string_view name, std::string value) { cell(name) = std::move(value); }
  void set(std::string_view name, std::uint64_t value) { set(name, std::to_string(value)); }
  void zero(std::initializer_list<std::string_view> names) {
    for (const auto n : names) {
      cell(n).assign(1, '0');
    }
  }
  void zero_mux() {
    for (std::size_t i = kFirstMuxColumn; i < cells_.size(); ++i) {
      cells_[i].assign(1, '0');
    }
  }
  void write(std::ostringstream& o) const {
    for (const auto& c : cells_) {
      o << c << ',';
    }
    o << '\n';
  }

 private:
  std::string& cell(std::string_view name) {
    const std::size_t i = col(name);
    return i < cells_.size() ? cells_[i] : spare_;  // a misspelt name writes nowhere
  }
  std::vector<std::string> cells_;
  std::string spare_;
};

std::string backend_name(const Names& n, const std::string& listener) {
  const auto it = n.backend_of.find(listener);
  return it == n.backend_of.end() || it->second.empty() ? listener : it->second;
}

std::uint64_t seconds_since(std::uint64_t now_ms, std::uint64_t then_ms) {
  return now_ms > then_ms ? (now_ms - then_ms) / 1000 : 0;
}

// HAProxy's ctime: the average connect time in ms (Postern's over every connection since start,
// HAProxy's over its last 1024).
std::uint64_t average_ms(std::uint64_t sum_ms, std::uint64_t count) {
  return count == 0 ? 0 : (sum_ms + count / 2) / count;
}

}  // namespace

Names names_of(const config::Config& cfg) {
  Names n;
  for (const auto& l : cfg.listeners) {
    n.backend_of[l.name] = l.backend.empty() ? l.name : l.backend;
    n.algo_of[l.name] =
        l.balance == config::Balance::kStaticRoundRobin ? "static-rr" : "roundrobin";
  }
  n.global_maxconn = cfg.global.maxconn.value_or(0);
  return n;
}

std::string show_stat(const Context& c) {
  std::ostringstream o;
  o << "# ";
  for (const auto name : kColumns) {
    o << name << ',';
  }
  o << '\n';
  const admin::AdminView& v = c.view;
  const std::uint64_t now = v.built_ms;
  for (const admin::ListenerView& l : v.listeners) {
    if (l.retired) {
      continue;
    }
    const std::string iid = std::to_string(l.slot + 2);
    const std::string be = backend_name(c.names, l.name);
    const std::uint32_t fe_maxconn = l.maxconn != 0 ? l.maxconn : c.names.global_maxconn;
    // A listener's traffic is the sum over its servers (the workers count it per server).
    std::uint64_t total = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t errors = 0;
    std::uint64_t connects = 0;
    std::uint64_t connect_ms = 0;
    std::uint64_t attempts = 0;
    for (const auto s : l.servers) {
      attempts += admin::slot_count(c.sample.server_attempts, s);
      total += admin::slot_count(c.sample.server_total, s);
      bytes_in += admin::slot_count(c.sample.server_bytes_in, s);
      bytes_out += admin::slot_count(c.sample.server_bytes_out, s);
      errors += admin::slot_count(c.sample.server_errors, s);
      connects += admin::slot_count(c.sample.server_connects, s);
      connect_ms += admin::slot_count(c.sample.server_connect_ms, s);
    }
    const std::uint64_t current = admin::slot_count(c.sample.listener_active, l.slot);

    Row fe;
    fe.zero({"scur",
             "smax",
             "stot",
             "bin",
             "bout",
             "dreq",
             "dresp",
             "ereq",
             "rate",
             "rate_lim",
             "rate_max",
             "req_rate",
             "req_rate_max",
             "req_tot",
             "comp_in",
             "comp_out",
             "comp_byp",
             "comp_rsp",
             "conn_rate",
             "conn_rate_max",
             "conn_tot",
             "dcon",
             "dses",
             "wrew",
             "eint",
             "ssl_sess",
             "ssl_reused_sess",
             "ssl_failed_handshake"});
    fe.zero_mux();
    fe.set("pxname", l.name);
    fe.set("svname", "FRONTEND");
    fe.set("scur", current);
    fe.set("smax", current);
    if (fe_maxconn != 0) {
      fe.set("slim", fe_maxconn);
    }
    fe.set("stot", total);
    fe.set("conn_tot", total);
    fe.set("bin", bytes_in);
    fe.set("bout", bytes_out);
    fe.set("status", "OPEN");
    fe.set("pid", "1");
    fe.set("iid", iid);
    fe.set("sid", "0");
    fe.set("type", "0");
    fe.set("mode", "tcp");
    fe.set("-", "-");
    fe.write(o);

    std::uint32_t act = 0;
    std::uint32_t bck = 0;
    std::uint32_t act_weight = 0;
    std::uint32_t bck_weight = 0;
    std::uint32_t act_uweight = 0;
    std::uint32_t bck_uweight = 0;
    std::uint64_t last_change = 0;
    std::uint32_t sid = 0;
    for (const auto slot : l.servers) {
      ++sid;
      if (slot >= v.servers.size()) {
        continue;
      }
      const admin::ServerView& s = v.servers[slot];
      const health::ServerHealth& h = s.health;
      const std::uint64_t cur = admin::slot_count(c.sample.server_active, slot);
      const std::uint64_t tot = admin::slot_count(c.sample.server_total, slot);
      Row r;
      r.zero({"qcur",
              "qmax",
              "scur",
              "smax",
              "stot",
              "bin",
              "bout",
              "dresp",
              "econ",
              "eresp",
              "wretr",
              "wredis",
              "lbtot",
              "rate",
              "rate_max",
              "cli_abrt",
              "srv_abrt",
              "qtime",
              "ctime",
              "rtime",
              "ttime",
              "wrew",
              "connect",
              "reuse",
              "srv_icur",
              "qtime_max",
              "ctime_max",
              "rtime_max",
              "ttime_max",
              "eint",
              "idle_conn_cur",
              "safe_conn_cur",
              "used_conn_cur",
              "need_conn_est",
              "ssl_sess",
              "ssl_reused_sess",
              "ssl_failed_handshake"});
      r.set("pxname", be);
      r.set("svname", s.server);
      r.set("scur", cur);
      r.set("smax", cur);
      r.set("stot", tot);
      r.set("lbtot", tot);
      r.set("connect", admin::slot_count(c.sample.server_attempts, slot));
      r.set("bin", admin::slot_count(c.sample.server_bytes_in, slot));
      r.set("bout", admin::slot_count(c.sample.server_bytes_out, slot));
      r.set("econ", admin::slot_count(c.sample.server_errors, slot));
      r.set("ctime", average_ms(admin::slot_count(c.sample.server_connect_ms, slot),
                                admin::slot_count(c.sample.server_connects, slot)));
      r.set("status", health::status_text(h));
      r.set("weight", admin::weight_now(s));
      r.set("act", s.backup ? 0 : 1);
      r.set("bck", s.backup ? 1 : 0);
      const std::uint64_t changed = seconds_since(now, h.last_change_ms);
      r.set("lastchg", changed);
      last_change = std::max(last_change, changed);
      r.set("pid", "1");
      r.set("iid", iid);
      r.set("sid", sid);
      r.set("type", "2");
      r.set("lastsess", "-1");
      if (h.checked) {
        r.set("chkfail", h.check_failures);
        r.set("chkdown", h.down_transitions);
        r.set("downtime", health::downtime_ms(h, now) / 1000);
        if (h.status != health::CheckStatus::kUnknown) {
          std::string st(h.check_running ? "* " : "");
          st += health::status_name(h.status);
          r.set("check_status", st);
          if (health::status_has_code(h.status)) {
            r.set("check_code", static_cast<std::uint64_t>(h.code));
          }
          if (h.duration_ms >= 0) {
            r.set("check_duration", static_cast<std::uint64_t>(h.duration_ms));
          }
          r.set("check_desc", std::string(health::status_description(h.status)));
        }
        r.set("check_rise", h.rise);
        r.set("check_fall", h.fall);
        r.set("check_health", h.health);
      }
      r.set("addr", s.address + ":" + std::to_string(s.port));
      r.set("mode", "tcp");
      r.set("uweight", s.uweight);
      r.set("-", "-");
      r.write(o);
      if (admin::takes_connections(s)) {
        (s.backup ? bck : act) += 1;
        (s.backup ? bck_weight : act_weight) += admin::weight_now(s);
      }
      (s.backup ? bck_uweight : act_uweight) += s.uweight;
    }

    Row b;
    b.zero({"qcur",
            "qmax",
            "scur",
            "smax",
            "stot",
            "bin",
            "bout",
            "dreq",
            "dresp",
            "econ",
            "eresp",
            "wretr",
            "wredis",
            "chkdown",
            "downtime",
            "lbtot",
            "rate",
            "rate_max",
            "cli_abrt",
            "srv_abrt",
            "comp_in",
            "comp_out",
            "comp_byp",
            "comp_rsp",
            "qtime",
            "ctime",
            "rtime",
            "ttime",
            "wrew",
            "connect",
            "reuse",
            "qtime_max",
            "ctime_max",
            "rtime_max",
            "ttime_max",
            "eint",
            "agg_server_status",
            "agg_server_check_status",
            "agg_check_status",
            "ssl_sess",
            "ssl_reused_sess",
            "ssl_failed_handshake"});
    b.zero_mux();
    b.set("pxname", be);
    b.set("svname", "BACKEND");
    b.set("scur", current);
    b.set("smax", current);
    if (fe_maxconn != 0) {
      b.set("slim", (fe_maxconn + 9) / 10);  // HAProxy's default fullconn
    }
    b.set("stot", total);
    b.set("lbtot", total);
    b.set("connect", attempts);
    b.set("bin", bytes_in);
    b.set("bout", bytes_out);
    b.set("econ", errors);
    b.set("ctime", average_ms(connect_ms, connects));
    b.set("status", act + bck != 0 ? "UP" : "DOWN");
    b.set("weight", act != 0 ? act_weight : bck_weight);
    b.set("act", act);
    b.set("bck", bck);
    b.set("lastchg", last_change);
    b.set("pid", "1");
    b.set("iid", iid);
    b.set("sid", "0");
    b.set("type", "1");
    b.set("lastsess", "-1");
    b.set("mode", "tcp");
    const auto algo = c.names.algo_of.find(l.name);
    b.set("algo", algo == c.names.algo_of.end() ? std::string("roundrobin") : algo->second);
    b.set("uweight", act != 0 || act_uweight != 0 ? act_uweight : bck_uweight);
    b.set("-", "-");
    b.write(o);
  }
  return o.str();
}

std::string show_info(const Context& c) {
  const admin::AdminView& v = c.view;
  const std::uint64_t up = c.now_unix_s > v.start_unix_s ? c.now_unix_s - v.start_unix_s : 0;
  char uptime[64];
  std::snprintf(uptime, sizeof uptime, "%llud %lluh%02llum%02llus",
                static_cast<unsigned long long>(up / 86400),
                static_cast<unsigned long long>((up / 3600) % 24),
                static_cast<unsigned long long>((up / 60) % 60),
                static_cast<unsigned long long>(up % 60));
  std::uint64_t current = 0;
  for (const auto n : c.sample.listener_active) {
    current += n;
  }
  std::size_t listeners = 0;
  for (const auto& l : v.listeners) {
    listeners += l.retired ? 0 : 1;
  }
  const std::string maxconn = std::to_string(c.names.global_maxconn);
  const std::pair<const char*, std::string> rows[] = {
      {"Name", "Postern"},
      {"Version", "0.1.0"},
      {"Release_date", "-"},
      {"Nbthread", std::to_string(v.workers)},
      {"Nbproc", "1"},
      {"Process_num", "1"},
      {"Pid", std::to_string(c.pid)},
      {"Uptime", uptime},
      {"Uptime_sec", std::to_string(up)},
      {"Maxconn", maxconn},
      {"Hard_maxconn", maxconn},
      {"CurrConns", std::to_string(current)},
      {"CumConns", std::to_string(c.sample.total.flows_created)},
      {"Maxpipes", "0"},
      {"PipesUsed", "0"},
      {"PipesFree", "0"},
      {"ConnRate", "0"},
      {"ConnRateLimit", "0"},
      {"MaxConnRate", "0"},
      {"Tasks", "0"},
      {"Run_queue", "0"},
      {"Idle_pct", "100"},
      {"node", v.node},
      {"Stopping", "0"},
      {"Jobs", std::to_string(current)},
      {"Listeners", std::to_string(listeners)},
      {"DroppedLogs", "0"},
      {"TotalBytesOut", std::to_string(c.sample.total.tx_bytes)},
      {"Start_time_sec", std::to_string(v.start_unix_s)},
  };
  std::ostringstream o;
  for (const auto& [k, val] : rows) {
    o << k << ": " << val << '\n';
  }
  return o.str();
}

bool show_servers_state(const Context& c, const std::string& backend, std::string& out) {
  const admin::AdminView& v = c.view;
  std::ostringstream o;
  o << "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
       "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
       "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
       "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
       "srv_agent_port\n";
  bool found = backend.empty();
  for (const admin::ListenerView& l : v.listeners) {
    const std::string be = backend_name(c.names, l.name);
    if (l.retired || (!backend.empty() && be != backend && l.name != backend)) {
      continue;
    }
    found = true;
    std::uint32_t sid = 0;
    for (const auto slot : l.servers) {
      ++sid;
      if (slot >= v.servers.size()) {
        continue;
      }
      const admin::ServerView& s = v.servers[slot];
      const health::ServerHealth& h = s.health;
      const bool maint = s.admin == admin::AdminState::kMaint;
      int op_state = 2;  // RUNNING
      if (maint || !h.up) {
        op_state = 0;  // STOPPED
      } else if (h.starting) {
        op_state = 1;  // STARTING
      }
      std::uint32_t admin_bits = 0;
      if (maint) {
        admin_bits |= kFMaint;
      }
      if (s.admin == admin::AdminState::kDrain) {
        admin_bits |= kFDrain;
      }
      int result = 0;  // CHK_RES_UNKNOWN
      if (h.checked && h.status != health::CheckStatus::kIni &&
          h.status != health::CheckStatus::kUnknown) {
        result = health::status_passed(h.status) ? 3 : 2;  // PASSED : FAILED
      }
      // CHK_ST_CONFIGURED | CHK_ST_ENABLED, and PAUSED in maintenance.
      const int check_state = h.checked ? (6 | (maint ? 8 : 0)) : 0;
      o << (l.slot + 2) << ' ' << be << ' ' << sid << ' ' << s.server << ' ' << s.address << ' '
        << op_state << ' ' << admin_bits << ' ' << s.uweight << ' ' << s.weight << ' '
        << seconds_since(v.built_ms, h.last_change_ms) << ' '
        << (h.checked ? haproxy_status_number(h.status) : 1) << ' ' << result << ' '
        << (maint && h.checked ? 0 : h.health) << ' ' << check_state << " 0 0 0 - " << s.port
        << " - 0 0 - - 0\n";
    }
  }
  if (!found) {
    out = "Can't find backend.\n";
    return false;
  }
  out = o.str();
  return true;
}

std::string show_health(const Context& c) {
  const admin::AdminView& v = c.view;
  std::ostringstream o;
  o << "# server status check code duration_ms health rise fall chkfail chkdown lastchg_s "
       "admin uweight desc\n";
  for (const admin::ListenerView& l : v.listeners) {
    if (l.retired) {
      continue;
    }
    const std::string be = backend_name(c.names, l.name);
    for (const auto slot : l.servers) {
      if (slot >= v.servers.size()) {
        continue;
      }
      const admin::ServerView& s = v.servers[slot];
      const health::ServerHealth& h = s.health;
      const char* admin = s.admin == admin::AdminState::kMaint   ? "maint"
                          : s.admin == admin::AdminState::kDrain ? "drain"
                                                                 : "ready";
      o << be << '/' << s.server << " \"" << health::status_text(h) << "\" ";
      if (h.checked) {
        o << (h.check_running ? "*" : "") << health::status_name(h.status) << ' '
          << (health::status_has_code(h.status) ? std::to_string(h.code) : "-") << ' '
          << (h.duration_ms >= 0 ? std::to_string(h.duration_ms) : "-") << ' ' << h.health << ' '
          << h.rise << ' ' << h.fall << ' ' << h.check_failures << ' ' << h.down_transitions;
      } else {
        o << "- - - - - - - -";
      }
      o << ' ' << seconds_since(v.built_ms, h.last_change_ms) << ' ' << admin << ' ' << s.uweight
        << " \"";
      o << (h.checked ? (h.description.empty() ? std::string(health::status_description(h.status))
                                               : h.description)
                      : std::string("no check"))
        << "\"\n";
    }
  }
  return o.str();
}

std::string help_text() {
  const std::pair<const char*, const char*> rows[] = {
      {"disable server <bk>/<srv>", "put a server in maintenance (as set server ... state maint)"},
      {"enable server <bk>/<srv>", "take a server out of maintenance (as set server ... ready)"},
      {"get weight <bk>/<srv>", "report a server's current weight"},
      {"help", "list the commands"},
      {"prompt", "toggle interactive mode with prompt"},
      {"quit", "disconnect"},
      {"reload", "reload the configuration files (as SIGHUP)"},
      {"set server <bk>/<srv> state <st>", "ready | drain | maint"},
      {"set server <bk>/<srv> weight <w>[%]", "change a server's weight"},
      {"set timeout cli <delay>", "change this session's idle timeout (seconds)"},
      {"set weight <bk>/<srv> <w>[%]", "change a server's weight (as set server ... weight)"},
      {"show backend", "list backends"},
      {"show health", "Postern: every server's check detail"},
      {"show info", "report information about the running process"},
      {"show servers state [<bk>]", "dump the servers' state (format 1)"},
      {"show stat", "report counters for each proxy and server (CSV)"},
  };
  std::ostringstream o;
  o << "The following commands are valid at this level:\n";
  char line[160];
  for (const auto& [cmd, what] : rows) {
    std::snprintf(line, sizeof line, "  %-40s: %s\n", cmd, what);
    o << line;
  }
  return o.str();
}

std::vector<StateLine> parse_server_state(std::string_view text) {
  std::vector<StateLine> out;
  std::istringstream in{std::string(text)};
  std::string line;
  bool version_seen = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.empty() || line[0] == '#') {
      continue;
    }
    if (!version_seen) {
      version_seen = true;
      if (line == "1") {
        continue;
      }
    }
    const auto w = split_words(line);
    if (w.size() < 20) {  // HAProxy's SRV_STATE_FILE_MIN_FIELDS_VERSION_1
      continue;
    }
    StateLine s;
    s.backend = w[1];
    s.server = w[3];
    try {
      s.admin_bits = static_cast<std::uint32_t>(std::stoul(w[6]));
      s.uweight = static_cast<std::uint32_t>(std::stoul(w[7]));
      s.iweight = static_cast<std::uint32_t>(std::stoul(w[8]));
    } catch (...) {
      continue;
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string server_state_path(const config::Config& cfg, const config::Listener& l) {
  std::string file;
  if (l.load_server_state == config::ServerStateLoad::kGlobal) {
    file = cfg.global.server_state_file;
  } else if (l.load_server_state == config::ServerStateLoad::kLocal) {
    file = l.server_state_file_name.empty() ? (l.backend.empty() ? l.name : l.backend)
                                            : l.server_state_file_name;
  }
  if (file.empty()) {
    return {};
  }
  if (file[0] != '/' && !cfg.global.server_state_base.empty()) {
    std::string base = cfg.global.server_state_base;
    if (base.back() != '/') {
      base += '/';
    }
    file = base + file;
  }
  return file;
}

std::vector<std::string> load_server_state(const config::Config& cfg, admin::Operator& op) {
  std::vector<std::string> said;
  const auto view = op.view();
  if (!view) {
    return said;
  }
  std::map<std::string, std::vector<StateLine>> files;
  for (const auto& l : cfg.listeners) {
    const std::string path = server_state_path(cfg, l);
    if (path.empty()) {
      continue;
    }
    if (files.find(path) == files.end()) {
      std::ifstream f(path);
      std::stringstream text;
      if (f) {
        text << f.rdbuf();
      } else {
        said.push_back("server-state file " + path +
                       ": cannot read it; servers start as configured");
      }
      files[path] = parse_server_state(text.str());
    }
    const std::string be = l.backend.empty() ? l.name : l.backend;
    for (const StateLine& s : files[path]) {
      if (s.backend != be) {
        continue;
      }
      const admin::ServerView* sv = view->find_server(l.name, s.server);
      if (sv == nullptr) {
        continue;
      }
      std::string error;
      admin::AdminState state = admin::AdminState::kReady;
      if ((s.admin_bits & kFMaint) != 0) {
        state = admin::AdminState::kMaint;
      } else if ((s.admin_bits & kFDrain) != 0) {
        state = admin::AdminState::kDrain;
      }
      if (state != admin::AdminState::kReady && op.set_admin(sv->slot, state, error)) {
        said.push_back("server-state: " + be + "/" + s.server +
                       (state == admin::AdminState::kMaint ? " in maintenance" : " draining"));
      }
      // HAProxy takes the weight back only when the configuration's did not change.
      if (s.iweight == sv->weight && s.uweight != sv->uweight && s.uweight <= 256 &&
          op.set_weight(sv->slot, s.uweight, error)) {
        said.push_back("server-state: " + be + "/" + s.server + " weight " +
                       std::to_string(s.uweight));
      }
    }
  }
  return said;
}

}  // namespace postern::control::api
