#pragma once
// A TCP connection slot of the monitor: fresh (connect, one message, verify, close per
// --interval) or persistent (held open, one message per --persistent-interval).
#include <cstddef>
#include <cstdint>

#include "prober.h"

namespace echo_probe::monitor {

/// One TCP slot on one address. Every echoed byte is checked against the payload the
/// probe engine uses (Payload(connection id, sequence)); errors get the engine's classes.
/// A persistent slot that loses an open connection records a break (graceful when the
/// peer's FIN came with no message outstanding), replaces the connection at once and
/// then with back-off, and measures the outage to the next verified echo. One message is
/// in flight at a time, so memory per slot is constant whatever the peer sends. The
/// connection runs over its target's StreamTransport (tls:// targets: a TLS handshake in
/// the loop after connect, timed into tls_handshake_ns; --proxy-protocol: the header
/// first); a handshake failure is an error of class `tls`, not a break. Loop thread only.
class TcpProber final : public Prober, public IoHandler, public TimerHandler {
 public:
  TcpProber(ProbeContext context, Mode mode);
  ~TcpProber() override;

  void start(Nanos now) override;
  void stop() override;
  void on_io(std::uint32_t events) override;
  void on_timer(Nanos now) override;
  bool retire() override;
  bool retired() const override { return retiring_ && state_ == State::kIdle; }

 private:
  enum class State { kIdle, kConnecting, kHandshaking, kOpen };

  void open(Nanos now);
  void on_connected(Nanos now);
  void drive_handshake(Nanos now);
  void on_open(Nanos now);
  void set_want_write(bool on);
  void send_message(Nanos now);
  void flush(Nanos now);
  void on_readable(Nanos now);
  bool read_once(Nanos now);  // false: stop reading (would block, closed, failed)
  void on_verified(Nanos now);
  void fail(ErrorClass c, Nanos now);
  void close_connection(bool graceful = false);
  void wait_for_next(Nanos now);
  bool outstanding() const { return in_flight_; }
  ModeSeries& stats() { return ctx_.series.mode(mode_); }

  ProbeContext ctx_;
  const Mode mode_;
  State state_ = State::kIdle;
  int fd_ = -1;
  StreamTransport transport_;
  bool want_write_ = false;
  bool write_wants_read_ = false;  // TLS: the write goes on after a read
  bool read_wants_write_ = false;  // TLS: the read goes on after a write
  std::uint64_t connection_id_ = 0;
  std::uint64_t seq_ = 0;       // the message in flight (or the next one)
  bool in_flight_ = false;      // message seq_ sent (maybe partly), echo not complete
  std::size_t tx_off_ = 0;      // bytes of message seq_ written
  std::size_t rx_off_ = 0;      // bytes of message seq_ verified
  Nanos send_time_ = 0;
  Nanos connect_start_ = 0;
  Nanos handshake_start_ = 0;
  Nanos opened_at_ = 0;         // when the current connection was established
  Nanos next_send_ = 0;         // persistent: when the next message is due
  Nanos next_fresh_ = 0;        // fresh: when the next probe is due
  std::uint64_t verified_on_connection_ = 0;
  int failures_ = 0;            // consecutive connects without a verified echo
  bool retiring_ = false;       // the address left DNS: no new connection
  // The outage in progress since a break, until the next verified echo.
  bool in_outage_ = false;
  Nanos outage_start_ = 0;
  int outage_record_ = -1;
};

}  // namespace echo_probe::monitor
