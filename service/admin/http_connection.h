#pragma once
// One admin connection: read a request whole, have it answered, write the answer, repeat.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "event_loop.h"
#include "http_front.h"
#include "socket_ops.h"
#include "unique_fd.h"

namespace echod {

class HttpConnection;

/// What a connection asks of the front that owns it. Called on the loop thread.
class HttpConnectionOwner {
 public:
  /// A complete request is ready; the connection has already left the loop's epoll set, so
  /// the owner may answer it here or move it to another thread.
  virtual void request_ready(HttpConnection& c) = 0;
  /// The connection is done (peer gone, error, deadline, or closed after its answer): the
  /// owner destroys it, which closes the socket, after the current loop turn (the
  /// connection may still be on the stack).
  virtual void finished(HttpConnection& c) = 0;

 protected:
  ~HttpConnectionOwner() = default;
};

/// An accepted admin connection and its buffers. It has exactly one owner at a time, which
/// holds it by unique_ptr: the front's loop thread while it is read or written (then it is
/// watched by that loop), or one general thread while that thread computes its answer (then
/// it is in no epoll set, and serve() touches only its buffers, never the socket).
///
/// States: reading (watched for input until a whole request is buffered) -> answering (not
/// watched) -> writing (watched for output until the answer is sent) -> reading again, or
/// finished. Pipelined requests wait in the buffer and are served in order.
class HttpConnection final : public Watcher {
 public:
  using Clock = std::chrono::steady_clock;

  HttpConnection(UniqueFd fd, net::PeerAddress peer, const HttpFrontLimits& limits,
                 HttpConnectionOwner& owner, EventLoop& loop);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // --- loop thread ---
  /// Right after accept: reads what came with the handshake at once, so a complete request
  /// is never left unread (and so never evicted as an idle client) while more are accepted.
  void start();
  /// Resumes reading after an answer; serves a request already buffered.
  void read_next();
  void on_events(std::uint32_t events) override;
  /// Writes the answer that serve() computed, then reads the next request or finishes.
  void write_answer();
  /// Tells a client whose whole answer cannot be computed now why (then finishes).
  void refuse(int status, const std::string& why);
  /// Past its deadline: a partial request gets a 408; anything else just closes.
  /// Only a connection waiting on its client can expire; one being answered cannot.
  bool expired(Clock::time_point now) const {
    return (state_ == State::kReading || state_ == State::kWriting) && now >= deadline_;
  }
  void expire();
  /// Waiting for (the rest of) a request: the state in which an idle client may be evicted.
  bool reading() const { return state_ == State::kReading; }
  /// When this connection last started waiting for its client (for evicting the oldest).
  Clock::time_point waiting_since() const { return waiting_since_; }
  /// The path of the complete request (valid in request_ready()).
  const std::string& path() const { return path_; }

  // --- whichever thread owns it ---
  /// Computes the answer to the buffered request with `handler`; `stopping` forces the
  /// answer to close the connection.
  void serve(const HttpHandler& handler, bool stopping);

 private:
  enum class State { kReading, kAnswering, kWriting, kDone };

  void watch(std::uint32_t events);
  void unwatch();
  void read_available();
  void advance();
  void flush();
  void answered();
  void finish();
  void send_best_effort(const std::string& bytes);

  UniqueFd fd_;
  net::PeerAddress peer_;
  const HttpFrontLimits& limits_;
  HttpConnectionOwner& owner_;
  EventLoop& loop_;
  State state_ = State::kReading;
  bool watched_ = false;
  std::string in_;              // bytes read, not yet answered (may hold pipelined requests)
  std::size_t request_len_ = 0;  // while answering: bytes of in_ that make the request
  std::string path_;
  bool client_asked_close_ = false;
  bool peer_closed_ = false;  // FIN seen: answer what is complete, then close
  bool continue_sent_ = false;
  std::string out_;  // the answer being written
  std::size_t out_sent_ = 0;
  bool close_after_answer_ = false;
  std::size_t served_ = 0;
  Clock::time_point deadline_;
  Clock::time_point waiting_since_;
};

}  // namespace echod
