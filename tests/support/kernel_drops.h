#pragma once
// What the kernel dropped or retransmitted while a test ran, so a probe that failed because
// the machine lost its SYN is reported as that, and not taken for (or hidden as) echod's fault.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace echod::test {

/// Counters of the test's network namespace (shared with every other program in it):
/// /proc/net/netstat TcpExt and /proc/net/stat/nf_conntrack, summed over CPUs.
struct KernelDrops {
  std::uint64_t listen_overflows = 0;  // a listener's accept queue was full: SYN or ACK dropped
  std::uint64_t listen_drops = 0;      // every drop at a listener (overflows included)
  std::uint64_t req_queue_drops = 0;   // SYN queue full and no SYN cookies: SYN dropped
  std::uint64_t syn_retransmits = 0;   // SYNs and SYN-ACKs sent again (one was lost or dropped)
  std::uint64_t conntrack_drops = 0;   // conntrack table full or insert failed: packet dropped

  static KernelDrops now();
  KernelDrops operator-(const KernelDrops& before) const;
  /// True when a drop counter moved (SYN retransmits alone are only a symptom).
  bool dropped() const { return listen_drops + req_queue_drops + conntrack_drops > 0; }
  /// "ListenOverflows +3 ListenDrops +3 ... " for failure messages.
  std::string describe() const;
};

/// One listener (127.0.0.1/[::]:port) as the kernel sees it, from construction on: the
/// packets it dropped (its own sk_drops, `ss -m` d: a full accept queue, counted exactly,
/// unlike the namespace-wide TcpExt counters), its backlog, and the deepest accept queue a
/// sampler thread saw (every 2 ms; an overflow can be shorter).
class ListenerWatch {
 public:
  explicit ListenerWatch(std::uint16_t port);
  ~ListenerWatch();
  ListenerWatch(const ListenerWatch&) = delete;
  ListenerWatch& operator=(const ListenerWatch&) = delete;
  /// SYNs and handshake ACKs the kernel dropped at this listener since construction; -1 if
  /// unknown (no ss).
  long long drops() const;
  /// The listener's backlog (ss Send-Q); -1 if unknown.
  int backlog() const { return backlog_; }
  /// Deepest accept queue seen so far.
  int deepest() const { return deepest_.load(); }
  /// "admin listener: 3 drops, accept queue peaked at 99 (backlog 128)".
  std::string describe() const;

 private:
  std::uint16_t port_;
  int backlog_ = -1;
  long long drops_at_start_ = -1;
  std::atomic<int> deepest_{0};
  std::atomic<bool> stop_{false};
  std::thread sampler_;
};

/// How starved of CPU the machine was from construction on: the share of wall time some
/// runnable task waited for a CPU (/proc/pressure/cpu "some"), with the load average. Tells a
/// latency bound missed on an oversubscribed machine from a slow echod.
class CpuPressure {
 public:
  CpuPressure();
  /// Percent of the time since construction; -1 without PSI.
  double percent() const;
  /// "machine CPU pressure 97.6% (some task waiting for a CPU), load average 23.30".
  std::string describe() const;

 private:
  long long start_us_ = -1;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace echod::test
