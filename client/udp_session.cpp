#include "udp_session.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "payload.h"
#include "socket_ops.h"
#include "worker.h"

namespace echo_probe {

UdpSession::UdpSession(Worker& worker, const Address& address, Stats& stats, std::uint64_t id)
    : worker_(worker), plan_(worker.plan()), address_(address), stats_(stats), id_(id) {}

UdpSession::~UdpSession() {
  if (fd_ >= 0) ::close(fd_);
}

void UdpSession::start(Nanos now) {
  base_ = plan_.start;
  fd_ = open_connected_udp_socket(address_);
  if (fd_ < 0) {
    stats_.errors.add(classify_errno(errno));
    finish();
    return;
  }
  worker_.watch(fd_, EPOLLIN, this);
  send_next(now);
}

Nanos UdpSession::message_start() const {
  return plan_.open_loop() ? plan_.intended(base_, id_, seq_) : send_time_;
}

void UdpSession::send_next(Nanos now) {
  if (awaiting_ || done_) return;
  const Nanos intended = plan_.open_loop() ? plan_.intended(base_, id_, seq_) : 0;
  if (!worker_.may_start(now, intended) || (plan_.count != 0 && seq_ >= plan_.count)) {
    finish();
    return;
  }
  if (plan_.open_loop()) {
    const Nanos at = plan_.intended(base_, id_, seq_);
    if (at > now) {
      worker_.schedule(this, at);
      return;
    }
  }
  char* buf = worker_.io_buffer();
  Payload(id_, seq_).fill(0, buf, plan_.size);
  send_time_ = now_ns();
  const ssize_t n = ::send(fd_, buf, plan_.size, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      worker_.schedule(this, now + kNanosPerMilli);
      return;
    }
    message_failed(classify_errno(errno), now);
    return;
  }
  ++stats_.sent;
  awaiting_ = true;
}

bool UdpSession::matches(std::uint64_t seq, const char* data, std::size_t len) {
  return len == plan_.size &&
         Payload(id_, seq).first_mismatch(0, data, len, worker_.scratch()) == len;
}

void UdpSession::on_datagram(const char* data, std::size_t len, Nanos now) {
  if (awaiting_ && matches(seq_, data, len)) {
    stats_.verified_bytes += len;
    stats_.rtt_ns.record(static_cast<std::uint64_t>(std::max<Nanos>(0, now - message_start())));
    ++stats_.received;
    awaiting_ = false;
    ++seq_;
    send_next(now);
    return;
  }
  // A late echo of a datagram that already timed out is not a mismatch.
  const std::uint64_t first = seq_ > kLateWindow ? seq_ - kLateWindow : 0;
  for (std::uint64_t s = first; s < seq_; ++s) {
    if (matches(s, data, len)) return;
  }
  if (awaiting_) message_failed(ErrorClass::kMismatch, now);
  // Bytes arriving with nothing in flight are stray: count them as a mismatch too.
  else
    stats_.errors.add(ErrorClass::kMismatch);
}

void UdpSession::on_io(std::uint32_t events, Nanos now) {
  if (done_ || !(events & (EPOLLIN | EPOLLERR))) return;
  char* buf = worker_.io_buffer();
  for (int i = 0; i < 8 && !done_; ++i) {
    // After the first datagram the next one may answer a message sent a moment ago.
    if (i > 0) now = now_ns();
    const ssize_t n = ::recv(fd_, buf, Worker::kBufferSize, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      // ICMP port unreachable (ECONNREFUSED) and friends: the datagram in flight failed.
      if (awaiting_) message_failed(classify_errno(errno), now);
      continue;
    }
    on_datagram(buf, static_cast<std::size_t>(n), now);
  }
}

void UdpSession::on_due(Nanos now) { send_next(now); }

void UdpSession::on_tick(Nanos now) {
  if (done_) return;
  if (awaiting_ && now - message_start() >= plan_.timeout) {
    message_failed(ErrorClass::kTimeout, now);
  } else if (!awaiting_ && !worker_.may_start(now, plan_.intended(base_, id_, seq_))) {
    finish();
  }
}

void UdpSession::message_failed(ErrorClass c, Nanos now) {
  stats_.errors.add(c);
  awaiting_ = false;
  ++seq_;
  // Go on after the current batch of events: a synchronous failure must not recurse.
  worker_.schedule(this, now);
}

void UdpSession::finish() {
  if (done_) return;
  done_ = true;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  worker_.session_finished();
}

}  // namespace echo_probe
