// libFuzzer target for the YAML loader (config/src/yaml_loader.cpp): yaml-cpp throws on bad
// syntax and on bad conversions, and the loader must turn every such exception into a
// diagnostic. An exception escaping parse_yaml is reported by libFuzzer as a crash.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "postern/config/load.hpp"

namespace config = postern::config;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  config::Config cfg;
  config::Diagnostics diags;
  config::parse_yaml(text, "fuzz.yaml", cfg, diags);
  config::validate(cfg, diags);
  if (diags.items().size() > config::Diagnostics::kMaxRecorded) {
    std::abort();
  }
  if (!diags.has_errors()) {
    // What the writer dumps, the loader reads back without complaint.
    const std::string dumped = config::to_yaml(cfg);
    config::Config again;
    config::Diagnostics again_diags;
    config::parse_yaml(dumped, "dumped.yaml", again, again_diags);
    if (again_diags.has_errors()) {
      std::abort();
    }
  }
  return 0;
}
