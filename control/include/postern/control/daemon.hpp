// The running daemon: brings the dataplane up from a loaded configuration, publishes
// snapshots, reloads on SIGHUP/SIGUSR2, stops on SIGINT/SIGTERM.
#pragma once

#include <string>
#include <vector>

#include "postern/config/model.hpp"

namespace postern::control {

// Runs until a stop signal; returns the process exit code. `paths` are the -f arguments,
// expanded again at every reload.
int run_daemon(const config::Config& cfg, const std::vector<std::string>& paths,
               const std::vector<std::string>& extra_eal);

}  // namespace postern::control
