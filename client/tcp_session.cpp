#include "tcp_session.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "payload.h"
#include "socket_ops.h"
#include "worker.h"

namespace echo_probe {

TcpSession::TcpSession(Worker& worker, const Address& address, const TransportConfig& transport,
                       Stats& stats, std::uint64_t id)
    : worker_(worker),
      plan_(worker.plan()),
      address_(address),
      stats_(stats),
      id_(id),
      transport_(transport) {}

TcpSession::~TcpSession() { close_fd(); }

void TcpSession::start(Nanos now) {
  base_ = plan_.start;
  if (plan_.new_connection) {
    begin_message(now);
  } else {
    open_connection(now);
  }
}

bool TcpSession::more_to_send(Nanos now) const {
  if (plan_.count != 0 && next_seq_ >= plan_.count) return false;
  const Nanos intended = plan_.open_loop() ? plan_.intended(base_, id_, next_seq_) : 0;
  return worker_.may_start(now, intended);
}

Nanos TcpSession::message_start(std::uint64_t seq) const {
  return plan_.open_loop() ? plan_.intended(base_, id_, seq) : send_time_;
}

void TcpSession::begin_message(Nanos now) {
  if (!more_to_send(now)) {
    finish();
    return;
  }
  if (plan_.open_loop()) {
    const Nanos at = plan_.intended(base_, id_, next_seq_);
    if (at > now) {
      worker_.schedule(this, at);
      return;
    }
  }
  open_connection(now);
}

void TcpSession::open_connection(Nanos now) {
  fd_ = open_tcp_socket(address_);
  if (fd_ < 0) {
    fail(classify_errno(errno), now);
    return;
  }
  connect_start_ = now_ns();
  tx_bytes_ = rx_bytes_ = 0;
  if (::connect(fd_, address_.sa(), address_.length) == 0) {
    worker_.watch(fd_, EPOLLIN, this);
    state_ = State::kConnecting;
    on_connected(now_ns());
    return;
  }
  if (errno != EINPROGRESS) {
    fail(classify_errno(errno), now);
    return;
  }
  state_ = State::kConnecting;
  worker_.watch(fd_, EPOLLOUT, this);
}

void TcpSession::on_connected(Nanos now) {
  // An event left over from this slot's previous socket must not pass for a connect.
  pollfd p{fd_, POLLOUT, 0};
  if (::poll(&p, 1, 0) <= 0) return;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    fail(classify_errno(err), now);
    return;
  }
  stats_.connect_ns.record(static_cast<std::uint64_t>(std::max<Nanos>(0, now - connect_start_)));
  want_write_ = true;  // force the first rewatch to drop EPOLLOUT (watched for the connect)
  set_want_write(false);
  transport_.begin(fd_);
  if (transport_.has_handshake()) {
    state_ = State::kHandshaking;
    handshake_start_ = now;
    drive_handshake(now);
    return;
  }
  on_open(now);
}

void TcpSession::drive_handshake(Nanos now) {
  const IoResult r = transport_.handshake();
  if (r.would_block()) {
    set_want_write(r.status == IoStatus::kWantWrite);
  } else if (r.status != IoStatus::kOk) {
    fail(r.error, now);
  } else {
    if (transport_.tls()) {
      now = now_ns();
      stats_.tls_handshake_ns.record(
          static_cast<std::uint64_t>(std::max<Nanos>(0, now - handshake_start_)));
    }
    on_open(now);
  }
}

void TcpSession::on_open(Nanos now) {
  state_ = State::kOpen;
  if (plan_.open_loop() && !plan_.new_connection) base_ = now;
  set_want_write(false);
  pump_send(now);
  if (state_ == State::kOpen) after_progress(now);
}

bool TcpSession::may_start_next(Nanos now) {
  // --new-connection: exactly one message per connection (begin_message checked the rest).
  if (plan_.new_connection) return next_seq_ == recv_seq_;
  if (!more_to_send(now)) return false;
  if (!plan_.open_loop()) return recv_seq_ == next_seq_;
  const Nanos at = plan_.intended(base_, id_, next_seq_);
  if (at <= now) return true;
  worker_.schedule(this, at);
  return false;
}

void TcpSession::pump_send(Nanos now) {
  char* buf = worker_.io_buffer();
  for (;;) {
    if (tx_off_ == 0) {
      if (!may_start_next(now)) break;
      if (!plan_.open_loop()) send_time_ = now_ns();
    }
    const std::size_t chunk = std::min(plan_.size - tx_off_, Worker::kBufferSize);
    Payload(id_, next_seq_).fill(tx_off_, buf, chunk);
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
    tx_bytes_ += r.bytes;
    if (tx_off_ == plan_.size) {
      tx_off_ = 0;
      ++next_seq_;
      ++stats_.sent;
    }
  }
  set_want_write(false);
}

void TcpSession::on_readable(Nanos now) {
  // One read per event (fairness between sessions), but bytes TLS already decrypted are
  // invisible to epoll: take them now.
  while (read_once(now) && state_ == State::kOpen && transport_.buffered()) {
  }
}

bool TcpSession::read_once(Nanos now) {
  char* buf = worker_.io_buffer();
  const IoResult r = transport_.read(buf, Worker::kBufferSize);
  read_wants_write_ = r.status == IoStatus::kWantWrite;
  if (read_wants_write_) set_want_write(true);
  if (r.would_block()) return false;
  if (r.status == IoStatus::kFailed) {
    fail(r.error, now);
    return false;
  }
  if (r.status == IoStatus::kEof) {
    if (in_flight() || (!plan_.new_connection && more_to_send(now))) {
      fail(ErrorClass::kClosed, now);
    } else {
      after_progress(now);
    }
    return false;
  }
  const std::size_t len = r.bytes;
  if (rx_bytes_ + len > tx_bytes_) {  // the peer sent bytes we never sent
    fail(ErrorClass::kMismatch, now);
    return false;
  }
  rx_bytes_ += len;
  std::size_t pos = 0;
  while (pos < len) {
    const std::size_t take = std::min(len - pos, plan_.size - rx_off_);
    const std::size_t good =
        Payload(id_, recv_seq_).first_mismatch(rx_off_, buf + pos, take, worker_.scratch());
    stats_.verified_bytes += good;
    if (good < take) {
      fail(ErrorClass::kMismatch, now);
      return false;
    }
    pos += take;
    rx_off_ += take;
    if (rx_off_ == plan_.size) {
      stats_.rtt_ns.record(
          static_cast<std::uint64_t>(std::max<Nanos>(0, now - message_start(recv_seq_))));
      ++stats_.received;
      ++recv_seq_;
      rx_off_ = 0;
    }
  }
  after_progress(now);
  return true;
}

void TcpSession::after_progress(Nanos now) {
  if (plan_.new_connection) {
    if (state_ == State::kOpen && tx_bytes_ > 0 && !in_flight()) {
      close_fd(true);
      state_ = State::kIdle;
      begin_message(now);
    }
    return;
  }
  pump_send(now);
  if (state_ == State::kOpen && !in_flight() && !more_to_send(now)) {
    close_fd(true);
    finish();
  }
}

void TcpSession::on_io(std::uint32_t events, Nanos now) {
  if (state_ == State::kConnecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(now);
    return;
  }
  if (state_ == State::kHandshaking) {
    drive_handshake(now);
    return;
  }
  if (state_ != State::kOpen) return;
  const bool readable = events & (EPOLLIN | EPOLLERR | EPOLLHUP);
  const bool writable = events & EPOLLOUT;
  if (readable || (writable && read_wants_write_)) on_readable(now);
  if (state_ == State::kOpen && (writable || (readable && write_wants_read_))) pump_send(now);
}

void TcpSession::on_due(Nanos now) {
  if (state_ == State::kIdle && plan_.new_connection) {
    begin_message(now);
  } else if (state_ == State::kOpen) {
    after_progress(now);
  }
}

void TcpSession::on_tick(Nanos now) {
  switch (state_) {
    case State::kConnecting:
      if (now - connect_start_ >= plan_.timeout) fail(ErrorClass::kTimeout, now);
      break;
    case State::kHandshaking:
      if (now - handshake_start_ >= plan_.timeout) fail(ErrorClass::kTimeout, now);
      break;
    case State::kOpen:
      if (in_flight()) {
        if (now - message_start(recv_seq_) >= plan_.timeout) fail(ErrorClass::kTimeout, now);
      } else if (!plan_.new_connection && !more_to_send(now)) {
        close_fd(true);
        finish();
      }
      break;
    case State::kIdle:
      if (!more_to_send(now)) finish();
      break;
    case State::kDone:
      break;
  }
}

void TcpSession::set_want_write(bool on) {
  if (on == want_write_ || fd_ < 0) return;
  want_write_ = on;
  worker_.rewatch(fd_, on ? EPOLLIN | EPOLLOUT : EPOLLIN, this);
}

void TcpSession::fail(ErrorClass c, Nanos now) {
  stats_.errors.add(c);
  if (c == ErrorClass::kTls) stats_.note_tls_error(transport_.error_text());
  close_fd();
  if (!plan_.new_connection) {
    finish();
    return;
  }
  // The failed message is lost; the slot goes on with the next one, after this batch of
  // events (a refused connect can fail synchronously: no recursion).
  next_seq_ = recv_seq_ + 1;
  recv_seq_ = next_seq_;
  tx_off_ = rx_off_ = 0;
  state_ = State::kIdle;
  worker_.schedule(this, now);
}

void TcpSession::close_fd(bool graceful) {
  transport_.end(graceful);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  want_write_ = write_wants_read_ = read_wants_write_ = false;
}

void TcpSession::finish() {
  if (state_ == State::kDone) return;
  state_ = State::kDone;
  worker_.session_finished();
}

}  // namespace echo_probe
