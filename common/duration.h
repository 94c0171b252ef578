#pragma once
// Durations as operators write them, one grammar for echod and echo-probe:
//   <digits>[.<digits>]<unit>  with unit us|ms|s|m|h, or a bare "0".
// "250ms", "5s", "2m", "1h", "1.5s", "500us". No sign, no whitespace, no exponent.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace echod {

/// echod's resolution: settings are whole milliseconds.
using Duration = std::chrono::milliseconds;

/// `text` in milliseconds; nullopt when it breaks the grammar, overflows, or is not a whole
/// number of milliseconds ("500us", "1.0005s").
std::optional<Duration> parse_duration(std::string_view text);

/// `text` in nanoseconds (echo-probe's resolution); nullopt when it breaks the grammar,
/// overflows (about 292 years), or names a fraction of a nanosecond.
std::optional<std::chrono::nanoseconds> parse_duration_ns(std::string_view text);

/// Formats with the largest unit that divides the value exactly: 300000ms -> "5m".
std::string format_duration(Duration d);

}  // namespace echod
