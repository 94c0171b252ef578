#pragma once
// One connection on the TLS echo listener: the same echo as Connection, with OpenSSL in
// between, non-blocking inside the worker's event loop. Connection does not know it exists:
// the plain path pays nothing for TLS.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "connection.h"
#include "event_loop.h"
#include "worker_stats.h"

struct ssl_st;      // OpenSSL's SSL
struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace echod {

class TlsConnection;

/// What a TLS connection needs from its worker beyond ConnectionContext's buffer, counters,
/// settings and clock.
struct TlsConnectionOwner {
  /// The TLS connection closed its socket (for `reason`); the owner destroys it.
  virtual void release_tls(TlsConnection& c, CloseReason reason) = 0;
  /// It used its per-turn share of reads; call resume() at the next turn.
  virtual void defer_tls(TlsConnection& c) = 0;
  /// The context new handshakes use now (the latest certificate); null = none yet (the
  /// handshake fails).
  virtual ssl_ctx_st* tls_context() = 0;
  /// A faulted TLS connection wants on_fault_timer() at `when_ns` (or soon after).
  virtual void arm_tls_timer(TlsConnection& c, std::int64_t when_ns) = 0;

 protected:
  ~TlsConnectionOwner() = default;
};

/// One accepted TLS connection: wait for the ClientHello -> handshake -> read plaintext ->
/// echo it -> pending tail -> close_notify -> close. Lives on one worker thread.
///
/// Until the whole first TLS record (the ClientHello) sits in the kernel's receive buffer,
/// no SSL object exists: a connection that sends nothing, or half a ClientHello, holds this
/// object only (about 100 bytes), so slow or idle handshakes cannot grow echod. The socket is
/// registered edge-triggered for IN|OUT|RDHUP once; every event runs step(), which does what
/// the state allows until OpenSSL wants more input (WANT_READ) or output room (WANT_WRITE).
///
/// Backpressure counts plaintext: at most max-pending-bytes of read-but-unsent plaintext is
/// held, and SSL_read stops while any is pending.
class TlsConnection final : public Watcher {
 public:
  TlsConnection(ConnectionContext& ctx, TlsConnectionOwner& owner, int fd);
  /// A connection under a fault rule (chosen at accept), acting on the plaintext once the
  /// handshake is done; `fault` may not be null.
  TlsConnection(ConnectionContext& ctx, TlsConnectionOwner& owner, int fd,
                std::unique_ptr<FaultedIo> fault);
  ~TlsConnection();
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  void on_events(std::uint32_t events) override;
  /// Runs the state machine again after defer_tls().
  void resume() { step(0); }

  int fd() const { return fd_; }
  bool handshaking() const { return state_ != State::kEcho && state_ != State::kClosing; }
  std::int64_t opened_ns() const { return opened_ns_; }
  std::int64_t last_active_ns() const { return last_active_ns_; }
  std::size_t pending_bytes() const { return pending_len_; }
  std::uint64_t bytes_echoed() const { return bytes_read_; }
  bool faulted() const { return fault_ != nullptr; }
  std::uint64_t fault_serial() const { return fault_ ? fault_->serial : 0; }
  /// A timer armed through TlsConnectionOwner::arm_tls_timer fired (`when_ns` as armed).
  void on_fault_timer(std::int64_t when_ns);

  /// Closes now for a limit (idle, lifetime, handshake timeout), sending close_notify if the
  /// handshake was done; the owner releases (destroys) this connection.
  void close(CloseReason reason);
  /// The handshake did not finish in time: counted as a timeout, then closed.
  void close_handshake_timeout();
  /// Shutdown: one non-blocking attempt to send what is pending, close_notify, close.
  void flush_and_close(CloseReason reason);

  std::size_t index = 0;  // where in the owner's list this connection sits
  bool deferred = false;  // queued in the owner's deferred list

 private:
  enum class State {
    kAwaitHello,  // no SSL yet: waiting for the whole first record in the kernel buffer
    kHandshake,   // SSL_accept in progress
    kEcho,        // reading and echoing plaintext
    kClosing,     // peer closed (or a limit hit): pending flushed, then close_notify, close
  };

  // Does what the state allows; `events` as epoll reported them (0 after defer_tls()).
  void step(std::uint32_t events);
  enum class Hello { kIncomplete, kReady, kClosed };
  // kReady: the SSL exists and the handshake may start; kClosed: `this` is gone.
  Hello await_hello();
  bool handshake();  // true: done (and counted)
  void echo();
  enum class FlushResult { kDrained, kBlocked, kClosed };
  FlushResult flush();
  void stash(const char* data, std::size_t len);
  std::uint64_t read_allowance() const;
  // The peer said close_notify or sent FIN: echo what is pending, then close_notify.
  void finish(CloseReason reason);
  // An OpenSSL error other than WANT_*: closes (handshake failures are counted).
  void fail(int ssl_error);
  // Sends close_notify (after a finished handshake), then FIN, then closes the socket.
  // `may_wait`: a full send buffer waits for EPOLLOUT instead of dropping close_notify.
  void shutdown_and_close(CloseReason reason, bool may_wait);
  void close_socket(CloseReason reason);

  // The faulted echo (tls_connection_faulted.cpp): plaintext read into held chunks, sent
  // when due and as the fault's budget allows, ended by the fault's rule. Idempotent: every
  // event and timer just calls fault_echo() again.
  void fault_echo();
  bool fault_pump();  // false: the connection closed (and `this` is gone)
  void fault_end();
  void fault_discard_input();
  void fault_arm();

  ConnectionContext& ctx_;
  TlsConnectionOwner& owner_;
  int fd_;
  ssl_st* ssl_ = nullptr;
  State state_ = State::kAwaitHello;
  std::unique_ptr<char[]> pending_;  // null while nothing is pending
  std::uint32_t pending_off_ = 0;
  std::uint32_t pending_len_ = 0;
  std::uint64_t bytes_read_ = 0;
  std::int64_t opened_ns_;
  std::int64_t last_active_ns_;
  CloseReason closing_reason_ = CloseReason::kClient;
  std::unique_ptr<FaultedIo> fault_;  // null: no fault rule (the plain TLS echo)
  // SSL_write_ex that wanted to write must be retried with the same length: the pacing
  // budget may not shrink it in between.
  std::size_t fault_retry_len_ = 0;
  bool fault_closing_ = false;  // a close rule ended it: close_notify waits for EPOLLOUT
};

}  // namespace echod
