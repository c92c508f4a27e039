// Formatting and collection of diagnostics; every parser and the validator report through here.
#include "postern/config/diagnostic.hpp"

#include <utility>

namespace postern::config {

std::string format(const Diagnostic& d) {
  // A diagnostic about no file in particular (a section missing from all of them) is the
  // program's own.
  std::string text = d.file.empty() ? "postern" : d.file;
  if (d.line > 0) {
    text += ':';
    text += std::to_string(d.line);
    if (d.column > 0) {
      text += ':';
      text += std::to_string(d.column);
    }
  }
  text += d.severity == Severity::kError ? ": error: " : ": warning: ";
  text += d.message;
  if (!d.hint.empty()) {
    text += " (" + d.hint + ")";
  }
  return text;
}

void Diagnostics::add(Diagnostic d) {
  // Counts stay exact past the cap so has_errors() never lies; only the text is dropped.
  if (d.severity == Severity::kError) {
    ++errors_;
  } else {
    ++warnings_;
  }
  if (items_.size() >= kMaxRecorded) {
    truncated_ = true;
    return;
  }
  items_.push_back(std::move(d));
}

void Diagnostics::error(std::string file, int line, int column, std::string message,
                        std::string hint) {
  add(Diagnostic{Severity::kError, std::move(file), line, column, std::move(message),
                 std::move(hint)});
}

void Diagnostics::warning(std::string file, int line, int column, std::string message,
                          std::string hint) {
  add(Diagnostic{Severity::kWarning, std::move(file), line, column, std::move(message),
                 std::move(hint)});
}

}  // namespace postern::config
