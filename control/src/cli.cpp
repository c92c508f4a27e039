// The postern command line: parses options as HAProxy users expect them, loads and checks
// the configuration before anything else starts (haproxy -c never touches a port either).
#include "postern/control/cli.hpp"

#include <algorithm>
#include <boost/program_options.hpp>
#include <filesystem>
#include <iostream>

#include "postern/config/load.hpp"
#include "postern/control/daemon.hpp"
#include "postern/control/dataplane_config.hpp"

namespace postern::control {
namespace {

namespace po = boost::program_options;

constexpr const char* kVersion = "0.1.0";

void expand_path(const std::string& path, std::vector<std::string>& files) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    files.push_back(path);
    return;
  }
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    const auto ext = entry.path().extension().string();
    if (entry.is_regular_file() && (ext == ".cfg" || ext == ".yaml" || ext == ".yml")) {
      found.push_back(entry.path().string());
    }
  }
  std::sort(found.begin(), found.end());
  files.insert(files.end(), found.begin(), found.end());
}

}  // namespace

std::vector<std::string> expand_config_paths(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    expand_path(p, files);
  }
  return files;
}

std::optional<CliOptions> parse_cli(int argc, char** argv, std::ostream& out, std::ostream& err,
                                    int& exit_code) {
  CliOptions opts;
  // Everything after `--` belongs to DPDK's EAL, untouched.
  int own_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      own_argc = i;
      opts.eal_args.assign(argv + i + 1, argv + argc);
      break;
    }
  }

  po::options_description desc(
      "Usage: postern -f FILE [-f FILE ...] [-c] [--dump-yaml] [-- EAL ARGS]");
  std::vector<std::string> paths;
  desc.add_options()("help,h", "print this help and exit")("version,v",
                                                           "print the version and exit")(
      "file,f", po::value<std::vector<std::string>>(&paths),
      "configuration file or directory (repeatable; .yaml/.yml are YAML, anything else haproxy.cfg "
      "syntax)")("check,c", po::bool_switch(&opts.check_only),
                 "check the configuration and exit (0 valid, 1 invalid)")(
      "quiet,q", po::bool_switch(&opts.quiet), "print nothing on success")(
      "dump-yaml", po::bool_switch(&opts.dump_yaml),
      "print the merged configuration as YAML and exit");

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(own_argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    err << "postern: " << e.what() << "\n" << desc << "\n";
    exit_code = 1;
    return std::nullopt;
  }
  if (vm.count("help") != 0U) {
    out << desc << "\n";
    exit_code = 0;
    return std::nullopt;
  }
  if (vm.count("version") != 0U) {
    out << "postern " << kVersion << "\n";
    exit_code = 0;
    return std::nullopt;
  }
  if (paths.empty()) {
    err << "postern: no configuration file given (use -f FILE)\n" << desc << "\n";
    exit_code = 1;
    return std::nullopt;
  }
  opts.paths = paths;
  opts.files = expand_config_paths(paths);
  return opts;
}

int run(int argc, char** argv) {
  int exit_code = 0;
  auto opts = parse_cli(argc, argv, std::cout, std::cerr, exit_code);
  if (!opts) {
    return exit_code;
  }

  config::Diagnostics diags;
  const config::Config cfg = config::load_files(opts->files, diags);
  // What the dataplane would refuse at start (IPv6 where it forwards IPv4 only, a server no
  // interface or route reaches) is a configuration error too, so -c reports it.
  if (!diags.has_errors() && cfg.dataplane) {
    const dataplane::Settings settings = build_settings(cfg, opts->eal_args, diags);
    if (!diags.has_errors()) {
      build_snapshot(cfg, settings, 0, diags);
    }
  }
  for (const auto& d : diags.items()) {
    std::cerr << config::format(d) << "\n";
  }
  if (diags.truncated()) {
    std::cerr << "postern: too many diagnostics, the rest were not printed\n";
  }
  if (diags.has_errors()) {
    std::cerr << "postern: fatal errors found in configuration (" << diags.errors() << " error"
              << (diags.errors() == 1 ? "" : "s") << ")\n";
    return 1;
  }
  if (opts->dump_yaml) {
    std::cout << config::to_yaml(cfg);
    return 0;
  }
  if (opts->check_only) {
    if (!opts->quiet) {
      std::cout << "Configuration file is valid\n";
    }
    return 0;
  }
  return run_daemon(cfg, opts->paths, opts->eal_args);
}

}  // namespace postern::control
