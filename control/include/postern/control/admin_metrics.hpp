// /metrics: the Prometheus text exposition (format 0.0.4) of the admin view and a sample of the
// workers' counters, under the names, labels and state encodings of HAProxy 2.6's exporter
// (promex) wherever HAProxy has a counterpart, so its dashboards work unchanged; Postern's own
// figures (per worker, per interface, drops by reason) under `postern_`.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "postern/control/admin_http.hpp"
#include "postern/control/admin_view.hpp"

namespace postern::control::admin {

// What a scrape asks for in its query string, as promex reads it: `scope=` (global, frontend,
// backend, server, listener, `*`; repeatable; an empty one selects nothing),
// `metrics=NAME,-NAME` (full family names: only the listed ones, or all but the excluded ones)
// and `no-maint` (no series for servers in maintenance). Postern's own families belong to
// scope global, postern_server_* to scope server.
struct MetricsQuery {
  static constexpr unsigned kGlobal = 1, kFrontend = 2, kBackend = 4, kServer = 8;
  static constexpr unsigned kAll = kGlobal | kFrontend | kBackend | kServer;
  unsigned scopes = kAll;
  std::map<std::string, bool, std::less<>> names;  // name -> excluded
  bool only_named = false;  // some name was listed without '-': only listed names
  bool no_maint = false;
};

// Parses a query string (what follows '?', URL-encoded); false on what promex answers with
// 400: a `scope` without a value or naming no scope, a value holding '='.
bool parse_metrics_query(std::string_view query, MetricsQuery& q);

// A listener is both a frontend and a backend, as a HAProxy `listen` section is; retired
// listeners and servers (removed by a reload, draining) are not shown. Everything is summed
// from the sample here, at scrape time.
Page metrics_page(const AdminView& view, const Sample& sample, const MetricsQuery& query = {});

// GET /metrics?QUERY: the page for the query, or promex's 400 page if it does not parse.
Page metrics_page_for(std::string_view query, const AdminView& view, const Sample& sample);

}  // namespace postern::control::admin
