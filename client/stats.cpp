#include "stats.h"

namespace echo_probe {

void Stats::merge(const Stats& other) {
  sent += other.sent;
  received += other.received;
  verified_bytes += other.verified_bytes;
  errors.merge(other.errors);
  rtt_ns.merge(other.rtt_ns);
  connect_ns.merge(other.connect_ns);
  tls_handshake_ns.merge(other.tls_handshake_ns);
  note_tls_error(other.tls_error);
}

}  // namespace echo_probe
