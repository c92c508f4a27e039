// EAL and ethdev set-up.
#include "port/port.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

#include <cstring>
#include <regex>
#include <stdexcept>

namespace postern::dataplane {
namespace {
constexpr std::uint16_t kRxDesc = 1024;
constexpr std::uint16_t kTxDesc = 1024;
}  // namespace

bool is_pci_address(const std::string& device) {
  static const std::regex pci(R"(^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7](,.*)?$)");
  return std::regex_match(device, pci);
}

void init_eal(const std::vector<std::string>& args, const std::vector<std::string>& devices) {
  std::vector<std::string> all{"postern"};
  all.insert(all.end(), args.begin(), args.end());
  for (const auto& d : devices) {
    all.push_back(is_pci_address(d) ? "-a" : "--vdev");
    all.push_back(d);
  }
  std::vector<char*> argv;
  for (auto& a : all) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(all.size()), argv.data()) < 0) {
    throw std::runtime_error(std::string("EAL initialisation failed: ") + rte_strerror(rte_errno));
  }
}

PortInfo start_port(const std::string& device, std::uint16_t queues, rte_mempool* pool) {
  PortInfo info;
  info.name = device.substr(0, device.find(','));
  if (rte_eth_dev_get_port_by_name(info.name.c_str(), &info.port_id) != 0) {
    throw std::runtime_error("no DPDK port for device '" + device + "'");
  }
  rte_eth_dev_info dev_info{};
  if (rte_eth_dev_info_get(info.port_id, &dev_info) != 0) {
    throw std::runtime_error("cannot read device info of '" + info.name + "'");
  }
  if (dev_info.max_rx_queues < queues || dev_info.max_tx_queues < queues) {
    throw std::runtime_error("device '" + info.name + "' has " +
                             std::to_string(dev_info.max_rx_queues) + " RX queues, " +
                             std::to_string(queues) +
                             " workers need one each (net_af_packet: add qpairs=N)");
  }
  rte_eth_conf conf{};
  int rc = rte_eth_dev_configure(info.port_id, queues, queues, &conf);
  if (rc != 0) {
    throw std::runtime_error("cannot configure '" + info.name + "': " + rte_strerror(-rc));
  }
  std::uint16_t rxd = kRxDesc;
  std::uint16_t txd = kTxDesc;
  rte_eth_dev_adjust_nb_rx_tx_desc(info.port_id, &rxd, &txd);
  const int socket = rte_eth_dev_socket_id(info.port_id);
  for (std::uint16_t q = 0; q < queues; ++q) {
    rc = rte_eth_rx_queue_setup(info.port_id, q, rxd, static_cast<unsigned>(socket), nullptr, pool);
    if (rc != 0) {
      throw std::runtime_error("RX queue setup failed on '" + info.name +
                               "': " + rte_strerror(-rc));
    }
    rc = rte_eth_tx_queue_setup(info.port_id, q, txd, static_cast<unsigned>(socket), nullptr);
    if (rc != 0) {
      throw std::runtime_error("TX queue setup failed on '" + info.name +
                               "': " + rte_strerror(-rc));
    }
  }
  rc = rte_eth_dev_start(info.port_id);
  if (rc != 0) {
    throw std::runtime_error("cannot start '" + info.name + "': " + rte_strerror(-rc));
  }
  // The VIPs and source addresses share the port's MAC, but upstream switches may still flood
  // frames for other MACs at us; promiscuous mode is not needed and stays off.
  return info;
}

void stop_port(std::uint16_t port_id) {
  rte_eth_dev_stop(port_id);
  rte_eth_dev_close(port_id);
}

}  // namespace postern::dataplane
