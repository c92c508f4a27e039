// The admin HTTP endpoint on cpp-httplib.
#include "postern/control/admin_http.hpp"

#include <httplib.h>

namespace postern::control::admin {

HttpServer::HttpServer() : server_(std::make_unique<httplib::Server>()) {}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::route(const std::string& path, std::function<Page()> render) {
  server_->Get(path, [render](const httplib::Request&, httplib::Response& res) {
    const Page p = render();
    res.status = p.status;
    res.set_content(p.body, p.content_type);
  });
}

void HttpServer::route_with_query(const std::string& path,
                                  std::function<Page(std::string_view)> render) {
  server_->Get(path, [render](const httplib::Request& req, httplib::Response& res) {
    const std::string_view target = req.target;
    const std::size_t q = target.find('?');
    const Page p = render(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
    res.status = p.status;
    res.set_content(p.body, p.content_type);
  });
}

bool HttpServer::start(const config::Endpoint& where, std::string& error) {
  const std::string host = where.address.to_string();
  if (!server_->bind_to_port(host, where.port)) {
    error = "cannot listen on " + where.to_string() + " for admin.http";
    return false;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return true;
}

void HttpServer::stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace postern::control::admin
