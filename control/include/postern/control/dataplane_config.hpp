// Compiles the configuration model into what the dataplane reads: the static Settings (ports,
// addresses, routes) and an immutable Snapshot (listeners, servers, binds) for publication.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "postern/config/diagnostic.hpp"
#include "postern/config/model.hpp"
#include "postern/dataplane/settings.hpp"
#include "postern/dataplane/snapshot.hpp"

namespace postern::control {

// Errors (IPv6 where the dataplane has no IPv6 yet, a server without a route) are recorded
// against the entity's origin. `extra_eal` is appended to dataplane.eal.
dataplane::Settings build_settings(const config::Config& cfg,
                                   const std::vector<std::string>& extra_eal,
                                   config::Diagnostics& diags);

// Whether flows still count on a slot (listener or server `index`), summed over workers.
using SlotBusy = std::function<bool(bool listener, std::uint16_t index)>;

// `previous` (the running snapshot, on reload) fixes the index of every listener and
// server that survives, by name; removed ones stay as retired slots while they drain. When
// the slots run out (dataplane::kMaxListeners, kMaxServers), a slot that was already retired
// in `previous` and that `busy` says no flow counts on any more is given to the new name.
std::unique_ptr<dataplane::Snapshot> build_snapshot(const config::Config& cfg,
                                                    const dataplane::Settings& settings,
                                                    std::uint32_t generation,
                                                    config::Diagnostics& diags,
                                                    const dataplane::Snapshot* previous = nullptr,
                                                    const SlotBusy& busy = nullptr);

}  // namespace postern::control
