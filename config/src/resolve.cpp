// Resolution steps shared by the haproxy.cfg and YAML readers.
#include "resolve.hpp"

#include <algorithm>
#include <string>

namespace postern::config {

void fill_server_ports(Listener& listener, const std::vector<std::size_t>& portless,
                       Diagnostics& diags) {
  if (portless.empty()) {
    return;
  }
  std::vector<std::uint16_t> ports;
  for (const Bind& bind : listener.binds) {
    if (std::find(ports.begin(), ports.end(), bind.endpoint.port) == ports.end()) {
      ports.push_back(bind.endpoint.port);
    }
  }
  for (std::size_t index : portless) {
    Server& server = listener.servers[index];
    if (!server.endpoint) {
      continue;
    }
    if (ports.size() == 1) {
      server.endpoint->port = ports.front();
    } else if (ports.size() > 1) {
      std::string list;
      for (std::uint16_t port : ports) {
        list += (list.empty() ? "" : ", ") + std::to_string(port);
      }
      diags.error(server.origin.file, server.origin.line, server.origin.column,
                  "server '" + server.name + "' has no port and listener '" + listener.name +
                      "' binds several ports (" + list + ")",
                  "give the server a port");
    }
    // No bind at all: the validator reports the listener, and the server's port 0.
  }
}

}  // namespace postern::config
