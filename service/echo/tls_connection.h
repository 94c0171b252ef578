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
};

}  // namespace echod
