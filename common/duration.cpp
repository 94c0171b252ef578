#include "duration.h"

#include <cstdint>
#include <limits>

namespace echod {
namespace {

// Nanoseconds per unit. A duration is parsed exactly, in 128-bit integers, then divided by
// the caller's tick; a remainder means the text names a fraction of that tick.
constexpr std::int64_t kNsPerUs = 1'000;
constexpr std::int64_t kNsPerMs = 1'000'000;
constexpr std::int64_t kNsPerS = 1'000'000'000;

std::optional<__int128> unit_ns(std::string_view unit) {
  if (unit == "us") return kNsPerUs;
  if (unit == "ms") return kNsPerMs;
  if (unit == "s") return kNsPerS;
  if (unit == "m") return 60 * static_cast<__int128>(kNsPerS);
  if (unit == "h") return 3600 * static_cast<__int128>(kNsPerS);
  return std::nullopt;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// The duration in ticks of `tick_ns` nanoseconds, if `text` is one and it fits an int64.
std::optional<std::int64_t> parse_in_ticks(std::string_view text, std::int64_t tick_ns) {
  if (text == "0") return 0;
  // Whole part: at most 20 digits keeps every product below 2^127.
  std::size_t i = 0;
  __int128 whole = 0;
  while (i < text.size() && is_digit(text[i])) {
    if (i >= 20) return std::nullopt;
    whole = whole * 10 + (text[i] - '0');
    ++i;
  }
  if (i == 0) return std::nullopt;
  __int128 fraction = 0;
  __int128 fraction_scale = 1;
  if (i < text.size() && text[i] == '.') {
    ++i;
    const std::size_t start = i;
    while (i < text.size() && is_digit(text[i])) {
      if (i - start >= 18) return std::nullopt;
      fraction = fraction * 10 + (text[i] - '0');
      fraction_scale *= 10;
      ++i;
    }
    if (i == start) return std::nullopt;  // "1.s"
  }
  const auto scale = unit_ns(text.substr(i));
  if (!scale) return std::nullopt;
  const __int128 fraction_ns_scaled = fraction * *scale;
  if (fraction_ns_scaled % fraction_scale != 0) return std::nullopt;  // below a nanosecond
  const __int128 ns = whole * *scale + fraction_ns_scaled / fraction_scale;
  if (ns % tick_ns != 0) return std::nullopt;
  const __int128 ticks = ns / tick_ns;
  if (ticks > std::numeric_limits<std::int64_t>::max()) return std::nullopt;
  return static_cast<std::int64_t>(ticks);
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  const auto ms = parse_in_ticks(text, kNsPerMs);
  if (!ms) return std::nullopt;
  return Duration{*ms};
}

std::optional<std::chrono::nanoseconds> parse_duration_ns(std::string_view text) {
  const auto ns = parse_in_ticks(text, 1);
  if (!ns) return std::nullopt;
  return std::chrono::nanoseconds{*ns};
}

std::string format_duration(Duration d) {
  const auto ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace echod
