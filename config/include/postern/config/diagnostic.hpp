// One diagnostic type for every parser and the validator: severity, FILE:LINE[:COLUMN], message,
// hint.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace postern::config {

enum class Severity : std::uint8_t { kWarning, kError };

struct Diagnostic {
  Severity severity = Severity::kError;
  std::string file;
  int line = 0;    // 0: the file as a whole
  int column = 0;  // 0: unknown
  std::string message;
  std::string hint;  // e.g. "did you mean 'roundrobin'?"
};

// "FILE:LINE:COL: error: message (hint)", the shape HAProxy's -c users grep for.
std::string format(const Diagnostic& d);

// Collects diagnostics; stops recording after a cap, as HAProxy gives up after too many errors.
class Diagnostics {
 public:
  static constexpr std::size_t kMaxRecorded = 100;
  void add(Diagnostic d);
  void error(std::string file, int line, int column, std::string message, std::string hint = {});
  void warning(std::string file, int line, int column, std::string message, std::string hint = {});
  bool has_errors() const { return errors_ > 0; }
  std::size_t errors() const { return errors_; }
  std::size_t warnings() const { return warnings_; }
  const std::vector<Diagnostic>& items() const { return items_; }
  bool truncated() const { return truncated_; }

 private:
  std::vector<Diagnostic> items_;
  std::size_t errors_ = 0;
  std::size_t warnings_ = 0;
  bool truncated_ = false;
};

}  // namespace postern::config
