#include "tcp_prober.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "payload.h"
#include "socket_ops.h"

namespace echo_probe::monitor {

TcpProber::TcpProber(ProbeContext context, Mode mode) : ctx_(std::move(context)), mode_(mode) {}

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
  close_connection();
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
  state_ = State::kOpen;
  opened_at_ = now;
  if (want_write_) {
    want_write_ = false;
    ctx_.shared.loop.rewatch(fd_, EPOLLIN, this);
  }
  if (mode_ == Mode::kPersistent) ++ctx_.series.persistent_connections;
  send_message(now);
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
    const ssize_t n = ::send(fd_, buf, chunk, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!want_write_) {
          want_write_ = true;
          ctx_.shared.loop.rewatch(fd_, EPOLLIN | EPOLLOUT, this);
        }
        return;
      }
      fail(classify_errno(errno), now);
      return;
    }
    tx_off_ += static_cast<std::size_t>(n);
  }
  ++stats().messages;
  if (want_write_) {
    want_write_ = false;
    ctx_.shared.loop.rewatch(fd_, EPOLLIN, this);
  }
}

void TcpProber::on_readable(Nanos now) {
  char* buf = ctx_.shared.buffer.data();
  const ssize_t n = ::recv(fd_, buf, ProbeShared::kBufferSize, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    fail(classify_errno(errno), now);
    return;
  }
  if (n == 0) {
    // The peer's FIN: fail() calls it graceful when no message was outstanding.
    fail(ErrorClass::kClosed, now);
    return;
  }
  const auto len = static_cast<std::size_t>(n);
  // Bytes while nothing is outstanding, or more than was sent: nobody sent them.
  if (!in_flight_ || rx_off_ + len > tx_off_) {
    fail(ErrorClass::kMismatch, now);
    return;
  }
  const std::size_t good = Payload(connection_id_, seq_)
                               .first_mismatch(rx_off_, buf, len, ctx_.shared.scratch.data());
  if (good < len) {
    fail(ErrorClass::kMismatch, now);
    return;
  }
  rx_off_ += len;
  if (rx_off_ == ctx_.shared.options.size) on_verified(now);
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
    close_connection();
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
  const bool was_open = state_ == State::kOpen;
  const bool lost_something = outstanding();
  close_connection();
  state_ = State::kIdle;
  if (lost_something) ++stats().lost;
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

void TcpProber::close_connection() {
  if (fd_ >= 0) {
    ctx_.shared.loop.unwatch(fd_);
    ::close(fd_);
  }
  fd_ = -1;
  want_write_ = false;
  in_flight_ = false;
}

void TcpProber::on_io(std::uint32_t events) {
  const Nanos now = now_ns();
  if (state_ == State::kConnecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(now);
    return;
  }
  if (state_ != State::kOpen) return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) on_readable(now);
  if (state_ == State::kOpen && (events & EPOLLOUT) && in_flight_) flush(now);
}

void TcpProber::on_timer(Nanos now) {
  switch (state_) {
    case State::kIdle:
      open(now);
      break;
    case State::kConnecting:
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
