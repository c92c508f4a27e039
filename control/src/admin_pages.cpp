// The admin pages' routes.
#include "postern/control/admin_pages.hpp"

#include "postern/control/admin_metrics.hpp"

namespace postern::control::admin {

void register_pages(HttpServer& http, const Operator& op) {
  http.route("/v1/state", [&op] { return state_page(*op.view(), op.sample()); });
  http.route("/metrics", [&op] { return metrics_page(*op.view(), op.sample()); });
}

}  // namespace postern::control::admin
