#pragma once
// The admin port's transport: accept, read each HTTP request whole without a thread, then
// answer it on a small fixed pool. Knows HTTP framing only; what a request means is the
// handler's business (admin_server.cpp hands it to cpp-httplib's router).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace echod {

/// Bounds that keep slow or hostile admin clients from holding threads, memory or the
/// kubelet's probes hostage. Defaults suit an admin port: few, small requests.
struct HttpFrontLimits {
  std::size_t max_connections = 256;       // connections being read; beyond, the oldest is closed
  std::size_t max_head_bytes = 8192;       // request line + headers (431 beyond)
  std::size_t max_body_bytes = 64 * 1024;  // Content-Length (413 beyond)
  std::chrono::milliseconds first_request_timeout{3000};  // whole first request after accept
  std::chrono::milliseconds keep_alive_timeout{5000};     // whole next request, kept connection
  std::chrono::milliseconds write_timeout{2000};          // whole answer
  std::size_t max_requests_per_connection = 1000;
  std::size_t general_threads = 2;            // lane for everything but the probe paths
  std::size_t priority_threads = 1;           // lane for /livez, /healthz, /readyz
  std::size_t queue_max = 64;                 // requests waiting per lane; beyond, 503 at once
  std::size_t max_unsent_bytes = 256 * 1024;  // answers the client does not read: close
};

/// One complete request (head and Content-Length body) and the way to answer it.
/// Used by one lane thread at a time.
class HttpExchange {
 public:
  HttpExchange(int fd, std::string_view request, bool last, std::string remote_ip, int remote_port,
               std::chrono::steady_clock::time_point write_deadline)
      : fd_(fd),
        request_(request),
        last_(last),
        remote_ip_(std::move(remote_ip)),
        remote_port_(remote_port),
        write_deadline_(write_deadline) {}

  std::string_view request() const { return request_; }
  /// The answer must close the connection (limit reached or server stopping).
  bool last() const { return last_; }
  int fd() const { return fd_; }
  const std::string& remote_ip() const { return remote_ip_; }
  int remote_port() const { return remote_port_; }
  /// Sends all of `data` before the write deadline; false if the peer is gone or too slow.
  bool write(const char* data, std::size_t size);
  bool failed() const { return failed_; }

 private:
  int fd_;
  std::string_view request_;
  bool last_;
  std::string remote_ip_;
  int remote_port_;
  std::chrono::steady_clock::time_point write_deadline_;
  bool failed_ = false;
};

/// Answers one request; returns true to keep the connection open for the next one.
using HttpHandler = std::function<bool(HttpExchange&)>;

/// An HTTP/1.1 listener whose single I/O thread (epoll) accepts connections and reads each
/// request until it is complete, so a slow client costs a bounded buffer, never a thread.
/// Complete requests go to fixed-size lanes of worker threads; the probe paths have a lane
/// of their own, so no scrape or hostile client can queue in front of the kubelet. The
/// front answers framing errors itself (400, 408, 411, 413, 431, 503 when a lane is full).
/// bind() -> start() -> stop(), from one controlling thread; the handler runs on lanes.
class HttpFront {
 public:
  HttpFront(HttpFrontLimits limits, std::vector<std::string> priority_paths, HttpHandler handler);
  ~HttpFront();
  HttpFront(const HttpFront&) = delete;
  HttpFront& operator=(const HttpFront&) = delete;

  /// Listens on host:port (empty host: every interface, dual-stack where possible; port 0:
  /// ephemeral). Returns an error text, or nullopt on success.
  std::optional<std::string> bind(const std::string& host, std::uint16_t port);
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
