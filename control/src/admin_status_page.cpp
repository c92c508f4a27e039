// The status page at / on admin.http: HAProxy's stats page for a Postern node, for a person at a
// browser. One table per listener (its frontend, a row per server coloured by state as HAProxy
// colours them, its backend), the workers' load, the counters that matter; one HTML document
// with inline CSS and no external resource, reloading itself every 5 seconds.
#include <cinttypes>
#include <cstdio>
#include <ctime>

#include "postern/control/admin_pages.hpp"
#include "postern/control/admin_state.hpp"

namespace postern::control::admin {
namespace {

constexpr int kRefreshSeconds = 5;

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// "1,234,567": counts read at a glance.
std::string count(std::uint64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) {
      out += ',';
    }
    out += digits[i];
  }
  return out;
}

// "12.3 MB" with the exact figure in the tooltip.
std::string bytes(std::uint64_t n) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double v = static_cast<double>(n);
  std::size_t u = 0;
  while (v >= 1000.0 && u + 1 < std::size(kUnits)) {
    v /= 1000.0;
    ++u;
  }
  char text[32];
  if (u == 0) {
    std::snprintf(text, sizeof text, "%" PRIu64 " B", n);
  } else {
    std::snprintf(text, sizeof text, v < 10.0 ? "%.1f %s" : "%.0f %s", v, kUnits[u]);
  }
  return "<span title=\"" + count(n) + " bytes\">" + text + "</span>";
}

// HAProxy's "3m12s", "2h5m", "4d2h".
std::string ago(std::int64_t seconds) {
  if (seconds < 0) {
    seconds = 0;
  }
  const std::int64_t d = seconds / 86400;
  const std::int64_t h = seconds / 3600 % 24;
  const std::int64_t m = seconds / 60 % 60;
  const std::int64_t s = seconds % 60;
  char text[48];
  if (d > 0) {
    std::snprintf(text, sizeof text, "%" PRId64 "d%" PRId64 "h", d, h);
  } else if (h > 0) {
    std::snprintf(text, sizeof text, "%" PRId64 "h%" PRId64 "m", h, m);
  } else if (m > 0) {
    std::snprintf(text, sizeof text, "%" PRId64 "m%" PRId64 "s", m, s);
  } else {
    std::snprintf(text, sizeof text, "%" PRId64 "s", s);
  }
  return text;
}

std::string utc(std::int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

// The row's class: HAProxy's stats page names and colours (active_up, backup_going_down,
// maintain, ...), so an operator reads the same colours and a user style written for HAProxy's
// page still applies.
std::string row_class(const ServerView& s) {
  const std::string_view state = state_word(s);
  if (state == "MAINT") {
    return "maintain";
  }
  const std::string kind = s.backup ? "backup_" : "active_";
  if (state == "DRAIN") {
    return kind + "draining";
  }
  if (!s.health.checked) {
    return kind + "no_check";
  }
  const std::string status = status_text(s);
  if (state == "UP") {
    return kind + (status == "UP" ? "up" : "going_down");
  }
  return kind + (status == "DOWN" ? "down" : "going_up");
}

// HAProxy's "L7OK/200 in 3ms"; the check's description in the tooltip.
std::string check_cell(const ServerView& s) {
  if (!s.health.checked) {
    return "<td class=\"muted\">no check</td>";
  }
  const health::ServerHealth& h = s.health;
  std::string text(health::status_name(h.status));
  if (health::status_has_code(h.status)) {
    text += "/" + std::to_string(h.code);
  }
  if (h.duration_ms >= 0) {
    text += " in " + std::to_string(h.duration_ms) + "ms";
  }
  std::string tip(health::status_description(h.status));
  if (!h.description.empty()) {
    tip += ": " + h.description;
  }
  return "<td title=\"" + escape(tip) + "\">" + escape(text) + "</td>";
}

const char* kStyle = R"(
body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;
  color:#1b1f24;background:#f4f5f7}
header{background:#223047;color:#fff;padding:12px 20px 10px}
header h1{margin:0;font-size:20px;font-weight:600;letter-spacing:.3px}
header h1 span{font-weight:400;color:#aebbd0}
header p{margin:4px 0 0;color:#c9d3e2}
main{padding:8px 20px 20px}
h2{font-size:14px;margin:18px 0 6px;color:#223047}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.12);
  margin-bottom:14px;min-width:760px}
caption{text-align:left;background:#6b2140;color:#ffe873;font-weight:600;padding:4px 8px;
  font-size:14px}
caption small{color:#f1c6d4;font-weight:400;margin-left:10px}
th{background:#dfe4ec;font-weight:600;padding:3px 8px;border:1px solid #c5ccd8;
  white-space:nowrap}
td{padding:3px 8px;border:1px solid #d8dde5;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.name{font-weight:600}
tr.frontend td,tr.backend td{background:#eef1f6;font-weight:600}
tr.backend td{border-top:2px solid #9aa5b8}
td.st{font-weight:700;text-align:center}
tr.active_up td{background:#c0ffc0}
tr.active_going_down td{background:#ffffa0}
tr.active_going_up td{background:#ffd020}
tr.active_down td,tr.backup_down td{background:#ff9090}
tr.active_draining td{background:#20a0ff}
tr.active_no_check td,tr.backup_no_check td{background:#e0e0e0}
tr.backup_up td{background:#b0d0ff}
tr.backup_going_down td{background:#c060ff}
tr.backup_going_up td{background:#ff80ff}
tr.backup_draining td{background:#cc9900}
tr.maintain td{background:#c07820}
td.st.up{background:#c0ffc0}
td.st.down{background:#ff9090}
td.st.open{background:#c0ffc0}
.muted{color:#6b7480}
.legend{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 14px;padding:0}
.legend li{list-style:none;padding:2px 8px;border:1px solid #c5ccd8}
.drops{color:#8a1c1c}
footer{color:#6b7480;padding:0 20px 16px}
a{color:#1f5fbf}
)";

void worker_table(std::string& h, const Sample& sample) {
  const bool busy = !sample.per_worker.empty();
  h += "<h2>Workers</h2>\n<table class=\"workers\">\n<tr><th>worker</th><th>RX packets</th>"
       "<th>TX packets</th><th>RX bytes</th><th>TX bytes</th><th>drops</th><th>flows</th>";
  if (busy) {
    h += "<th>busy</th>";
  }
  h += "</tr>\n";
  for (std::size_t i = 0; i < sample.per_worker.size(); ++i) {
    const dataplane::WorkerCounters& w = sample.per_worker[i];
    std::uint64_t dropped = 0;
    for (const std::uint64_t d : w.drops) {
      dropped += d;
    }
    h += "<tr><td class=\"name\">" + std::to_string(i) + "</td><td class=\"n\">" +
         count(w.rx_packets) + "</td><td class=\"n\">" + count(w.tx_packets) +
         "</td><td class=\"n\">" + bytes(w.rx_bytes) + "</td><td class=\"n\">" + bytes(w.tx_bytes) +
         "</td><td class=\"n" + (dropped != 0 ? " drops" : "") + "\">" + count(dropped) +
         "</td><td class=\"n\">" + count(w.active_flows) + "</td>";
    if (busy) {
      char pct[16];
      std::snprintf(pct, sizeof pct, "%.1f %%", static_cast<double>(w.busy_ppm) / 1e4);
      h += std::string("<td class=\"n\">") + pct + "</td>";
    }
    h += "</tr>\n";
  }
  h += "</table>\n";
}

void listener_table(std::string& h, const AdminView& view, const ListenerView& l,
                    const Sample& sample, std::int64_t now_unix) {
  // Bytes columns only when the sample counts them per server.
  const bool with_bytes = !sample.server_bytes_in.empty();
  std::string binds;
  for (const std::string& b : l.binds) {
    binds += (binds.empty() ? "" : ", ") + escape(b);
  }
  h += "<table class=\"listener\">\n<caption>" + escape(l.name) + "<small>" + binds +
       (l.maxconn != 0 ? " &middot; maxconn " + count(l.maxconn) : "") + "</small></caption>\n";
  h += "<tr><th></th><th>address</th><th>cur</th><th>total</th>";
  if (with_bytes) {
    h += "<th>bytes in</th><th>bytes out</th>";
  }
  h += "<th>status</th><th>last check</th><th>last change</th><th>weight</th><th>backup</th>"
       "<th>check fails</th><th>downs</th></tr>\n";

  std::uint64_t active = 0;
  std::uint64_t total = 0;
  std::uint64_t in = 0;
  std::uint64_t out = 0;
  std::uint32_t up = 0;
  std::uint32_t weight = 0;
  std::string rows;
  for (const std::uint16_t slot : l.servers) {
    if (slot >= view.servers.size()) {
      continue;
    }
    const ServerView& s = view.servers[slot];
    const std::uint64_t cur = slot_count(sample.server_active, slot);
    const std::uint64_t tot = slot_count(sample.server_total, slot);
    active += cur;
    total += tot;
    if (std::string_view(state_word(s)) == "UP") {
      ++up;
      weight += s.backup ? 0 : s.uweight;
    }
    const std::int64_t changed =
        s.health.last_change_ms == 0
            ? static_cast<std::int64_t>(view.start_unix_s)
            : (static_cast<std::int64_t>(s.health.last_change_ms) + view.unix_offset_ms) / 1000;
    rows += "<tr class=\"server " + row_class(s) + "\"><td class=\"name\">" + escape(s.server) +
            "</td><td>" + escape(s.address) + ":" + std::to_string(s.port) +
            "</td><td class=\"n\">" + count(cur) + "</td><td class=\"n\">" + count(tot) + "</td>";
    if (with_bytes) {
      const std::uint64_t bi = slot_count(sample.server_bytes_in, slot);
      const std::uint64_t bo = slot_count(sample.server_bytes_out, slot);
      in += bi;
      out += bo;
      rows += "<td class=\"n\">" + bytes(bi) + "</td><td class=\"n\">" + bytes(bo) + "</td>";
    }
    rows +=
        "<td class=\"st\">" + escape(status_text(s)) + "</td>" + check_cell(s) + "<td title=\"" +
        utc(changed) + "\">" + ago(now_unix - changed) + "</td><td class=\"n\">" +
        std::to_string(s.uweight) +
        (s.uweight != s.weight ? " <span class=\"muted\">(" + std::to_string(s.weight) + ")</span>"
                               : "") +
        "</td><td>" + (s.backup ? "Y" : "-") + "</td><td class=\"n\">" +
        (s.health.checked ? count(s.health.check_failures) : "") + "</td><td class=\"n\">" +
        (s.health.checked ? count(s.health.down_transitions) : "") + "</td></tr>\n";
  }

  const std::string empty_bytes = with_bytes ? "<td></td><td></td>" : "";
  h += "<tr class=\"frontend\"><td>Frontend</td><td>" + binds + "</td><td class=\"n\">" +
       count(slot_count(sample.listener_active, l.slot)) + "</td><td class=\"n\">" +
       count(l.slot < sample.listener_total.size() ? sample.listener_total[l.slot] : total) +
       "</td>" + empty_bytes +
       "<td class=\"st open\">OPEN</td><td></td><td></td><td></td><td></td><td></td><td></td>"
       "</tr>\n";
  h += rows;
  const bool backend_up = up > 0;
  h += "<tr class=\"backend\"><td>Backend</td><td>" + std::to_string(up) + " of " +
       std::to_string(l.servers.size()) + " up</td><td class=\"n\">" + count(active) +
       "</td><td class=\"n\">" + count(total) + "</td>";
  if (with_bytes) {
    h += "<td class=\"n\">" + bytes(in) + "</td><td class=\"n\">" + bytes(out) + "</td>";
  }
  h += std::string("<td class=\"st ") + (backend_up ? "up\">UP" : "down\">DOWN") +
       "</td><td></td><td></td><td class=\"n\">" + std::to_string(weight) +
       "</td><td></td><td></td><td></td></tr>\n</table>\n";
}

}  // namespace

Page status_page(const AdminView& view, const Sample& sample) {
  const std::int64_t now_unix =
      (static_cast<std::int64_t>(view.built_ms) + view.unix_offset_ms) / 1000;
  std::string h;
  h.reserve(16384);
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
       "<meta http-equiv=\"refresh\" content=\"" +
       std::to_string(kRefreshSeconds) +
       "\">\n<meta name=\"viewport\" content=\"width=device-width\">\n<title>Postern on " +
       escape(view.node) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  h += "<header><h1>Postern <span>on " + escape(view.node) + "</span></h1>\n<p>generation " +
       std::to_string(view.generation) + " &middot; configuration " + escape(view.config_hash) +
       " &middot; up " + ago(now_unix - static_cast<std::int64_t>(view.start_unix_s)) + " (since " +
       utc(static_cast<std::int64_t>(view.start_unix_s)) + ") &middot; " +
       std::to_string(view.workers) + (view.workers == 1 ? " worker" : " workers") +
       " &middot; reloads " + count(view.reloads_ok) + " ok, " + count(view.reloads_failed) +
       " failed</p></header>\n<main>\n";

  const dataplane::WorkerCounters& t = sample.total;
  std::uint64_t dropped = 0;
  std::string drop_list;
  for (std::size_t i = 0; i < t.drops.size(); ++i) {
    dropped += t.drops[i];
    if (t.drops[i] != 0) {
      drop_list += (drop_list.empty() ? "" : ", ") + std::string(dataplane::kDropReasonNames[i]) +
                   " " + count(t.drops[i]);
    }
  }
  h += "<p>" + count(t.active_flows) + " connections open, " + count(t.flows_created) +
       " since start &middot; " + count(t.connect_failures) + " connect failures, " +
       count(t.syn_redispatched) + " redispatched &middot; <span class=\"" +
       (dropped != 0 ? "drops" : "muted") + "\">" + count(dropped) + " packets dropped" +
       (drop_list.empty() ? "" : " (" + escape(drop_list) + ")") + "</span></p>\n";

  for (const ListenerView& l : view.listeners) {
    if (!l.retired) {
      listener_table(h, view, l, sample, now_unix);
    }
  }
  h += "<ul class=\"legend\"><li style=\"background:#c0ffc0\">active UP</li>"
       "<li style=\"background:#b0d0ff\">backup UP</li>"
       "<li style=\"background:#ffffa0\">active UP, going down</li>"
       "<li style=\"background:#c060ff\">backup UP, going down</li>"
       "<li style=\"background:#ffd020\">active DOWN, going up</li>"
       "<li style=\"background:#ff80ff\">backup DOWN, going up</li>"
       "<li style=\"background:#ff9090\">active or backup DOWN</li>"
       "<li style=\"background:#e0e0e0\">not checked</li>"
       "<li style=\"background:#c07820\">MAINT</li>"
       "<li style=\"background:#20a0ff\">DRAIN</li></ul>\n";
  worker_table(h, sample);
  h += "</main>\n<footer>" + utc(now_unix) + " &middot; refreshed every " +
       std::to_string(kRefreshSeconds) +
       " s &middot; <a href=\"/v1/state\">/v1/state</a> (JSON)</footer>\n</body>\n</html>\n";
  return {"text/html; charset=utf-8", std::move(h), 200};
}

}  // namespace postern::control::admin
