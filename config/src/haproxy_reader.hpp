// Reads haproxy.cfg-syntax files into the model. A reader outlives one file because HAProxy's
// state does: the last `defaults` applies to proxies in later -f files, and a frontend may name
// a backend declared in another file. Internal to the config module.
#pragma once

#include <memory>
#include <string>

#include "postern/config/diagnostic.hpp"
#include "postern/config/model.hpp"

namespace postern::config {

class HaproxyReader {
 public:
  HaproxyReader(Config& into, Diagnostics& diags);
  ~HaproxyReader();
  HaproxyReader(const HaproxyReader&) = delete;
  HaproxyReader& operator=(const HaproxyReader&) = delete;

  // Parses one file; a section ends with its file, as in HAProxy.
  void read(const std::string& text, const std::string& file_name);

  // Joins every frontend with its default_backend and reports unused backends. Call once,
  // after the last file.
  void finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace postern::config
