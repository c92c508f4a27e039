// The cost of one /metrics scrape on the control thread: an admin view of N servers (all
// checked, 16 per listener) and a sample of two workers rendered by metrics_page, as
// admin.http does per GET. Prints ms per scrape, the series and the bytes; asserts nothing.
// `build/bench/metrics_bench [SERVERS...]` (default 64 256 1024 4096).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "postern/control/admin_metrics.hpp"

namespace {

// "PREFIXn" (GCC 12's -Wrestrict misfires on `"literal" + std::to_string(n)`).
std::string numbered(const char* prefix, std::size_t n) {
  std::string out(prefix);
  out += std::to_string(n);
  return out;
}

using postern::control::admin::AdminView;
using postern::control::admin::ListenerView;
using postern::control::admin::Sample;
using postern::control::admin::ServerView;

constexpr std::size_t kPerListener = 16;
constexpr std::size_t kWorkers = 2;

AdminView view_of(std::size_t servers) {
  AdminView v;
  v.built_ms = 3600000;
  v.start_unix_s = 1796040000;
  v.generation = 1;
  v.config_hash = "00c0ffee00c0ffee";
  v.workers = kWorkers;
  v.probe_slots_in_use.assign(kWorkers, 0);
  for (std::size_t i = 0; i < servers; ++i) {
    const std::size_t l = i / kPerListener;
    if (l == v.listeners.size()) {
      ListenerView lv;
      lv.slot = static_cast<std::uint16_t>(l);
      lv.name = numbered("listener", l);
      lv.binds = {numbered("198.18.0.100:", 10000 + l)};
      v.listeners.push_back(lv);
    }
    ServerView s;
    s.slot = static_cast<std::uint16_t>(i);
    s.listener = v.listeners[l].name;
    s.server = numbered("s", i % kPerListener);
    s.name = s.listener + "/" + s.server;
    s.address = "198.19.0.10";
    s.port = static_cast<std::uint16_t>(20000 + i);
    s.health.checked = true;
    s.health.duration_ms = 1;
    v.listeners[l].servers.push_back(s.slot);
    v.servers.push_back(std::move(s));
  }
  return v;
}

Sample sample_of(std::size_t listeners, std::size_t servers) {
  Sample s;
  s.unix_s = 1796043600;
  s.steady_ms = 3600000;
  s.per_worker.resize(kWorkers);
  for (auto* v : {&s.server_active, &s.server_total, &s.server_bytes_in, &s.server_bytes_out,
                  &s.server_errors, &s.server_attempts, &s.server_connects, &s.server_connect_ms}) {
    v->assign(servers, 123456789);
  }
  s.listener_active.assign(listeners, 1000);
  s.listener_total.assign(listeners, 987654321);
  s.handoff_queued.assign(kWorkers, 0);
  s.handoff_capacity.assign(kWorkers, 4095);
  s.tsc_hz = 3000000000;
  s.flow_capacity = 65536;
  s.interface_names = {"client", "servers"};
  s.interfaces.resize(2);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> sizes;
  for (int i = 1; i < argc; ++i) {
    sizes.push_back(std::strtoul(argv[i], nullptr, 10));
  }
  if (sizes.empty()) {
    sizes = {64, 256, 1024, 4096};
  }
  std::printf("%8s %10s %12s %10s %12s\n", "servers", "listeners", "ms/scrape", "series", "bytes");
  for (const std::size_t n : sizes) {
    const AdminView v = view_of(n);
    const Sample s = sample_of(v.listeners.size(), n);
    const int runs =
        static_cast<int>(std::max<std::size_t>(5, 20000 / std::max<std::size_t>(n, 1)));
    double best = 1e30;
    std::size_t bytes = 0;
    std::size_t series = 0;
    for (int r = 0; r < runs; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto page = postern::control::admin::metrics_page(v, s);
      const auto t1 = std::chrono::steady_clock::now();
      best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
      bytes = page.body.size();
      series = 0;
      for (std::size_t i = 0; i < page.body.size(); i = page.body.find('\n', i) + 1) {
        series += page.body[i] != '#' ? 1 : 0;
        if (page.body.find('\n', i) == std::string::npos) {
          break;
        }
      }
    }
    std::printf("%8zu %10zu %12.2f %10zu %12zu\n", n, v.listeners.size(), best, series, bytes);
  }
  return 0;
}
