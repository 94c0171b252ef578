#pragma once
// One UDP socket sending verified echo datagrams, one in flight at a time.
#include <cstdint>

#include "load_plan.h"
#include "session.h"
#include "stats.h"
#include "target.h"

namespace echo_probe {

class Worker;

/// A connected UDP socket: sends datagram `seq` (payload from id + seq, --size bytes),
/// waits for its echo up to --timeout, verifies it and goes on with the next one. A lost
/// datagram is a timeout, a wrong one a mismatch, ICMP port-unreachable is refused; the
/// socket keeps going after each. A late echo of an earlier datagram is recognised and
/// ignored. Open loop sends at the intended times (never more than one in flight) and
/// measures from them. Owned and driven by one Worker thread.
class UdpSession final : public Session {
 public:
  UdpSession(Worker& worker, const Address& address, Stats& stats, std::uint64_t id);
  ~UdpSession() override;

  void start(Nanos now) override;
  void on_io(std::uint32_t events, Nanos now) override;
  void on_due(Nanos now) override;
  void on_tick(Nanos now) override;

 private:
  static constexpr std::uint64_t kLateWindow = 16;  // earlier datagrams a late echo may be

  void send_next(Nanos now);
  void on_datagram(const char* data, std::size_t len, Nanos now);
  void message_failed(ErrorClass c, Nanos now);
  bool matches(std::uint64_t seq, const char* data, std::size_t len);
  Nanos message_start() const;
  void finish();

  Worker& worker_;
  const LoadPlan& plan_;
  const Address& address_;
  Stats& stats_;
  const std::uint64_t id_;
  int fd_ = -1;
  bool done_ = false;
  bool awaiting_ = false;  // datagram seq_ is out, its echo not yet in
  std::uint64_t seq_ = 0;  // the current datagram
  Nanos send_time_ = 0;
  Nanos base_ = 0;
};

}  // namespace echo_probe
