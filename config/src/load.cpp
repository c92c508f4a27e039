// The config module's front door: reads every -f file in order, picks the reader by extension,
// merges into one model and validates it, as `haproxy -c -f a -f b` checks several files at once.
#include "postern/config/load.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "haproxy_reader.hpp"

namespace postern::config {
namespace {

bool is_yaml(const std::filesystem::path& path) {
  const std::string extension = path.extension().string();
  return extension == ".yaml" || extension == ".yml";
}

// HAProxy reads a directory given to -f as its *.cfg files in lexical order; Postern also takes
// its YAML files from there.
std::vector<std::string> expand(const std::string& name, Diagnostics& diags) {
  std::error_code ec;
  if (!std::filesystem::is_directory(name, ec)) {
    return {name};
  }
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(name, ec)) {
    const std::filesystem::path& path = entry.path();
    if (entry.is_regular_file(ec) && (path.extension() == ".cfg" || is_yaml(path))) {
      files.push_back(path.string());
    }
  }
  if (ec) {
    diags.error(name, 0, 0, "cannot read directory: " + ec.message());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::optional<std::string> read_file(const std::string& name, Diagnostics& diags) {
  std::ifstream in(name, std::ios::binary);
  if (!in) {
    diags.error(name, 0, 0, std::string("cannot open file: ") + std::strerror(errno));
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    diags.error(name, 0, 0, std::string("cannot read file: ") + std::strerror(errno));
    return std::nullopt;
  }
  return text.str();
}

}  // namespace

Config load_files(const std::vector<std::string>& files, Diagnostics& diags) {
  Config config;
  // One haproxy reader for all files: the last defaults section and the backends carry over
  // from one file to the next, as they do in HAProxy.
  HaproxyReader haproxy(config, diags);
  for (const std::string& given : files) {
    for (const std::string& file : expand(given, diags)) {
      const auto text = read_file(file, diags);
      if (!text) {
        continue;
      }
      if (is_yaml(file)) {
        parse_yaml(*text, file, config, diags);
      } else {
        haproxy.read(*text, file);
      }
    }
  }
  haproxy.finish();
  validate(config, diags);
  return config;
}

}  // namespace postern::config
