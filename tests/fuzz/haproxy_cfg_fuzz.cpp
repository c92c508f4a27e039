// libFuzzer target for the haproxy.cfg reader (config/src/haproxy_parser.cpp) and validation:
// whatever the text, parsing ends with a model and diagnostics, never a crash or an exception,
// and the diagnostics stay within their cap.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "postern/config/load.hpp"

namespace config = postern::config;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  config::Config cfg;
  config::Diagnostics diags;
  config::parse_haproxy(text, "fuzz.cfg", cfg, diags);
  config::validate(cfg, diags);
  if (diags.items().size() > config::Diagnostics::kMaxRecorded) {
    std::abort();
  }
  if (!diags.has_errors()) {
    // A model accepted from haproxy syntax can be dumped as YAML (`postern -d`).
    (void)config::to_yaml(cfg);
  }
  return 0;
}
