#pragma once
// What a run measured: counters, error classes and latency histograms, mergeable.
#include <cstdint>
#include <string>

#include "error_class.h"
#include "histogram.h"

namespace echo_probe {

/// Results for one worker thread and one target address; workers own theirs and write
/// them without synchronisation; the engine merges them after the threads are joined.
struct Stats {
  std::uint64_t sent = 0;            // messages fully written
  std::uint64_t received = 0;        // messages fully echoed and verified
  std::uint64_t verified_bytes = 0;  // echoed bytes that matched what was sent
  ErrorCounts errors;
  Histogram rtt_ns;      // round trip per message
  Histogram connect_ns;  // TCP connect (handshake) time
  Histogram tls_handshake_ns;  // TLS handshake, from TCP connected to ready (tls only)
  std::string tls_error;       // why the first `tls` error happened; empty when none

  /// Keeps the first TLS failure's reason (a failing run repeats the same one).
  void note_tls_error(const std::string& why) {
    if (tls_error.empty()) tls_error = why;
  }
  void merge(const Stats& other);
};

}  // namespace echo_probe
