#include "tls_connection.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "socket_ops.h"

namespace echod {
namespace {

// The plain path's share per turn in bytes: 16 reads of its 64 KiB buffer, 1 MiB. SSL_read
// hands out one record (at most 16 KiB) per call, so the same share is 64 reads; yielding
// every 16 records made a bulk stream switch connections four times as often as plain does
// (tls_bulk: 0.85x the reference at 16 records per turn, 0.91x at 64; docs/performance.md).
constexpr int kRecordsPerTurn = 64;
// Reads of whatever is left when a connection closes (the plain path's count).
constexpr int kDrainReads = 16;
constexpr unsigned char kHandshakeRecord = 0x16;
constexpr std::size_t kRecordHeader = 5;
// A TLS record holds at most 2^14 bytes of plaintext; OpenSSL allows some expansion.
constexpr std::size_t kMaxHelloRecord = 16384 + 2048;

}  // namespace

// OpenSSL's error queue is per thread, shared by every TLS connection on this worker, and
// SSL_get_error() is only right when the queue was empty before the call it explains. The
// queue is kept empty instead of emptied before each call: it is cleared before the calls
// that can leave errors behind on success (SSL_new, SSL_accept, SSL_shutdown), after a
// finished handshake, and after every failure (fail()). SSL_read_ex/SSL_write_ex calls that
// succeed or want I/O queue nothing, so the echo path makes no ERR_clear_error() call per
// record: it cost ~1,170 of ~40,000 instructions per 4 KiB message (bench.py cost-tls).

bool is_peer_gone(int err);  // connection.cpp

TlsConnection::TlsConnection(ConnectionContext& ctx, TlsConnectionOwner& owner, int fd)
    : ctx_(ctx), owner_(owner), fd_(fd), opened_ns_(ctx.now_ns), last_active_ns_(ctx.now_ns) {}

TlsConnection::TlsConnection(ConnectionContext& ctx, TlsConnectionOwner& owner, int fd,
                             std::unique_ptr<FaultedIo> fault)
    : TlsConnection(ctx, owner, fd) {
  fault_ = std::move(fault);
}

TlsConnection::~TlsConnection() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (fd_ >= 0) ::close(fd_);
}

void TlsConnection::on_events(std::uint32_t events) {
  if (fault_ && fault_->stalled) [[unlikely]] return;  // a dead peer, until a timeout
  if (events & EPOLLERR) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (state_ == State::kHandshake) ctx_.stats->tls_handshakes_failure.add();
    close_socket(is_peer_gone(err) || err == 0 ? CloseReason::kClient : CloseReason::kError);
    return;
  }
  step(events);
}

void TlsConnection::step(std::uint32_t events) {
  switch (state_) {
    case State::kAwaitHello:
      switch (await_hello()) {
        case Hello::kClosed:
          return;
        case Hello::kIncomplete:
          // The peer ended its half before a whole ClientHello: no handshake can follow.
          if (events & (EPOLLRDHUP | EPOLLHUP)) {
            ctx_.stats->tls_handshakes_failure.add();
            close_socket(CloseReason::kClient);
          }
          return;
        case Hello::kReady:
          break;
      }
      [[fallthrough]];
    case State::kHandshake:
      if (!handshake()) return;
      [[fallthrough]];
    case State::kEcho:
    case State::kClosing:
      echo();
  }
}

// Peeks, never reads: the ClientHello stays in the kernel until all of its record is there,
// then OpenSSL reads it in one go. Until then this connection owns no SSL and no buffer.
TlsConnection::Hello TlsConnection::await_hello() {
  unsigned char header[kRecordHeader];
  const ssize_t n = net::recv_raw(fd_, header, sizeof header, MSG_PEEK);
  if (n == 0) {
    // Connected and closed without a byte (a TCP health check): no handshake was tried.
    close_socket(CloseReason::kClient);
    return Hello::kClosed;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return Hello::kIncomplete;
    close_socket(is_peer_gone(errno) ? CloseReason::kClient : CloseReason::kError);
    return Hello::kClosed;
  }
  if (header[0] != kHandshakeRecord) {  // plain text on the TLS port, or garbage
    ctx_.stats->tls_handshakes_failure.add();
    close_socket(CloseReason::kError);
    return Hello::kClosed;
  }
  if (static_cast<std::size_t>(n) < kRecordHeader) return Hello::kIncomplete;
  const std::size_t record = (std::size_t{header[3]} << 8) | header[4];
  if (record == 0 || record > kMaxHelloRecord) {
    ctx_.stats->tls_handshakes_failure.add();
    close_socket(CloseReason::kError);
    return Hello::kClosed;
  }
  int queued = 0;
  if (::ioctl(fd_, FIONREAD, &queued) != 0 ||
      static_cast<std::size_t>(queued) < kRecordHeader + record) {
    return Hello::kIncomplete;  // the rest raises a new edge
  }
  ssl_ = SSL_new(owner_.tls_context());
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) {
    ERR_clear_error();
    ctx_.stats->tls_handshakes_failure.add();
    close_socket(CloseReason::kError);
    return Hello::kClosed;
  }
  // A FIN without close_notify ends the stream like close_notify does: an echo client that
  // half-closes still gets every byte back (SPEC "close_notify (or FIN)").
  SSL_set_options(ssl_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  state_ = State::kHandshake;
  return Hello::kReady;
}

bool TlsConnection::handshake() {
  ERR_clear_error();
  const int r = SSL_accept(ssl_);
  if (r == 1) {
    ERR_clear_error();  // the echo path's calls rely on an empty queue (see the top)
    state_ = State::kEcho;
    last_active_ns_ = ctx_.now_ns;
    ctx_.stats->tls_handshakes_success.add();
    ctx_.stats->tls_handshake_duration.observe(
        std::chrono::microseconds((ctx_.now_ns - opened_ns_) / 1000));
    return true;
  }
  const int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return false;
  fail(err);
  return false;
}

std::uint64_t TlsConnection::read_allowance() const {
  std::uint64_t want =
      std::min<std::uint64_t>(ctx_.read_buffer_size, ctx_.settings->max_pending_bytes);
  if (const std::uint64_t cap = ctx_.settings->max_connection_bytes; cap > 0) {
    want = bytes_read_ >= cap ? 0 : std::min(want, cap - bytes_read_);
  }
  return want;
}

// Reads plaintext and writes it straight back. SSL_read is called until it wants more
// input: records OpenSSL already holds (SSL_pending) raise no new epoll edge.
void TlsConnection::echo() {
  // The only cost of fault injection on the TLS echo: a pointer that is null, once a step.
  if (fault_) [[unlikely]] {
    fault_echo();
    return;
  }
  WorkerStats& stats = *ctx_.stats;
  for (int reads = 0;; ++reads) {
    if (pending_len_ > 0 && flush() != FlushResult::kDrained) return;  // blocked or closed
    if (state_ == State::kClosing) {
      shutdown_and_close(closing_reason_, true);
      return;
    }
    const std::uint64_t want = read_allowance();
    if (want == 0) {  // max-connection-bytes echoed (and nothing pending)
      finish(CloseReason::kByteLimit);
      return;
    }
    if (reads == kRecordsPerTurn) {
      owner_.defer_tls(*this);
      return;
    }
    std::size_t got = 0;
    const int r = SSL_read_ex(ssl_, ctx_.read_buffer, want, &got);
    if (r == 1) {
      bytes_read_ += got;
      last_active_ns_ = ctx_.now_ns;
      stats.tls_received_bytes.add(got);
      std::size_t off = 0;
      while (off < got) {
        std::size_t wrote = 0;
        const int w = SSL_write_ex(ssl_, ctx_.read_buffer + off, got - off, &wrote);
        if (w == 1) {
          off += wrote;
          stats.tls_sent_bytes.add(wrote);
          continue;
        }
        const int err = SSL_get_error(ssl_, w);
        if (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ) {
          fail(err);
          return;
        }
        // The peer is not reading: keep the unsent plaintext (SSL_write is retried with the
        // same bytes from the pending buffer, which ACCEPT_MOVING_WRITE_BUFFER allows) and
        // stop reading until it drains.
        stash(ctx_.read_buffer + off, got - off);
        stats.backpressure_pauses.add();
        return;
      }
      continue;
    }
    const int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
    if (err == SSL_ERROR_ZERO_RETURN) {  // close_notify or FIN: everything read was echoed
      finish(CloseReason::kClient);
      return;
    }
    fail(err);
    return;
  }
}

void TlsConnection::stash(const char* data, std::size_t len) {
  pending_.reset(new char[len]);
  std::memcpy(pending_.get(), data, len);
  pending_off_ = 0;
  pending_len_ = static_cast<std::uint32_t>(len);
}

TlsConnection::FlushResult TlsConnection::flush() {
  while (pending_len_ > 0) {
    std::size_t wrote = 0;
    const int w = SSL_write_ex(ssl_, pending_.get() + pending_off_, pending_len_, &wrote);
    if (w == 1) {
      ctx_.stats->tls_sent_bytes.add(wrote);
      pending_off_ += static_cast<std::uint32_t>(wrote);
      pending_len_ -= static_cast<std::uint32_t>(wrote);
      last_active_ns_ = ctx_.now_ns;
      continue;
    }
    const int err = SSL_get_error(ssl_, w);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) return FlushResult::kBlocked;
    fail(err);
    return FlushResult::kClosed;
  }
  pending_.reset();  // an idle connection holds no user-space buffer
  pending_off_ = 0;
  return FlushResult::kDrained;
}

void TlsConnection::finish(CloseReason reason) {
  state_ = State::kClosing;
  closing_reason_ = reason;
  if (pending_len_ > 0 && flush() != FlushResult::kDrained) return;  // EPOLLOUT resumes
  shutdown_and_close(reason, true);
}

void TlsConnection::fail(int ssl_error) {
  if (state_ == State::kHandshake) ctx_.stats->tls_handshakes_failure.add();
  const bool gone = ssl_error == SSL_ERROR_SYSCALL && is_peer_gone(errno);
  ERR_clear_error();
  close_socket(gone ? CloseReason::kClient : CloseReason::kError);
}

void TlsConnection::shutdown_and_close(CloseReason reason, bool may_wait) {
  if (ssl_ != nullptr && (state_ == State::kEcho || state_ == State::kClosing)) {
    ERR_clear_error();
    const int r = SSL_shutdown(ssl_);  // queues our close_notify behind the echoed bytes
    if (r < 0 && may_wait && SSL_get_error(ssl_, r) == SSL_ERROR_WANT_WRITE) {
      return;  // the send buffer is full: EPOLLOUT runs step() -> echo() -> here again
    }
    ERR_clear_error();
    // Closing with unread input makes the kernel answer with RST, which can destroy the
    // echo and close_notify still on their way: FIN first, then drop what is left.
    ::shutdown(fd_, SHUT_WR);
    for (int i = 0; i < kDrainReads; ++i) {
      if (net::recv_raw(fd_, ctx_.read_buffer, ctx_.read_buffer_size, 0) <= 0) break;
    }
  }
  close_socket(reason);
}

void TlsConnection::close_socket(CloseReason reason) {
  WorkerStats& stats = *ctx_.stats;
  stats.count_close(reason);
  stats.connection_duration.observe(std::chrono::microseconds((ctx_.now_ns - opened_ns_) / 1000));
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  ::close(fd_);
  fd_ = -1;
  owner_.release_tls(*this, reason);  // destroys this
}

void TlsConnection::close(CloseReason reason) {
  state_ = state_ == State::kEcho ? State::kClosing : state_;
  closing_reason_ = reason;
  shutdown_and_close(reason, false);
}

void TlsConnection::close_handshake_timeout() {
  ctx_.stats->tls_handshakes_timeout.add();
  close_socket(CloseReason::kIdleTimeout);
}

void TlsConnection::flush_and_close(CloseReason reason) {
  if (state_ == State::kEcho || state_ == State::kClosing) {
    if (fault_) [[unlikely]] {
      fault_->release_all();  // what a delay or bandwidth rule holds goes out now
      if (!fault_pump()) return;
    }
    if (pending_len_ > 0 && flush() == FlushResult::kClosed) return;
    state_ = State::kClosing;
    closing_reason_ = reason;
    shutdown_and_close(reason, false);
    return;
  }
  close_socket(reason);
}

}  // namespace echod
