// The faulted echo of TlsConnection: the plain path's fault kinds (fault_*.h) acting on the
// plaintext stream, what the TLS client sees after decryption. Only connections given a
// fault rule at accept come here, once their handshake is done; the unfaulted TLS echo in
// tls_connection.cpp never does.
//
// As in connection_faulted.cpp: plaintext read is kept as chunks with a release time, sent
// in order once due and as fast as the fault's budget allows. The chunks hold at most
// max-pending-bytes: then SSL_read stops, so a peer that never reads cannot grow echod's
// memory with a delay rule, and backpressure reaches it through TCP.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "socket_ops.h"
#include "tls_connection.h"

namespace echod {
namespace {

// SSL_read calls per turn; a record is at most 16 KiB, so this is the unfaulted echo's
// share (kRecordsPerTurn in tls_connection.cpp).
constexpr int kFaultRecordsPerTurn = 64;
constexpr int kFaultDrainReads = 16;

bool ssl_wants_io(int err) { return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE; }

}  // namespace

void TlsConnection::on_fault_timer(std::int64_t when_ns) {
  if (when_ns >= fault_->timer_ns) fault_->timer_ns = kNever;
  if (fault_->stalled) return;
  step(0);  // before the handshake is done this only retries it
}

void TlsConnection::fault_echo() {
  FaultedIo& f = *fault_;
  if (f.stalled) return;  // a dead peer: nothing read, nothing written
  if (f.draining) {
    fault_discard_input();
    return;
  }
  Fault& fault = *f.fault;
  if (fault_closing_ || ctx_.now_ns >= fault.end_at_ns) {
    fault_end();
    return;
  }
  if (!fault_pump()) return;
  if (state_ == State::kClosing) {  // the peer ended (or a limit): echo what is held first
    if (f.held.empty()) {
      shutdown_and_close(closing_reason_, true);
    } else {
      fault_arm();
    }
    return;
  }
  const std::uint64_t cap = ctx_.settings->max_pending_bytes;
  int reads = 0;
  while (!f.peer_eof && f.echoed < fault.end_after_bytes) {
    const std::uint64_t want = f.read_room(read_allowance(), cap, bytes_read_);
    if (want == 0) break;
    if (reads++ == kFaultRecordsPerTurn) {
      owner_.defer_tls(*this);
      break;
    }
    std::size_t got = 0;  // the error queue is kept empty (top of tls_connection.cpp)
    const int r = SSL_read_ex(ssl_, ctx_.read_buffer, want, &got);
    if (r == 1) {
      bytes_read_ += got;
      last_active_ns_ = ctx_.now_ns;
      ctx_.stats->tls_received_bytes.add(got);
      f.hold(ctx_.read_buffer, got);
      if (!fault_pump()) return;
      continue;
    }
    const int err = SSL_get_error(ssl_, r);
    if (ssl_wants_io(err)) break;
    if (err == SSL_ERROR_ZERO_RETURN) {  // close_notify or FIN
      f.peer_eof = true;
      break;
    }
    fail(err);
    return;
  }
  switch (f.after_reads(read_allowance())) {
    case FaultedIo::Next::kFaultEnds:
      fault_end();
      return;
    case FaultedIo::Next::kPeerDone:
      finish(CloseReason::kClient);  // everything read was echoed
      return;
    case FaultedIo::Next::kByteLimit:
      finish(CloseReason::kByteLimit);
      return;
    case FaultedIo::Next::kWait:
      fault_arm();
  }
}

bool TlsConnection::fault_pump() {
  FaultedIo& f = *fault_;
  while (!f.held.empty()) {
    FaultedIo::Chunk& c = f.held.front();
    if (c.release_ns > ctx_.now_ns) return true;  // fault_arm() wakes us then
    std::size_t len = fault_retry_len_;
    if (len == 0) {
      std::int64_t retry_ns = kNever;
      len = f.send_budget(c.bytes.size() - c.off, ctx_.now_ns, &retry_ns);
      if (len == 0) {
        c.release_ns = retry_ns;  // later chunks are behind this one anyway
        return true;
      }
    }
    std::size_t wrote = 0;
    const int w = SSL_write_ex(ssl_, c.bytes.data() + c.off, len, &wrote);
    if (w == 1) {
      fault_retry_len_ = 0;
      ctx_.stats->tls_sent_bytes.add(wrote);
      f.sent(wrote);  // `c` may be gone
      last_active_ns_ = ctx_.now_ns;
      continue;
    }
    const int err = SSL_get_error(ssl_, w);
    if (ssl_wants_io(err)) {
      fault_retry_len_ = len;  // the peer is not reading: EPOLLOUT brings us back
      return true;
    }
    fail(err);
    return false;
  }
  return true;
}

void TlsConnection::fault_end() {
  FaultedIo& f = *fault_;
  if (!fault_closing_) ctx_.stats->count_fault(f.fault->action);
  switch (f.fault->ending) {
    case FaultEnding::kReset: {
      linger lg{1, 0};  // close() now sends RST, and no close_notify precedes it
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      close_socket(CloseReason::kFault);
      return;
    }
    case FaultEnding::kStall:
      f.stalled = true;  // idle-timeout (the sweep) ends it; it still counts as open
      f.held.clear();
      f.held_bytes = 0;
      return;
    case FaultEnding::kClose:
    case FaultEnding::kNone:
      break;
  }
  // close: close_notify, then FIN; what is not echoed by then (`after`) never will be.
  f.held.clear();
  f.held_bytes = 0;
  fault_closing_ = true;
  ERR_clear_error();
  const int r = SSL_shutdown(ssl_);
  if (r < 0 && SSL_get_error(ssl_, r) == SSL_ERROR_WANT_WRITE) {
    return;  // the send buffer is full: EPOLLOUT runs fault_echo() -> here again
  }
  ERR_clear_error();
  ::shutdown(fd_, SHUT_WR);
  f.draining = true;
  f.drain_until_ns = ctx_.now_ns + kFaultDrainAfterFinNs;
  fault_discard_input();
}

// After our close_notify and FIN: the peer's records (its close_notify among them) are read
// raw and dropped until its FIN, so the close never turns into an RST.
void TlsConnection::fault_discard_input() {
  FaultedIo& f = *fault_;
  for (int i = 0; i < kFaultDrainReads; ++i) {
    const ssize_t n = net::recv_raw(fd_, ctx_.read_buffer, ctx_.read_buffer_size, 0);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    close_socket(CloseReason::kFault);  // the peer's FIN (or error) after ours: a clean end
    return;
  }
  if (ctx_.now_ns >= f.drain_until_ns) {
    close_socket(CloseReason::kFault);
    return;
  }
  fault_arm();
}

void TlsConnection::fault_arm() {
  const std::int64_t when = fault_->timer_to_arm(ctx_.now_ns);
  if (when != kNever) owner_.arm_tls_timer(*this, when);
}

}  // namespace echod
