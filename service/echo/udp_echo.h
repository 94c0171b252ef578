#pragma once
#include <sys/socket.h>

#include <array>
#include <functional>
#include <memory>
#include <vector>

#include "config.h"
#include "event_loop.h"
#include "fault.h"
#include "udp_held.h"
#include "worker_stats.h"

namespace echod {

/// UDP echo on one worker's SO_REUSEPORT socket: each datagram goes back to its sender,
/// except those from source ports below 1024, which are dropped and counted. Those are the
/// ports of other UDP services (echo, chargen, DNS...): answering them lets a spoofed
/// datagram start an endless echo loop or reflect traffic at a victim.
/// Fault rules act per datagram: drop, corrupt (in place), and delay, whose datagrams this
/// object holds (UdpHeld) until the worker's timer, asked for through `arm_timer`, brings
/// it back in on_timer(). Owns its socket and the held datagrams; lives on one worker thread.
class UdpEcho final : public Watcher {
 public:
  static constexpr std::size_t kBatch = 8;
  static constexpr std::size_t kMaxDatagram = 65536;
  /// Delayed datagrams a worker holds: at most this many times max-pending-bytes (what one
  /// TCP connection may hold), counting UdpHeld::kOverheadBytes each: 4 MiB by default.
  static constexpr std::uint64_t kHeldPerPendingByte = 64;

  /// `settings` (the worker's copy) and `rng` are read for fault rules per datagram.
  /// `arm_timer(when_ns)` asks the worker to call on_timer() at `when_ns` or later.
  UdpEcho(int fd, WorkerStats& stats, const RuntimeSettings& settings, FaultRng& rng,
          std::function<void(std::int64_t)> arm_timer);
  ~UdpEcho();
  UdpEcho(const UdpEcho&) = delete;
  UdpEcho& operator=(const UdpEcho&) = delete;

  int fd() const { return fd_; }
  void on_events(std::uint32_t events) override;
  /// A timer asked for by `arm_timer` is due: answers every held datagram due at `now_ns`.
  void on_timer(std::int64_t now_ns);
  /// The socket is about to close (drain): every held datagram is answered now, undelayed,
  /// so a delay rule never makes echod lose what a client sent.
  void answer_all_held();

 private:
  // The datagram in slot `i` met rule `r`: true when it is not answered in this batch
  // (dropped, or held by a delay), false when it is (corrupt changed it in place).
  bool take_faulted(const FaultRule& r, std::size_t i);
  void hold(const FaultRule& r, std::size_t i);
  std::int64_t release_ns(const FaultRule& r);
  void arm_held_timer();
  void answer(const UdpHeld::Datagram& d);

  // One per delay rule, by its place in the list: jitter never reorders a rule's datagrams.
  // Started afresh when the rule in that place has other durations (the rules changed).
  struct DelayClock {
    Duration delay{};
    Duration jitter{};
    std::unique_ptr<Fault> order;  // a DelayFault; null until the rule's first datagram
  };

  int fd_;
  WorkerStats& stats_;
  const RuntimeSettings& settings_;
  FaultRng& rng_;
  std::function<void(std::int64_t)> arm_timer_;
  std::unique_ptr<char[]> buffers_;  // kBatch datagrams of kMaxDatagram bytes
  std::array<mmsghdr, kBatch> in_{};
  std::array<mmsghdr, kBatch> out_{};
  std::array<iovec, kBatch> iov_{};
  std::array<iovec, kBatch> out_iov_{};
  std::array<sockaddr_storage, kBatch> peers_{};
  UdpHeld held_;
  std::int64_t timer_ns_ = kNever;  // the earliest timer asked for and not yet fired
  std::vector<DelayClock> clocks_;
};

}  // namespace echod
