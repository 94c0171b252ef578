#include "tcp_prober.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "payload.h"
#include "socket_ops.h"

namespace echo_probe::monitor {

TcpProber::TcpProber(ProbeContext context, Mode mode)
    : ctx_(std::move(context)), mode_(mode), transport_(ctx_.transport) {}

TcpProber::~TcpProber() { stop(); }

void TcpProber::start(Nanos now) {
  if (mode_ == Mode::kNew) {
    next_fresh_ = now;
    ctx_.shared.loop.schedule(this, now);
  } else {
    open(now);
  }
}

void TcpProber::stop() {
  ctx_.shared.loop.cancel(this);
  // Closing our own connection (the address left DNS, the monitor stops) is not a break.
  if (state_ == State::kOpen && mode_ == Mode::kPersistent) --ctx_.series.persistent_connections;
  close_connection(true);
  state_ = State::kIdle;
}

void TcpProber::open(Nanos now) {
  const Address& a = ctx_.address;
  fd_ = open_tcp_socket(a);
  if (fd_ < 0) {
    fail(classify_errno(errno), now);
    return;
  }
  connection_id_ = ctx_.shared.next_connection_id++;
  seq_ = 0;
  in_flight_ = false;
  tx_off_ = rx_off_ = 0;
  verified_on_connection_ = 0;
  connect_start_ = now;
  state_ = State::kConnecting;
  ctx_.shared.loop.schedule(this, now + ctx_.shared.options.timeout);  // connect deadline
  if (::connect(fd_, a.sa(), a.length) == 0) {
    ctx_.shared.loop.watch(fd_, EPOLLIN, this);
    on_connected(now_ns());
    return;
  }
  if (errno != EINPROGRESS) {
    fail(classify_errno(errno), now);
    return;
  }
  want_write_ = true;
  ctx_.shared.loop.watch(fd_, EPOLLOUT, this);
}

void TcpProber::on_connected(Nanos now) {
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    fail(classify_errno(err), now);
    return;
  }
  ctx_.series.connect_ns.record(static_cast<std::uint64_t>(std::max<Nanos>(0, now - connect_start_)));
  set_want_write(false);
  transport_.begin(fd_);
  if (transport_.has_handshake()) {
    state_ = State::kHandshaking;
    handshake_start_ = now;
    ctx_.shared.loop.schedule(this, now + ctx_.shared.options.timeout);  // handshake deadline
    drive_handshake(now);
    return;
  }
  on_open(now);
}

void TcpProber::drive_handshake(Nanos now) {
  const IoResult r = transport_.handshake();
  if (r.would_block()) {
    set_want_write(r.status == IoStatus::kWantWrite);
  } else if (r.status != IoStatus::kOk) {
    fail(r.error, now);  // a handshake failure is not a break: the connection never opened
  } else {
    if (transport_.tls()) {
      now = now_ns();
      ctx_.series.tls_handshake_ns.record(
          static_cast<std::uint64_t>(std::max<Nanos>(0, now - handshake_start_)));
    }
    on_open(now);
  }
}

void TcpProber::on_open(Nanos now) {
  state_ = State::kOpen;
  opened_at_ = now;
  set_want_write(false);
  if (mode_ == Mode::kPersistent) ++ctx_.series.persistent_connections;
  send_message(now);
}

void TcpProber::set_want_write(bool on) {
  if (on == want_write_ || fd_ < 0) return;
  want_write_ = on;
  ctx_.shared.loop.rewatch(fd_, on ? EPOLLIN | EPOLLOUT : EPOLLIN, this);
}

void TcpProber::send_message(Nanos now) {
  in_flight_ = true;
  tx_off_ = rx_off_ = 0;
  send_time_ = now;
  ctx_.shared.loop.schedule(this, now + ctx_.shared.options.timeout);  // echo deadline
  flush(now);
}

void TcpProber::flush(Nanos now) {
  const std::size_t size = ctx_.shared.options.size;
  char* buf = ctx_.shared.buffer.data();
  while (tx_off_ < size) {
    const std::size_t chunk = size - tx_off_;
    Payload(connection_id_, seq_).fill(tx_off_, buf, chunk);
    const IoResult r = transport_.write(buf, chunk);
    write_wants_read_ = r.status == IoStatus::kWantRead;
    if (r.status == IoStatus::kWantWrite) {
      set_want_write(true);
      return;
    }
    if (write_wants_read_) return;  // EPOLLIN is always watched
    if (r.status != IoStatus::kOk) {
      fail(r.error, now);
      return;
    }
    tx_off_ += r.bytes;
  }
  ++stats().messages;
  set_want_write(false);
}

void TcpProber::on_readable(Nanos now) {
  // Bytes TLS already decrypted are invisible to epoll: take them now.
  while (read_once(now) && state_ == State::kOpen && transport_.buffered()) {
  }
}

bool TcpProber::read_once(Nanos now) {
  char* buf = ctx_.shared.buffer.data();
  const IoResult r = transport_.read(buf, ProbeShared::kBufferSize);
  read_wants_write_ = r.status == IoStatus::kWantWrite;
  if (read_wants_write_) set_want_write(true);
  if (r.would_block()) return false;
  if (r.status != IoStatus::kOk) {
    // kEof is the peer's FIN (or close_notify), kClosed: fail() calls it graceful when no
    // message was outstanding.
    fail(r.error, now);
    return false;
  }
  const std::size_t len = r.bytes;
  // Bytes while nothing is outstanding, or more than was sent: nobody sent them.
  if (!in_flight_ || rx_off_ + len > tx_off_) {
    fail(ErrorClass::kMismatch, now);
    return false;
  }
  const std::size_t good = Payload(connection_id_, seq_)
                               .first_mismatch(rx_off_, buf, len, ctx_.shared.scratch.data());
  if (good < len) {
    fail(ErrorClass::kMismatch, now);
    return false;
  }
  rx_off_ += len;
  if (rx_off_ == ctx_.shared.options.size) on_verified(now);
  return true;
}

void TcpProber::on_verified(Nanos now) {
  in_flight_ = false;
  ModeSeries& s = stats();
  ++s.verified;
  s.rtt_ns.record(static_cast<std::uint64_t>(std::max<Nanos>(0, now - send_time_)));
  ctx_.series.last_success_unix = unix_now();
  ++verified_on_connection_;
  failures_ = 0;
  if (in_outage_) {
    const Nanos outage = now - outage_start_;
    ctx_.target.reconnect_ns.record(static_cast<std::uint64_t>(std::max<Nanos>(0, outage)));
    if (outage_record_ >= 0) {
      ctx_.target.breaks[outage_record_].outage_ms = static_cast<double>(outage) / 1e6;
    }
    in_outage_ = false;
    outage_record_ = -1;
  }
  ++seq_;
  if (mode_ == Mode::kNew) {
    close_connection(true);
    state_ = State::kIdle;
    wait_for_next(now);
    return;
  }
  // Keep a steady cadence from the first send; a late echo just shortens the wait.
  next_send_ = std::max(send_time_ + ctx_.shared.options.persistent_interval, now);
  ctx_.shared.loop.schedule(this, next_send_);
}

bool TcpProber::retire() {
  retiring_ = true;
  if (mode_ == Mode::kPersistent && state_ == State::kOpen) return true;
  stop();
  return false;
}

void TcpProber::wait_for_next(Nanos now) {
  if (retiring_) {
    ctx_.shared.loop.cancel(this);
    return;
  }
  if (mode_ == Mode::kNew) {
    // A fixed grid: one probe per --interval however long the last one took.
    const Nanos interval = ctx_.shared.options.interval;
    next_fresh_ += interval;
    if (next_fresh_ <= now) next_fresh_ = now + interval - (now - next_fresh_) % interval;
    ctx_.shared.loop.schedule(this, next_fresh_);
    return;
  }
  const Nanos delay = backoff_delay(failures_, ctx_.shared.options.interval);
  ++failures_;
  ctx_.shared.loop.schedule(this, now + delay);
}

void TcpProber::fail(ErrorClass c, Nanos now) {
  if (c == ErrorClass::kTls && transport_.error_text() != ctx_.series.last_tls_error) {
    ctx_.series.last_tls_error = transport_.error_text();
    log_json("warn", "TLS failure",
             "\"target\":\"" + ctx_.target.target + "\",\"address\":\"" +
                 ctx_.series.address + "\",\"error\":\"" + transport_.error_text() + "\"");
  }
  const bool counted_open = state_ == State::kOpen && mode_ == Mode::kPersistent;
  // TLS 1.3 reports a refused client certificate only after our side of the handshake
  // ended: a tls failure before the first verified echo is a failed handshake, not a break.
  const bool was_open =
      state_ == State::kOpen && !(c == ErrorClass::kTls && verified_on_connection_ == 0);
  const bool lost_something = outstanding();
  close_connection();
  state_ = State::kIdle;
  if (lost_something) ++stats().lost;
  if (counted_open && !was_open) --ctx_.series.persistent_connections;
  if (mode_ == Mode::kPersistent && was_open) {
    --ctx_.series.persistent_connections;
    const BreakClass cls = (c == ErrorClass::kClosed && !lost_something)
                               ? BreakClass::kGraceful
                               : break_class_of(c);
    if (cls != BreakClass::kGraceful) stats().errors.add(c);
    ++ctx_.series.breaks[static_cast<int>(cls)];
    BreakRecord record;
    record.time_unix = unix_now();
    record.address = ctx_.series.address;
    record.cls = cls;
    record.connection_age_s = static_cast<double>(now - opened_at_) / 1e9;
    log_json(cls == BreakClass::kGraceful ? "info" : "warn", "persistent connection broke",
             "\"target\":\"" + ctx_.target.target + "\",\"address\":\"" +
                 ctx_.series.address + "\",\"class\":\"" + break_class_name(cls) +
                 "\",\"connection_age_s\":" + std::to_string(record.connection_age_s));
    const int index = ctx_.target.add_break(std::move(record));
    if (!in_outage_) {  // an earlier unrecovered break keeps its outage running
      in_outage_ = true;
      outage_start_ = now;
      outage_record_ = index;
    }
    // Only a connection that verified an echo earns an immediate replacement.
    if (verified_on_connection_ > 0) failures_ = 0;
  } else {
    stats().errors.add(c);
  }
  wait_for_next(now);
}

void TcpProber::close_connection(bool graceful) {
  transport_.end(graceful);
  if (fd_ >= 0) {
    ctx_.shared.loop.unwatch(fd_);
    ::close(fd_);
  }
  fd_ = -1;
  want_write_ = write_wants_read_ = read_wants_write_ = false;
  in_flight_ = false;
}

void TcpProber::on_io(std::uint32_t events) {
  const Nanos now = now_ns();
  if (state_ == State::kConnecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(now);
    return;
  }
  if (state_ == State::kHandshaking) {
    drive_handshake(now);
    return;
  }
  if (state_ != State::kOpen) return;
  const bool readable = events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP);
  const bool writable = events & EPOLLOUT;
  if (readable || (writable && read_wants_write_)) on_readable(now);
  if (state_ == State::kOpen && in_flight_ && (writable || (readable && write_wants_read_))) {
    flush(now);
  }
}

void TcpProber::on_timer(Nanos now) {
  switch (state_) {
    case State::kIdle:
      open(now);
      break;
    case State::kConnecting:
    case State::kHandshaking:
      fail(ErrorClass::kTimeout, now);
      break;
    case State::kOpen:
      if (in_flight_) {
        fail(ErrorClass::kTimeout, now);
      } else {
        send_message(now);
      }
      break;
  }
}

}  // namespace echo_probe::monitor
