#pragma once
// One TCP echo connection (or, with --new-connection, a slot that reconnects per message).
#include <cstddef>
#include <cstdint>

#include "load_plan.h"
#include "session.h"
#include "stats.h"
#include "stream_transport.h"
#include "target.h"

namespace echo_probe {

class Worker;

/// Sends the messages of connection `id` (payload from id + sequence number), verifies
/// every echoed byte as it arrives, records round-trip, connect and TLS handshake latency
/// into `stats` and classifies failures. Bytes go through a StreamTransport: plain, a
/// PROXY header first, or TLS (non-blocking handshake in this worker's loop); only the
/// plaintext echo is verified. Closed loop: one message in flight. Open loop: messages go out
/// at their intended times whatever is in flight (pipelined on one connection), and
/// latency counts from the intended time. A persistent connection stops at its first
/// error; a --new-connection slot counts the error and goes on with the next message.
/// Per message there is no allocation: the payload is regenerated into the worker's
/// buffers. Owned and driven by one Worker thread.
class TcpSession final : public Session {
 public:
  TcpSession(Worker& worker, const Address& address, const TransportConfig& transport,
             Stats& stats, std::uint64_t id);
  ~TcpSession() override;

  void start(Nanos now) override;
  void on_io(std::uint32_t events, Nanos now) override;
  void on_due(Nanos now) override;
  void on_tick(Nanos now) override;

 private:
  enum class State { kIdle, kConnecting, kHandshaking, kOpen, kDone };

  void begin_message(Nanos now);  // --new-connection: next message on a fresh connection
  void open_connection(Nanos now);
  void on_connected(Nanos now);
  void drive_handshake(Nanos now);
  void on_open(Nanos now);
  void pump_send(Nanos now);
  void on_readable(Nanos now);
  bool read_once(Nanos now);  // false: stop reading (would block, closed, failed)
  void after_progress(Nanos now);
  bool more_to_send(Nanos now) const;
  bool may_start_next(Nanos now);
  bool in_flight() const { return recv_seq_ < next_seq_ || tx_off_ > 0; }
  Nanos message_start(std::uint64_t seq) const;
  void set_want_write(bool on);
  void fail(ErrorClass c, Nanos now);
  void close_fd(bool graceful = false);
  void finish();

  Worker& worker_;
  const LoadPlan& plan_;
  const Address& address_;
  Stats& stats_;
  const std::uint64_t id_;
  State state_ = State::kIdle;
  int fd_ = -1;
  StreamTransport transport_;
  bool want_write_ = false;
  bool write_wants_read_ = false;  // TLS: a write can only go on after a read
  bool read_wants_write_ = false;  // TLS: a read can only go on after a write

  std::uint64_t next_seq_ = 0;  // messages fully written
  std::uint64_t recv_seq_ = 0;  // messages fully echoed and verified
  std::size_t tx_off_ = 0;      // bytes of message next_seq_ written
  std::size_t rx_off_ = 0;      // bytes of message recv_seq_ verified
  std::uint64_t tx_bytes_ = 0;  // on this connection, to catch bytes nobody sent
  std::uint64_t rx_bytes_ = 0;
  Nanos send_time_ = 0;  // closed loop: when message recv_seq_ started going out
  Nanos connect_start_ = 0;
  Nanos handshake_start_ = 0;
  Nanos base_ = 0;  // open loop: schedule origin
};

}  // namespace echo_probe
