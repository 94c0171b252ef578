#pragma once
// Duration strings as the whole project writes them: 250ms, 5s, 2m, 1h (also 500us, 1.5s).
#include <chrono>
#include <optional>
#include <string_view>

namespace echo_probe {

/// The duration `text` names, or nullopt when it is not a number followed by a unit
/// (us, ms, s, m, h). Negative values are rejected.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

}  // namespace echo_probe
