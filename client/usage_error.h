#pragma once
// Usage errors of echo-probe's command lines (every mode): one line naming the argument.
#include <algorithm>
#include <stdexcept>
#include <string>

namespace echo_probe {

/// A bad argument: "ARG: why". Caught by the parser and printed as one line, exit 2.
struct UsageError : std::runtime_error {
  UsageError(const std::string& arg, const std::string& why)
      : std::runtime_error(arg + ": " + why) {}
};

/// `text` with newlines turned into spaces and trailing spaces cut (CLI11 messages can
/// span lines; the contract is one line).
inline std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace echo_probe
