// Steps both readers take once a listener is complete, so haproxy.cfg and YAML agree.
#pragma once

#include <cstddef>
#include <vector>

#include "postern/config/diagnostic.hpp"
#include "postern/config/model.hpp"

namespace postern::config {

// A server written without a port gets the port its client connected to in HAProxy. Postern's
// flows need one fixed port, so the listener's bind port is taken when there is exactly one;
// several bind ports are an error at the server. `portless` indexes listener.servers.
void fill_server_ports(Listener& listener, const std::vector<std::size_t>& portless,
                       Diagnostics& diags);

}  // namespace postern::config
