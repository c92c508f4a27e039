// Compiles the configuration model into what the dataplane reads: the static Settings (ports,
// addresses, routes) and an immutable Snapshot (listeners, servers, binds) for publication.
#pragma once

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

// `previous` (the running snapshot, on reload) fixes the index of every listener and
// server that survives, by name; removed ones stay as retired slots.
std::unique_ptr<dataplane::Snapshot> build_snapshot(const config::Config& cfg,
                                                    const dataplane::Settings& settings,
                                                    std::uint32_t generation,
                                                    config::Diagnostics& diags,
                                                    const dataplane::Snapshot* previous = nullptr);

}  // namespace postern::control
