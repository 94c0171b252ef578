#pragma once
#include <sys/socket.h>

#include <array>
#include <memory>

#include "config.h"
#include "event_loop.h"
#include "fault.h"
#include "worker_stats.h"

namespace echod {

/// UDP echo on one worker's SO_REUSEPORT socket: each datagram goes back to its sender,
/// except those from source ports below 1024, which are dropped and counted. Those are the
/// ports of other UDP services (echo, chargen, DNS...): answering them lets a spoofed
/// datagram start an endless echo loop or reflect traffic at a victim.
/// Owns its socket; lives on one worker thread.
class UdpEcho final : public Watcher {
 public:
  static constexpr std::size_t kBatch = 8;
  static constexpr std::size_t kMaxDatagram = 65536;

  /// `settings` (the worker's copy) and `rng` are read for fault rules (drop) per datagram.
  UdpEcho(int fd, WorkerStats& stats, const RuntimeSettings& settings, FaultRng& rng);
  ~UdpEcho();
  UdpEcho(const UdpEcho&) = delete;
  UdpEcho& operator=(const UdpEcho&) = delete;

  int fd() const { return fd_; }
  void on_events(std::uint32_t events) override;

 private:
  int fd_;
  WorkerStats& stats_;
  const RuntimeSettings& settings_;
  FaultRng& rng_;
  std::unique_ptr<char[]> buffers_;  // kBatch datagrams of kMaxDatagram bytes
  std::array<mmsghdr, kBatch> in_{};
  std::array<mmsghdr, kBatch> out_{};
  std::array<iovec, kBatch> iov_{};
  std::array<iovec, kBatch> out_iov_{};
  std::array<sockaddr_storage, kBatch> peers_{};
};

}  // namespace echod
