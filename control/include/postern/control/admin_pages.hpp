// What the admin HTTP endpoint serves, each page rendered from the current view and a sample
// of the workers' counters.
#pragma once

#include "postern/control/admin_http.hpp"
#include "postern/control/admin_view.hpp"

namespace postern::control::admin {

// /v1/state: every listener and server for the cluster layer, as JSON.
Page state_page(const AdminView& view, const Sample& sample);

// /: the status page, HTML for a person at a browser (HAProxy's stats page, for a Postern node).
Page status_page(const AdminView& view, const Sample& sample);

// Registers every page on `http`, reading from `op`.
void register_pages(HttpServer& http, const Operator& op);

}  // namespace postern::control::admin
