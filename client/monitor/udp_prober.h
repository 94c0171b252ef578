#pragma once
// A UDP socket of the monitor: one datagram per --interval on a fresh socket, or a held
// socket sending one per --persistent-interval.
#include <cstdint>

#include "prober.h"

namespace echo_probe::monitor {

/// Sends datagram `seq` (payload as in `echo-probe udp`), waits up to --timeout for its
/// echo and verifies it. A lost datagram is a timeout, a wrong one a mismatch, ICMP
/// port-unreachable is refused. A late echo of the previous datagram is ignored. UDP has
/// no connection to break: a held socket counts errors and goes on. Loop thread only.
class UdpProber final : public Prober, public IoHandler, public TimerHandler {
 public:
  UdpProber(ProbeContext context, Mode mode);
  ~UdpProber() override;

  void start(Nanos now) override;
  void stop() override;
  void on_io(std::uint32_t events) override;
  void on_timer(Nanos now) override;
  // UDP holds no connection that could end in a break: retiring is stopping.
  bool retire() override {
    stop();
    return false;
  }
  bool retired() const override { return true; }

 private:
  bool open_socket(Nanos now);
  void close_socket();
  void send_datagram(Nanos now);
  void on_readable(Nanos now);
  void finish_message(Nanos now);
  void fail(ErrorClass c, Nanos now);
  Nanos period() const;

  ProbeContext ctx_;
  const Mode mode_;
  int fd_ = -1;
  std::uint64_t socket_id_ = 0;
  std::uint64_t seq_ = 0;
  bool awaiting_ = false;
  Nanos send_time_ = 0;
  Nanos next_send_ = 0;
};

}  // namespace echo_probe::monitor
