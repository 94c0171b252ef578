#pragma once
// The worker's clock: steady_clock in nanoseconds, and settings' durations in the same unit.
#include <chrono>
#include <cstdint>

#include "config.h"

namespace echod {

inline std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Saturates: config accepts durations up to Duration::max() (ms), and a plain cast to
/// nanoseconds overflows from about 292 years on (18446744073710ms wrapped to 0.45 ms).
inline std::int64_t to_ns(Duration d) {
  constexpr auto kMax = std::chrono::duration_cast<Duration>(std::chrono::nanoseconds::max());
  if (d >= kMax) return std::chrono::nanoseconds::max().count();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

}  // namespace echod
