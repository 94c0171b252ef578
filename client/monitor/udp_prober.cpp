#include "udp_prober.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "payload.h"
#include "socket_ops.h"

namespace echo_probe::monitor {

UdpProber::UdpProber(ProbeContext context, Mode mode) : ctx_(std::move(context)), mode_(mode) {}

UdpProber::~UdpProber() { stop(); }

Nanos UdpProber::period() const {
  return mode_ == Mode::kNew ? ctx_.shared.options.interval
                             : ctx_.shared.options.persistent_interval;
}

void UdpProber::start(Nanos now) {
  next_send_ = now;
  ctx_.shared.loop.schedule(this, now);
}

void UdpProber::stop() {
  ctx_.shared.loop.cancel(this);
  close_socket();
}

bool UdpProber::open_socket(Nanos now) {
  const Address& a = ctx_.address;
  fd_ = open_connected_udp_socket(a);  // never talks to itself
  if (fd_ < 0) {
    const int err = errno;
    ctx_.series.mode(mode_).errors.add(classify_errno(err));
    finish_message(now);
    return false;
  }
  if (mode_ == Mode::kPersistent) ++ctx_.series.persistent_connections;
  socket_id_ = ctx_.shared.next_connection_id++;
  seq_ = 0;
  ctx_.shared.loop.watch(fd_, EPOLLIN, this);
  return true;
}

void UdpProber::close_socket() {
  if (fd_ >= 0) {
    if (mode_ == Mode::kPersistent) --ctx_.series.persistent_connections;
    ctx_.shared.loop.unwatch(fd_);
    ::close(fd_);
  }
  fd_ = -1;
  awaiting_ = false;
}

void UdpProber::send_datagram(Nanos now) {
  if (fd_ < 0 && !open_socket(now)) return;
  const std::size_t size = ctx_.shared.options.size;
  char* buf = ctx_.shared.buffer.data();
  Payload(socket_id_, seq_).fill(0, buf, size);
  send_time_ = now;
  if (::send(fd_, buf, size, 0) != static_cast<ssize_t>(size)) {
    fail(classify_errno(errno), now);
    return;
  }
  ++ctx_.series.mode(mode_).messages;
  awaiting_ = true;
}

void UdpProber::on_readable(Nanos now) {
  char* buf = ctx_.shared.buffer.data();
  char* scratch = ctx_.shared.scratch.data();
  const std::size_t size = ctx_.shared.options.size;
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, ProbeShared::kBufferSize, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      if (awaiting_) fail(classify_errno(errno), now);  // ICMP port unreachable: refused
      return;
    }
    const auto len = static_cast<std::size_t>(n);
    const bool right_size = len == size;
    if (awaiting_ && right_size && Payload(socket_id_, seq_).first_mismatch(0, buf, len, scratch) == len) {
      ModeSeries& s = ctx_.series.mode(mode_);
      ++s.verified;
      s.rtt_ns.record(static_cast<std::uint64_t>(std::max<Nanos>(0, now - send_time_)));
      ctx_.series.last_success_unix = unix_now();
      finish_message(now);
      return;
    }
    // The late echo of the previous datagram (it was counted as a timeout): ignore it.
    if (seq_ > 0 && right_size &&
        Payload(socket_id_, seq_ - 1).first_mismatch(0, buf, len, scratch) == len) {
      continue;
    }
    if (awaiting_) {
      fail(ErrorClass::kMismatch, now);
      return;
    }
  }
}

void UdpProber::finish_message(Nanos now) {
  awaiting_ = false;
  ++seq_;
  if (mode_ == Mode::kNew) close_socket();
  next_send_ += period();
  if (next_send_ <= now) next_send_ = now + period() - (now - next_send_) % period();
  ctx_.shared.loop.schedule(this, next_send_);
}

void UdpProber::fail(ErrorClass c, Nanos now) {
  ctx_.series.mode(mode_).errors.add(c);
  if (awaiting_) ++ctx_.series.mode(mode_).lost;
  finish_message(now);
}

void UdpProber::on_io(std::uint32_t events) {
  if (fd_ >= 0 && (events & (EPOLLIN | EPOLLERR))) on_readable(now_ns());
}

void UdpProber::on_timer(Nanos now) {
  if (awaiting_) {
    fail(ErrorClass::kTimeout, now);
    return;
  }
  send_datagram(now);  // a failure already counted and scheduled the next one
  if (awaiting_) ctx_.shared.loop.schedule(this, now + ctx_.shared.options.timeout);
}

}  // namespace echo_probe::monitor
