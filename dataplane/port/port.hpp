// EAL start-up and port bring-up: the only place besides the worker loop that talks to
// ethdev. Runs on the control thread at start; errors are exceptions with a clear message.
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <string>
#include <vector>

namespace postern::dataplane {

// Starts EAL with `args` (argv[0] is added). Devices named in `devices` that are not PCI
// addresses become `--vdev` arguments, PCI addresses `-a` arguments.
void init_eal(const std::vector<std::string>& args, const std::vector<std::string>& devices);

struct PortInfo {
  std::uint16_t port_id = 0;
  std::string name;
};

// Finds the port EAL created for `device` and starts it with `queues` RX/TX queue pairs.
PortInfo start_port(const std::string& device, std::uint16_t queues, rte_mempool* pool);

void stop_port(std::uint16_t port_id);

// Whether a device string is a PCI address (DDDD:BB:DD.F or BB:DD.F).
bool is_pci_address(const std::string& device);

}  // namespace postern::dataplane
