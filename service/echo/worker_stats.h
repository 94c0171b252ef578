#pragma once
// Per-worker counters. Each worker thread is the only writer of its own WorkerStats; the
// admin thread reads them at scrape time. A single-writer relaxed atomic compiles to a plain
// load/add/store (no lock prefix), so counting costs the echo path no shared cache line.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fault_rules.h"

namespace echod {

/// A counter with one writer thread and any number of reader threads.
class LocalCounter {
 public:
  void add(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

enum class CloseReason : std::size_t {
  kClient,       // peer closed (FIN after its bytes were echoed) or reset
  kIdleTimeout,  // silent longer than idle-timeout
  kLifetime,     // open longer than max-connection-lifetime
  kByteLimit,    // echoed max-connection-bytes
  kError,        // socket error other than a reset
  kShutdown,     // still open when the drain deadline passed
  kFault,        // ended by a fault rule (close, reset)
  kCount
};
constexpr std::array<std::string_view, static_cast<std::size_t>(CloseReason::kCount)>
    kCloseReasonNames{"client", "idle_timeout", "lifetime", "byte_limit", "error", "shutdown",
                      "fault"};

enum class RejectReason : std::size_t {
  kMaxConnections,  // max-connections reached
  kAcceptError,     // accept() failed for a reason other than descriptor exhaustion
  kFdLimit,         // EMFILE/ENFILE: shed through the reserve descriptor
  kProxyHeader,     // no valid PROXY header (invalid, late, untrusted, or none at all)
  kCount
};
constexpr std::array<std::string_view, static_cast<std::size_t>(RejectReason::kCount)>
    kRejectReasonNames{"max_connections", "accept_error", "fd_limit", "proxy_header"};

/// What became of a PROXY protocol header (echod_proxy_protocol_headers_total{result}).
enum class ProxyHeaderResult : std::size_t {
  kV1,         // a v1 line with an address
  kV2,         // a v2 PROXY command with an address
  kLocal,      // v2 LOCAL, or no usable address (v1 UNKNOWN, v2 UNSPEC/UNIX): the peer stands
  kInvalid,    // bytes that are not a header of an accepted version: closed
  kTimeout,    // the whole header did not arrive within proxy-protocol-timeout: closed
  kUntrusted,  // from a source outside proxy-protocol-trusted: closed before reading
  kCount
};
constexpr std::array<std::string_view, static_cast<std::size_t>(ProxyHeaderResult::kCount)>
    kProxyHeaderResultNames{"v1", "v2", "local", "invalid", "timeout", "untrusted"};

inline constexpr std::array<double, 12> kConnectionDurationBounds{
    0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600};
// A handshake takes a round trip or two plus a signature: loopback ~1 ms, WAN tens of ms.
inline constexpr std::array<double, 10> kTlsHandshakeBounds{
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 10};

/// A histogram of seconds with fixed bounds, recorded by one worker (per closed connection,
/// per finished handshake: never per message).
template <const auto& Bounds>
class SecondsHistogram {
 public:
  static constexpr const auto& kBoundsSeconds = Bounds;

  void observe(std::chrono::microseconds d) {
    const double s = static_cast<double>(d.count()) / 1e6;
    std::size_t i = 0;
    while (i < kBoundsSeconds.size() && s > kBoundsSeconds[i]) ++i;
    buckets_[i].add();  // buckets_[size] is +Inf
    sum_us_.add(static_cast<std::uint64_t>(d.count()));
  }
  /// Non-cumulative count of bucket i; i == kBoundsSeconds.size() is the +Inf overflow.
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].get(); }
  double sum_seconds() const { return static_cast<double>(sum_us_.get()) / 1e6; }

 private:
  std::array<LocalCounter, kBoundsSeconds.size() + 1> buckets_{};
  LocalCounter sum_us_;
};
using DurationHistogram = SecondsHistogram<kConnectionDurationBounds>;
using TlsHandshakeHistogram = SecondsHistogram<kTlsHandshakeBounds>;

// The plain per-worker counters, each named once. One row per series:
//   X(member, metric family, label name, label value, help)
// A labelled family has one row per label value, adjacent, with its help on the first row.
// WorkerStats declares the members from this list and admin/metrics.cpp exports them from
// it; the reason-labelled families below (rejected, closed) come from their enums' names.
#define ECHOD_WORKER_COUNTERS(X)                                                              \
  X(accepted, "echod_connections_accepted_total", "", "", "TCP connections accepted.")         \
  X(tcp_received_bytes, "echod_received_bytes_total", "protocol", "tcp",                      \
    "Bytes received, by protocol.")                                                            \
  X(udp_received_bytes, "echod_received_bytes_total", "protocol", "udp", "")                  \
  X(tls_received_bytes, "echod_received_bytes_total", "protocol", "tls", "")                  \
  X(tcp_sent_bytes, "echod_sent_bytes_total", "protocol", "tcp",                              \
    "Bytes echoed back, by protocol.")                                                         \
  X(udp_sent_bytes, "echod_sent_bytes_total", "protocol", "udp", "")                          \
  X(tls_sent_bytes, "echod_sent_bytes_total", "protocol", "tls", "")                          \
  X(udp_datagrams, "echod_udp_datagrams_total", "", "", "UDP datagrams echoed.")               \
  X(udp_dropped_privileged, "echod_udp_dropped_total", "reason", "privileged_source_port",     \
    "UDP datagrams dropped without an answer, by reason (source ports below 1024 could be "    \
    "another echo service: answering would start a loop; delay_queue_full: a delay fault "     \
    "rule's held datagrams reached their memory bound).")                                     \
  X(udp_dropped_delay_full, "echod_udp_dropped_total", "reason", "delay_queue_full", "")       \
  X(backpressure_pauses, "echod_backpressure_pauses_total", "", "",                           \
    "Times a connection stopped reading because its peer did not read.")                      \
  X(tls_handshakes_success, "echod_tls_handshakes_total", "result", "success",                \
    "TLS handshakes on the TLS echo listener, by result (timeout: not done within "           \
    "tls-handshake-timeout).")                                                                 \
  X(tls_handshakes_failure, "echod_tls_handshakes_total", "result", "failure", "")            \
  X(tls_handshakes_timeout, "echod_tls_handshakes_total", "result", "timeout", "")

/// Everything one worker counts. Cache-line aligned so workers never share a line.
struct alignas(64) WorkerStats {
#define ECHOD_DECLARE_COUNTER(member, family, label, value, help) LocalCounter member;
  ECHOD_WORKER_COUNTERS(ECHOD_DECLARE_COUNTER)
#undef ECHOD_DECLARE_COUNTER
  std::array<LocalCounter, static_cast<std::size_t>(RejectReason::kCount)> rejected{};
  std::array<LocalCounter, static_cast<std::size_t>(CloseReason::kCount)> closed{};
  std::array<LocalCounter, static_cast<std::size_t>(FaultAction::kCount)> faults_injected{};
  std::array<LocalCounter, static_cast<std::size_t>(ProxyHeaderResult::kCount)> proxy_headers{};
  DurationHistogram connection_duration;
  TlsHandshakeHistogram tls_handshake_duration;
  /// steady_clock nanoseconds of the loop's last turn; /livez compares it with now.
  std::atomic<std::int64_t> heartbeat_ns{0};

  void count_close(CloseReason r) { closed[static_cast<std::size_t>(r)].add(); }
  void count_reject(RejectReason r) { rejected[static_cast<std::size_t>(r)].add(); }
  void count_fault(FaultAction a) { faults_injected[static_cast<std::size_t>(a)].add(); }
  void count_proxy_header(ProxyHeaderResult r) { proxy_headers[static_cast<std::size_t>(r)].add(); }
};

}  // namespace echod
