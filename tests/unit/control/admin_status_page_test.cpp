// The status page: a self-refreshing HTML document without external resources, one table per
// listener with its frontend, server and backend rows, each server coloured by its state as
// HAProxy's stats page colours it, and every name escaped.
#include <gtest/gtest.h>

#include <functional>
#include <regex>
#include <set>

#include "postern/control/admin_pages.hpp"

namespace postern::control::admin {
namespace {

AdminView view_of(std::vector<std::pair<std::string, std::function<void(ServerView&)>>> servers) {
  AdminView v;
  v.node = "lb1";
  v.generation = 2;
  v.config_hash = "0123abcd";
  v.built_ms = 100000;
  v.unix_offset_ms = 1'764'000'000'000;
  v.start_unix_s = 1'764'000'000;
  v.workers = 1;
  ListenerView l;
  l.name = "imap4";
  l.binds = {"198.18.0.100:143"};
  for (std::uint16_t i = 0; i < servers.size(); ++i) {
    ServerView s;
    s.slot = i;
    s.listener = "imap4";
    s.server = servers[i].first;
    s.name = "imap4/" + s.server;
    s.address = "198.19.0." + std::to_string(10 + i);
    s.port = 143;
    s.health.checked = true;
    s.health.rise = 2;
    s.health.fall = 3;
    s.health.health = 4;
    s.health.status = health::CheckStatus::kL7Ok;
    s.health.code = 220;
    s.health.duration_ms = 3;
    s.health.last_change_ms = 40000;
    servers[i].second(s);
    l.servers.push_back(i);
    v.servers.push_back(s);
  }
  v.listeners.push_back(l);
  return v;
}

Sample sample_for(const AdminView& v) {
  Sample s;
  s.server_active.assign(v.servers.size(), 0);
  s.server_total.assign(v.servers.size(), 0);
  s.listener_active.assign(v.listeners.size(), 0);
  s.per_worker.emplace_back();
  return s;
}

// The <tr> whose name cell holds `name`.
std::string row_of(const std::string& html, const std::string& name) {
  const std::size_t cell = html.find("<td class=\"name\">" + name + "</td>");
  if (cell == std::string::npos) {
    return {};
  }
  const std::size_t start = html.rfind("<tr", cell);
  return html.substr(start, html.find("</tr>", cell) - start);
}

TEST(StatusPage, IsOneSelfRefreshingDocumentWithoutExternalResources) {
  const AdminView v = view_of({{"dc1", [](ServerView&) {}}});
  const Page p = status_page(v, sample_for(v));
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(p.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(p.body.rfind("<!DOCTYPE html>", 0), 0U);
  EXPECT_NE(p.body.find("<meta http-equiv=\"refresh\" content=\"5\">"), std::string::npos);
  EXPECT_NE(p.body.find("<style>"), std::string::npos);
  // Nothing fetched from elsewhere: no scripts, stylesheets, images or fonts by URL.
  for (const char* s :
       {"<script", "<link", "<img", "src=", "url(", "@import", "http://", "https://"}) {
    EXPECT_EQ(p.body.find(s), std::string::npos) << s;
  }
  EXPECT_NE(p.body.find("<title>Postern on lb1</title>"), std::string::npos);
  EXPECT_NE(p.body.find("generation 2"), std::string::npos);
}

TEST(StatusPage, HasAFrontendARowPerServerAndABackend) {
  const AdminView v = view_of({{"dc1", [](ServerView&) {}}, {"dc2", [](ServerView&) {}}});
  Sample s = sample_for(v);
  s.server_active = {3, 1};
  s.server_total = {1200, 800};
  s.listener_active = {4};
  const std::string html = status_page(v, s).body;
  EXPECT_NE(html.find("<caption>imap4<small>198.18.0.100:143</small></caption>"),
            std::string::npos);
  const std::size_t frontend = html.find("<tr class=\"frontend\"><td>Frontend</td>");
  const std::size_t dc1 = html.find(row_of(html, "dc1"));
  const std::size_t dc2 = html.find(row_of(html, "dc2"));
  const std::size_t backend = html.find("<tr class=\"backend\"><td>Backend</td>");
  ASSERT_NE(frontend, std::string::npos);
  ASSERT_NE(backend, std::string::npos);
  EXPECT_LT(frontend, dc1);
  EXPECT_LT(dc1, dc2);
  EXPECT_LT(dc2, backend);
  // Sessions: current and total, per server and summed on the backend row.
  const std::string r1 = row_of(html, "dc1");
  EXPECT_NE(r1.find("<td class=\"n\">3</td><td class=\"n\">1,200</td>"), std::string::npos) << r1;
  EXPECT_NE(r1.find("198.19.0.10:143"), std::string::npos);
  EXPECT_NE(r1.find("L7OK/220 in 3ms"), std::string::npos) << r1;
  // Last change: 60 s ago (the view was built at the engine's 100 s, the change at 40 s).
  EXPECT_NE(r1.find(">1m0s</td>"), std::string::npos) << r1;
  const std::string tail = html.substr(backend, html.find("</tr>", backend) - backend);
  EXPECT_NE(tail.find("2 of 2 up"), std::string::npos) << tail;
  EXPECT_NE(tail.find("<td class=\"n\">4</td><td class=\"n\">2,000</td>"), std::string::npos)
      << tail;
  EXPECT_NE(tail.find("<td class=\"st up\">UP</td>"), std::string::npos) << tail;
}

TEST(StatusPage, ColoursEachServerByItsState) {
  const AdminView v = view_of({
      {"up", [](ServerView&) {}},
      {"goingdown", [](ServerView& s) { s.health.health = 3; }},
      {"down",
       [](ServerView& s) {
         s.health.up = false;
         s.health.health = 0;
         s.health.status = health::CheckStatus::kL4Con;
       }},
      {"comingup",
       [](ServerView& s) {
         s.health.up = false;
         s.health.health = 1;
       }},
      {"drain", [](ServerView& s) { s.admin = AdminState::kDrain; }},
      {"maint", [](ServerView& s) { s.admin = AdminState::kMaint; }},
      {"unchecked", [](ServerView& s) { s.health.checked = false; }},
      {"spare", [](ServerView& s) { s.backup = true; }},
  });
  const std::string html = status_page(v, sample_for(v)).body;
  const std::pair<const char*, const char*> expected[] = {
      {"up", "active_up"},
      {"goingdown", "active_going_down"},
      {"down", "active_down"},
      {"comingup", "active_going_up"},
      {"drain", "active_draining"},
      {"maint", "maintain"},
      {"unchecked", "active_no_check"},
      {"spare", "backup_up"},
  };
  for (const auto& [name, cls] : expected) {
    const std::string row = row_of(html, name);
    EXPECT_EQ(row.rfind(std::string("<tr class=\"server ") + cls + "\">", 0), 0U)
        << name << ": " << row;
  }
  // HAProxy's stats page palette, under its class names.
  EXPECT_NE(html.find("tr.active_up td{background:#c0ffc0}"), std::string::npos);
  EXPECT_NE(html.find("tr.active_going_down td{background:#ffffa0}"), std::string::npos);
  EXPECT_NE(html.find("tr.active_going_up td{background:#ffd020}"), std::string::npos);
  EXPECT_NE(html.find("tr.active_down td,tr.backup_down td{background:#ff9090}"),
            std::string::npos);
  EXPECT_NE(html.find("tr.active_draining td{background:#20a0ff}"), std::string::npos);
  EXPECT_NE(html.find("tr.maintain td{background:#c07820}"), std::string::npos);
  EXPECT_NE(html.find("tr.backup_up td{background:#b0d0ff}"), std::string::npos);
  // The status column in HAProxy's words, the down server's check in the check column.
  EXPECT_NE(row_of(html, "goingdown").find(">UP 2/3<"), std::string::npos);
  EXPECT_NE(row_of(html, "comingup").find(">DOWN 1/2<"), std::string::npos);
  EXPECT_NE(row_of(html, "down").find(">L4CON in 3ms<"), std::string::npos);
  EXPECT_NE(row_of(html, "unchecked").find(">no check<"), std::string::npos);
  // Backend: UP while one server takes connections.
  EXPECT_NE(html.find("4 of 8 up"), std::string::npos);
}

TEST(StatusPage, EscapesEveryName) {
  AdminView v =
      view_of({{"<b>x</b>", [](ServerView& s) { s.health.description = "\"quoted\" & <tag>"; }}});
  v.node = "<script>alert(1)</script>";
  v.listeners[0].name = "a&b";
  v.listeners[0].binds = {"<bind>"};
  v.config_hash = "'hash'";
  const std::string html = status_page(v, sample_for(v)).body;
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_EQ(html.find("<b>x</b>"), std::string::npos);
  EXPECT_EQ(html.find("<bind>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"name\">&lt;b&gt;x&lt;/b&gt;</td>"), std::string::npos);
  EXPECT_NE(html.find("<caption>a&amp;b<small>&lt;bind&gt;</small>"), std::string::npos);
  EXPECT_NE(html.find("&#39;hash&#39;"), std::string::npos);
  EXPECT_NE(html.find("&quot;quoted&quot; &amp; &lt;tag&gt;"), std::string::npos);
  // No tag left in the text but the page's own.
  const std::regex tag("<(/?)([a-zA-Z0-9!]+)");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), tag); it != std::sregex_iterator();
       ++it) {
    const std::string name = (*it)[2];
    static const std::set<std::string> kOwn = {
        "!DOCTYPE", "html", "head", "meta", "title", "style",  "body",    "header",
        "h1",       "span", "p",    "main", "h2",    "table",  "caption", "small",
        "tr",       "th",   "td",   "ul",   "li",    "footer", "a"};
    EXPECT_EQ(kOwn.count(name), 1U) << name;
  }
}

TEST(StatusPage, ShowsTheWorkersLoad) {
  const AdminView v = view_of({{"dc1", [](ServerView&) {}}});
  Sample s = sample_for(v);
  s.per_worker[0].rx_packets = 1234567;
  s.per_worker[0].tx_packets = 7;
  s.per_worker[0].rx_bytes = 2'500'000;
  s.per_worker[0].drop(dataplane::DropReason::kNoListener);
  s.total = s.per_worker[0];
  const std::string html = status_page(v, s).body;
  EXPECT_NE(html.find("<td class=\"n\">1,234,567</td>"), std::string::npos);
  EXPECT_NE(html.find("2.5 MB"), std::string::npos);
  EXPECT_NE(html.find("no_listener 1"), std::string::npos);
}

}  // namespace
}  // namespace postern::control::admin
