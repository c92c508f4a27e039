// The admin HTTP endpoint (`admin.http`): /metrics, /v1/state and the status page at /, each
// a function that renders the current view; served by cpp-httplib on threads of its own, off
// the packet path and off the main thread's loop.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "postern/config/address.hpp"

namespace httplib {
class Server;
}

namespace postern::control::admin {

struct Page {
  std::string content_type;
  std::string body;
  int status = 200;
};

class HttpServer {
 public:
  HttpServer();
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Answers GET `path` (exact) with what `render` returns; before start().
  void route(const std::string& path, std::function<Page()> render);
  // The same for a page that reads the request's query string (raw, what follows '?').
  void route_with_query(const std::string& path, std::function<Page(std::string_view)> render);
  // Listens on `where` in a thread of its own; false (and `error` says why) if it cannot bind.
  bool start(const config::Endpoint& where, std::string& error);
  void stop();

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace postern::control::admin
