#pragma once
// The admin port's transport: accept, read each HTTP request whole, hand it to a handler,
// write the answer back. Knows HTTP framing only; what a request means is the handler's
// business (admin_server.cpp hands it to cpp-httplib's router).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"

namespace echod {

/// Bounds that keep slow or hostile admin clients from holding threads, memory or the
/// kubelet's probes hostage. Defaults suit an admin port: few, small requests.
struct HttpFrontLimits {
  std::size_t max_connections = 256;       // connections held; beyond, the oldest idle is closed
  std::size_t max_head_bytes = 8192;       // request line + headers (431 beyond)
  std::size_t max_body_bytes = 64 * 1024;  // Content-Length (413 beyond)
  std::chrono::milliseconds first_request_timeout{3000};  // whole first request after accept
  std::chrono::milliseconds keep_alive_timeout{5000};     // whole next request, kept connection
  std::chrono::milliseconds write_timeout{2000};          // whole answer
  std::size_t max_requests_per_connection = 1000;
  std::size_t general_threads = 2;  // threads answering everything but the probe paths
  std::size_t queue_max = 64;       // requests waiting for those threads; beyond, 503 at once
};

/// One complete request (head and Content-Length body), as bytes. Holds no descriptor.
struct HttpRequest {
  std::string_view bytes;
  bool last = false;  // the answer must close the connection (limit reached or stopping)
  std::string remote_ip;
  int remote_port = 0;
};

/// The whole answer, and whether the connection stays open for the next request.
struct HttpAnswer {
  std::string bytes;
  bool keep_alive = false;
};

/// Answers one request. Runs on the front's loop thread for the probe paths and on a
/// general thread for the rest, so it must be thread-safe; it never sees a socket.
using HttpHandler = std::function<HttpAnswer(const HttpRequest&)>;

/// An HTTP/1.1 listener on the project's own EventLoop. One loop thread owns the listener
/// and every connection while it is read or written; a slow client costs a bounded buffer,
/// never a thread. A complete request for a probe path (/livez, /readyz) is answered on the
/// loop thread at once, so nothing can queue in front of the kubelet. Any other request
/// moves, connection and all (an owning pointer), to a bounded pool of general threads that
/// compute the answer without touching the socket, then moves back to the loop to be
/// written. The front answers framing errors itself (400, 408, 411, 413, 431, and 503 when
/// the pool's queue is full).
/// bind() -> start() -> stop(), from one controlling thread.
class HttpFront {
 public:
  HttpFront(HttpFrontLimits limits, std::vector<std::string> priority_paths, HttpHandler handler);
  ~HttpFront();
  HttpFront(const HttpFront&) = delete;
  HttpFront& operator=(const HttpFront&) = delete;

  /// Listens on `at` (empty host: every interface, dual-stack where possible; port 0:
  /// ephemeral). Returns an error text, or nullopt on success.
  std::optional<std::string> bind(const Endpoint& at);
  /// "127.0.0.1:8080", "[::]:8080".
  std::string bound_address() const;
  std::uint16_t port() const;
  void start();
  /// Stops accepting, closes every connection, joins the threads. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace echod
