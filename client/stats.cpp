#include "stats.h"

namespace echo_probe {

void Stats::merge(const Stats& other) {
  sent += other.sent;
  received += other.received;
  verified_bytes += other.verified_bytes;
  errors.merge(other.errors);
  rtt_ns.merge(other.rtt_ns);
  connect_ns.merge(other.connect_ns);
}

}  // namespace echo_probe
