#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "config.h"
#include "event_loop.h"
#include "fault.h"
#include "worker_stats.h"

namespace echod {

class Connection;

/// What a connection needs from the worker that owns it. One per worker; the worker keeps
/// `now_ns` and `settings` current at each loop turn.
struct ConnectionContext {
  /// The worker's read buffer, shared by its connections: an idle connection owns none.
  char* read_buffer = nullptr;
  std::size_t read_buffer_size = 0;
  WorkerStats* stats = nullptr;
  const RuntimeSettings* settings = nullptr;
  std::int64_t now_ns = 0;

  /// Called once a connection closed its socket (for `reason`); the owner drops it.
  virtual void release(Connection& c, CloseReason reason) = 0;
  /// The connection used its per-turn share and must be resumed at the next turn.
  virtual void defer(Connection& c) = 0;
  /// A faulted connection wants on_fault_timer() at `when_ns` (or soon after).
  virtual void arm_timer(Connection& c, std::int64_t when_ns) = 0;

 protected:
  ~ConnectionContext() = default;
};

/// One accepted TCP connection: read -> echo -> pending tail -> close. Lives on one worker
/// thread and is only touched there.
///
/// Echo path: bytes are read into the worker's shared buffer and written straight back; only
/// the tail the kernel did not take is copied into a per-connection pending buffer (at most
/// max-pending-bytes, since reads are capped to that), and reading pauses until it drains.
/// The socket is registered edge-triggered for IN|OUT|RDHUP once and never modified.
class Connection final : public Watcher {
 public:
  Connection(ConnectionContext& ctx, int fd);
  /// A connection under a fault rule (chosen at accept); `fault` may not be null.
  Connection(ConnectionContext& ctx, int fd, std::unique_ptr<FaultedIo> fault);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }
  std::int64_t opened_ns() const { return opened_ns_; }
  std::int64_t last_active_ns() const { return last_active_ns_; }
  std::size_t pending_bytes() const { return pending_len_; }
  std::uint64_t bytes_echoed() const { return bytes_read_; }

  /// What the loop registers for this connection: itself, or for a faulted one its
  /// FaultWatcher, which takes the events to the faulted path.
  Watcher* watcher() { return fault_ ? static_cast<Watcher*>(&fault_->watcher) : this; }
  /// The plain echo only: a faulted connection's events go to its FaultWatcher.
  void on_events(std::uint32_t events) override;
  /// Resumes reading after defer(), unless an event since then left bytes pending (those
  /// must reach the peer before anything read later).
  void resume() {
    if (fault_) [[unlikely]] {
      fault_step();
      return;
    }
    if (pending_len_ == 0) read_and_echo(false);
  }
  bool faulted() const { return fault_ != nullptr; }
  std::uint64_t fault_serial() const { return fault_ ? fault_->serial : 0; }
  /// A timer armed through ConnectionContext::arm_timer fired (`when_ns` as armed).
  void on_fault_timer(std::int64_t when_ns);
  /// Closes now, counting `reason`; the context releases (destroys) this connection.
  void close(CloseReason reason);
  /// Shutdown: one last non-blocking attempt to send what is pending, then close.
  void flush_and_close(CloseReason reason);

  /// Where in the owner's list this connection sits (owner bookkeeping, O(1) removal).
  std::size_t index = 0;
  /// True while queued in the owner's deferred list.
  bool deferred = false;

 private:
  friend class FaultWatcher;
  // The faulted path (connection_faulted.cpp): read into held chunks, send what is due,
  // end by the fault's rule. Idempotent: every event and timer just calls it again.
  void fault_events(std::uint32_t events);
  void fault_step();
  void fault_discard_input();
  bool fault_pump();  // false: the connection closed (and `this` is gone)
  void fault_end();
  void fault_arm();

  // Reads and echoes until the socket is drained, the turn's budget is used, or the peer
  // stops reading. `hangup`: the peer's FIN may be queued, so read on to EOF or EAGAIN.
  void read_and_echo(bool hangup);
  enum class FlushResult { kDrained, kBlocked, kClosed };
  // Sends pending bytes. kClosed: the peer is gone and this connection was released.
  FlushResult flush();
  void stash(const char* data, std::size_t len);
  // After pending drained: resume reading (which also finds a FIN or the byte cap).
  void after_drained();
  std::uint64_t read_allowance() const;

  ConnectionContext& ctx_;
  int fd_;
  std::unique_ptr<char[]> pending_;  // null while nothing is pending
  std::uint32_t pending_off_ = 0;
  std::uint32_t pending_len_ = 0;
  std::uint64_t bytes_read_ = 0;
  std::int64_t opened_ns_;
  std::int64_t last_active_ns_;
  std::unique_ptr<FaultedIo> fault_;  // null: no fault rule (the plain path)
};

}  // namespace echod
