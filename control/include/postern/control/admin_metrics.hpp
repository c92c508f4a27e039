// /metrics: the Prometheus text exposition (format 0.0.4) of the admin view and a sample of the
// workers' counters, under the names, labels and state encodings of HAProxy 2.6's exporter
// (promex) wherever HAProxy has a counterpart, so its dashboards work unchanged; Postern's own
// figures (per worker, per interface, drops by reason) under `postern_`.
#pragma once

#include "postern/control/admin_http.hpp"
#include "postern/control/admin_view.hpp"

namespace postern::control::admin {

// A listener is both a frontend and a backend, as a HAProxy `listen` section is; retired
// listeners and servers (removed by a reload, draining) are not shown. Everything is summed
// from the sample here, at scrape time.
Page metrics_page(const AdminView& view, const Sample& sample);

}  // namespace postern::control::admin
