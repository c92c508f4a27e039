// Entry points of the config module: load files (haproxy syntax or YAML), merge, validate, dump.
#pragma once

#include <string>
#include <vector>

#include "postern/config/diagnostic.hpp"
#include "postern/config/model.hpp"

namespace postern::config {

// Parses one haproxy.cfg-syntax text into `into` (merging with what is there), recording
// diagnostics against `file_name`.
void parse_haproxy(const std::string& text, const std::string& file_name, Config& into,
                   Diagnostics& diags);

// Parses one YAML text into `into`.
void parse_yaml(const std::string& text, const std::string& file_name, Config& into,
                Diagnostics& diags);

// Cross-file checks (duplicates, ranges, conflicts, missing timeouts).
void validate(const Config& config, Diagnostics& diags);

// Reads every file in order (`.yaml`/`.yml` as YAML, anything else as haproxy syntax), merges
// them and validates the result. A file that cannot be read is an error naming it.
Config load_files(const std::vector<std::string>& files, Diagnostics& diags);

// The model as YAML that `parse_yaml` reads back to an equal model.
std::string to_yaml(const Config& config);

}  // namespace postern::config
