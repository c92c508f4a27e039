// Command-line interface of the postern daemon, with HAProxy's habits:
// `postern -f FILE [-f FILE ...] [-c] [--dump-yaml] [-- EAL ARGS]`.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace postern::control {

struct CliOptions {
  std::vector<std::string> paths;     // -f arguments in command-line order
  std::vector<std::string> files;     // the same with directories expanded
  bool check_only = false;            // -c: validate and exit
  bool dump_yaml = false;             // --dump-yaml: print the merged model and exit
  bool quiet = false;                 // -q: no "Configuration file is valid"
  std::vector<std::string> eal_args;  // everything after `--`
};

// Parses argv. Returns nullopt and sets `exit_code` when the process should stop at once
// (--help, --version, usage error); messages go to `out` / `err`.
std::optional<CliOptions> parse_cli(int argc, char** argv, std::ostream& out, std::ostream& err,
                                    int& exit_code);

// Expands -f arguments: a directory stands for its *.cfg, *.yaml and *.yml files in
// lexical order (HAProxy does the same for *.cfg). Done again at every reload, so files
// added to or removed from a directory are seen.
std::vector<std::string> expand_config_paths(const std::vector<std::string>& paths);

// The whole program: parse, load, check or run. Returns the process exit code.
int run(int argc, char** argv);

}  // namespace postern::control
