#pragma once
// Monotonic nanosecond timestamps: the one time base of the load engine (timerfd uses it too).
#include <time.h>

#include <cstdint>

namespace echo_probe {

using Nanos = std::int64_t;

constexpr Nanos kNanosPerMicro = 1'000;
constexpr Nanos kNanosPerMilli = 1'000'000;
constexpr Nanos kNanosPerSecond = 1'000'000'000;

/// CLOCK_MONOTONIC in nanoseconds (vDSO, no syscall).
inline Nanos now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Nanos>(ts.tv_sec) * kNanosPerSecond + ts.tv_nsec;
}

}  // namespace echo_probe
