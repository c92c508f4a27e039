// The admin pages' routes.
#include "postern/control/admin_pages.hpp"

#include "postern/control/admin_metrics.hpp"

namespace postern::control::admin {

void register_pages(HttpServer& http, const Operator& op) {
  http.route("/v1/state", [&op] { return state_page(*op.view(), op.sample()); });
  http.route("/", [&op] { return status_page(*op.view(), op.sample()); });
  http.route_with_query("/metrics", [&op](std::string_view query) {
    return metrics_page_for(query, *op.view(), op.sample());
  });
}

}  // namespace postern::control::admin
