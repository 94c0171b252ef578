#pragma once
// Durations as operators write them: "250ms", "5s", "2m", "1h", and "0" / "0s".
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace echod {

using Duration = std::chrono::milliseconds;

/// Parses "<non-negative integer><unit>" with unit ms|s|m|h (a bare "0" is also accepted).
/// Returns nullopt for anything else: no sign, no fractions, no whitespace, no overflow.
std::optional<Duration> parse_duration(std::string_view text);

/// Formats with the largest unit that divides the value exactly: 300000ms -> "5m".
std::string format_duration(Duration d);

}  // namespace echod
