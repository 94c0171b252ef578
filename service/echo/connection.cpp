#include "connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "socket_ops.h"

namespace echod {
namespace {

// Full buffers (64 KiB each) one connection may read per loop turn before yielding to the
// others. Low values cost bulk streams an extra epoll_wait per few reads.
constexpr int kReadsPerTurn = 16;

}  // namespace

bool is_peer_gone(int err) { return err == ECONNRESET || err == EPIPE || err == ETIMEDOUT; }

Connection::Connection(ConnectionContext& ctx, int fd)
    : ctx_(ctx), fd_(fd), opened_ns_(ctx.now_ns), last_active_ns_(ctx.now_ns) {}

Connection::~Connection() {
  if (fd_ >= 0) net::close_raw(fd_);
}

// Fault injection costs this path nothing: a faulted connection is registered as its
// FaultWatcher, so its events never come here (a test of fault_ here, or a call into a
// helper, each cost 2-3 instructions per message in `make bench-callgrind`).
void Connection::on_events(std::uint32_t events) {
  if (events & EPOLLERR) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    close(is_peer_gone(err) || err == 0 ? CloseReason::kClient : CloseReason::kError);
    return;
  }
  if (pending_len_ > 0 && (events & EPOLLOUT)) {
    // Blocked: wait for the next EPOLLOUT edge. Closed: `this` is gone.
    if (flush() == FlushResult::kDrained) after_drained();
    return;
  }
  if (pending_len_ == 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) {
    read_and_echo((events & (EPOLLRDHUP | EPOLLHUP)) != 0);
  }
}

std::uint64_t Connection::read_allowance() const {
  std::uint64_t want = std::min<std::uint64_t>(ctx_.read_buffer_size,
                                               ctx_.settings->max_pending_bytes);
  if (const std::uint64_t cap = ctx_.settings->max_connection_bytes; cap > 0) {
    want = bytes_read_ >= cap ? 0 : std::min(want, cap - bytes_read_);
  }
  return want;
}

void Connection::read_and_echo(bool hangup) {
  WorkerStats& stats = *ctx_.stats;
  for (int reads = 0;; ++reads) {
    const std::uint64_t want = read_allowance();
    if (want == 0) {  // max-connection-bytes echoed (and nothing pending)
      close(CloseReason::kByteLimit);
      return;
    }
    if (reads == kReadsPerTurn) {
      ctx_.defer(*this);
      return;
    }
    const ssize_t n = net::recv_raw(fd_, ctx_.read_buffer, want, 0);
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      bytes_read_ += got;
      last_active_ns_ = ctx_.now_ns;
      stats.tcp_received_bytes.add(got);
      const ssize_t w = net::send_raw(fd_, ctx_.read_buffer, got, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w == n) {
        stats.tcp_sent_bytes.add(got);
      } else if (w >= 0 || errno == EAGAIN) {
        // The peer is not reading fast enough: keep the tail, stop reading until it drains.
        const std::size_t sent = w > 0 ? static_cast<std::size_t>(w) : 0;
        stats.tcp_sent_bytes.add(sent);
        stash(ctx_.read_buffer + sent, got - sent);
        stats.backpressure_pauses.add();
        return;
      } else {
        close(is_peer_gone(errno) ? CloseReason::kClient : CloseReason::kError);
        return;
      }
      // A short read drained the socket: under edge triggering new data raises a new edge,
      // so there is no need to spend a recv() on EAGAIN - unless the FIN is already queued.
      if (got < want && !hangup) return;
      continue;
    }
    if (n == 0) {
      close(CloseReason::kClient);  // nothing pending here: everything read was echoed
      return;
    }
    if (errno == EAGAIN || errno == EINTR) return;
    close(is_peer_gone(errno) ? CloseReason::kClient : CloseReason::kError);
    return;
  }
}

void Connection::stash(const char* data, std::size_t len) {
  pending_.reset(new char[len]);
  std::memcpy(pending_.get(), data, len);
  pending_off_ = 0;
  pending_len_ = static_cast<std::uint32_t>(len);
}

Connection::FlushResult Connection::flush() {
  while (pending_len_ > 0) {
    const ssize_t w = net::send_raw(fd_, pending_.get() + pending_off_, pending_len_,
                                    MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      ctx_.stats->tcp_sent_bytes.add(static_cast<std::uint64_t>(w));
      pending_off_ += static_cast<std::uint32_t>(w);
      pending_len_ -= static_cast<std::uint32_t>(w);
      last_active_ns_ = ctx_.now_ns;
      continue;
    }
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) return FlushResult::kBlocked;
    close(w < 0 && !is_peer_gone(errno) ? CloseReason::kError : CloseReason::kClient);
    return FlushResult::kClosed;
  }
  pending_.reset();  // an idle connection holds no user-space buffer
  pending_off_ = 0;
  return FlushResult::kDrained;
}

void Connection::after_drained() {
  // Edges that arrived while paused were consumed without reading: read now. A FIN among
  // them shows up as recv() == 0, so the read must go on to EAGAIN (hangup = true).
  read_and_echo(true);
}

void Connection::close(CloseReason reason) {
  if (reason == CloseReason::kByteLimit || reason == CloseReason::kLifetime) {
    // Closing with unread input makes the kernel answer with RST, which can destroy echoed
    // bytes still on their way to the peer. When echod ends a connection by its own limit,
    // queue the FIN behind the echoed bytes and drop input past the limit first.
    ::shutdown(fd_, SHUT_WR);
    for (int i = 0; i < kReadsPerTurn; ++i) {
      if (net::recv_raw(fd_, ctx_.read_buffer, ctx_.read_buffer_size, 0) <= 0) break;
    }
  }
  WorkerStats& stats = *ctx_.stats;
  stats.count_close(reason);
  stats.connection_duration.observe(
      std::chrono::microseconds((ctx_.now_ns - opened_ns_) / 1000));
  net::close_raw(fd_);
  fd_ = -1;
  ctx_.release(*this, reason);  // destroys this
}

void Connection::flush_and_close(CloseReason reason) {
  if (fault_) [[unlikely]] {
    fault_->release_all();  // what a delay or bandwidth rule holds goes out now
    if (!fault_pump()) return;
  }
  if (pending_len_ > 0 && flush() == FlushResult::kClosed) return;
  close(reason);
}

}  // namespace echod
