// The faulted echo path of Connection (issue 13). Only connections given a fault rule at
// accept come here; the plain path in connection.cpp never does.
//
// Bytes read are kept as chunks with a release time (the fault decides it), sent in order
// once due and as fast as the fault's budget allows. The chunks hold at most
// max-pending-bytes: then reading stops, so a peer that never reads cannot grow echod's
// memory with a delay rule, and backpressure reaches it through TCP as on the plain path.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "connection.h"
#include "socket_ops.h"

namespace echod {

bool is_peer_gone(int err);

namespace {

constexpr int kFaultReadsPerTurn = 16;

}  // namespace

Connection::Connection(ConnectionContext& ctx, int fd, std::unique_ptr<FaultedIo> fault)
    : Connection(ctx, fd) {
  fault_ = std::move(fault);
  fault_->watcher.connection = this;
}

void FaultWatcher::on_events(std::uint32_t events) { connection->fault_events(events); }

void Connection::fault_events(std::uint32_t events) {
  if (fault_->stalled) return;  // a dead peer: nothing read, nothing written
  if (events & EPOLLERR) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    close(is_peer_gone(err) || err == 0 ? CloseReason::kClient : CloseReason::kError);
    return;
  }
  fault_step();
}

void Connection::on_fault_timer(std::int64_t when_ns) {
  if (when_ns >= fault_->timer_ns) fault_->timer_ns = kNever;
  if (fault_->stalled) return;
  fault_step();
}

void Connection::fault_discard_input() {
  FaultedIo& f = *fault_;
  for (int i = 0; i < kFaultReadsPerTurn; ++i) {
    const ssize_t n = net::recv_raw(fd_, ctx_.read_buffer, ctx_.read_buffer_size, 0);
    if (n > 0) {
      ctx_.stats->tcp_received_bytes.add(static_cast<std::uint64_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    close(CloseReason::kFault);  // the peer's FIN (or error) after ours: a clean end
    return;
  }
  if (ctx_.now_ns >= f.drain_until_ns) {
    close(CloseReason::kFault);
    return;
  }
  fault_arm();
}

bool Connection::fault_pump() {
  FaultedIo& f = *fault_;
  while (!f.held.empty()) {
    FaultedIo::Chunk& c = f.held.front();
    if (c.release_ns > ctx_.now_ns) return true;  // fault_arm() wakes us then
    const std::size_t want = c.bytes.size() - c.off;
    std::int64_t retry_ns = kNever;
    const std::size_t budget = f.send_budget(want, ctx_.now_ns, &retry_ns);
    if (budget == 0) {
      c.release_ns = retry_ns;  // later chunks are behind this one anyway
      return true;
    }
    const ssize_t w =
        net::send_raw(fd_, c.bytes.data() + c.off, budget, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      const auto n = static_cast<std::size_t>(w);
      ctx_.stats->tcp_sent_bytes.add(n);
      f.sent(n);  // `c` may be gone
      last_active_ns_ = ctx_.now_ns;
      if (n < budget) return true;  // the kernel is full: EPOLLOUT brings us back
      continue;
    }
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    close(w < 0 && !is_peer_gone(errno) ? CloseReason::kError : CloseReason::kClient);
    return false;
  }
  return true;
}

void Connection::fault_end() {
  FaultedIo& f = *fault_;
  ctx_.stats->count_fault(f.fault->action);
  switch (f.fault->ending) {
    case FaultEnding::kReset: {
      linger lg{1, 0};  // close() now sends RST
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      close(CloseReason::kFault);
      return;
    }
    case FaultEnding::kStall:
      f.stalled = true;  // idle-timeout (the sweep) ends it; it still counts as open
      f.held.clear();
      f.held_bytes = 0;
      return;
    case FaultEnding::kClose:
    case FaultEnding::kNone:
      f.held.clear();  // `after`: what is not echoed by then never will be
      f.held_bytes = 0;
      ::shutdown(fd_, SHUT_WR);
      f.draining = true;
      f.drain_until_ns = ctx_.now_ns + kFaultDrainAfterFinNs;
      fault_discard_input();
      return;
  }
}

void Connection::fault_step() {
  FaultedIo& f = *fault_;
  if (f.stalled) return;
  if (f.draining) {
    fault_discard_input();
    return;
  }
  Fault& fault = *f.fault;
  if (ctx_.now_ns >= fault.end_at_ns) {
    fault_end();
    return;
  }
  if (!fault_pump()) return;
  const std::uint64_t cap = ctx_.settings->max_pending_bytes;
  int reads = 0;
  while (!f.peer_eof && f.echoed < fault.end_after_bytes) {
    const std::uint64_t want = f.read_room(read_allowance(), cap, bytes_read_);
    if (want == 0) break;
    if (reads++ == kFaultReadsPerTurn) {
      ctx_.defer(*this);
      break;
    }
    const ssize_t n = net::recv_raw(fd_, ctx_.read_buffer, want, 0);
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      bytes_read_ += got;
      last_active_ns_ = ctx_.now_ns;
      ctx_.stats->tcp_received_bytes.add(got);
      f.hold(ctx_.read_buffer, got);
      if (!fault_pump()) return;
      continue;
    }
    if (n == 0) {
      f.peer_eof = true;
      break;
    }
    if (errno == EAGAIN || errno == EINTR) break;
    close(is_peer_gone(errno) ? CloseReason::kClient : CloseReason::kError);
    return;
  }
  switch (f.after_reads(read_allowance())) {
    case FaultedIo::Next::kFaultEnds:
      fault_end();
      return;
    case FaultedIo::Next::kPeerDone:
      close(CloseReason::kClient);  // everything read was echoed
      return;
    case FaultedIo::Next::kByteLimit:
      close(CloseReason::kByteLimit);
      return;
    case FaultedIo::Next::kWait:
      fault_arm();
  }
}

void Connection::fault_arm() {
  const std::int64_t when = fault_->timer_to_arm(ctx_.now_ns);
  if (when != kNever) ctx_.arm_timer(*this, when);
}

}  // namespace echod
