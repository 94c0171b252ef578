#pragma once
// The shape of one load run, shared read-only by every worker and session.
#include <cstddef>
#include <cstdint>
#include <limits>

#include "clock.h"

namespace echo_probe {

/// Message size, count, timing and mode of a run; built once by the engine, then only read
/// (by every worker thread) while the run lasts.
struct LoadPlan {
  std::size_t size = 64;                          // bytes per message
  std::uint64_t count = 1;                        // messages per connection; 0 = no limit
  Nanos start = 0;                                // run start (monotonic)
  Nanos end = std::numeric_limits<Nanos>::max();  // no new message at or after this
  double ns_per_msg = 0;                          // open loop: 1e9 / total rate; 0 = closed loop
  int connections = 1;                            // total across workers (open-loop phase spacing)
  Nanos timeout = 5 * kNanosPerSecond;
  bool new_connection = false;

  bool open_loop() const { return ns_per_msg > 0; }

  /// Open loop: when message `seq` of connection `conn` is due. Connections are phased
  /// evenly, so the total rate is smooth, and each runs at rate / connections.
  Nanos intended(Nanos base, std::uint64_t conn, std::uint64_t seq) const {
    const double slot =
        static_cast<double>(conn) + static_cast<double>(seq) * static_cast<double>(connections);
    return base + static_cast<Nanos>(slot * ns_per_msg);
  }
};

}  // namespace echo_probe
